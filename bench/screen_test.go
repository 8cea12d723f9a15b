//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jezek/xgb"

	"github.com/tetherdesk/tether/agent/capture"
	"github.com/tetherdesk/tether/agent/encode"
	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Knobs of the screen-share benchmark.
var (
	// TETHER_BENCH_SCREEN_SESSIONS: sessions timed from POST to first frame.
	screenSessions = max(1, envInt("TETHER_BENCH_SCREEN_SESSIONS", 5))
	// TETHER_BENCH_SCREEN_WINDOW: the measurement window of a workload.
	screenWindow = envDuration("TETHER_BENCH_SCREEN_WINDOW", 15*time.Second)
	// TETHER_BENCH_SCREEN_LINES: lines per second the terminal scrolls.
	screenLines = max(1, envInt("TETHER_BENCH_SCREEN_LINES", 30))
)

const (
	screenW, screenH = 1920, 1080
	screenWarmup     = 3 * time.Second  // workload running before the window opens
	firstFrameLimit  = 60 * time.Second // bound on POST → first frame; times nothing
	endLimit         = 20 * time.Second // bound on POST end → helper ended
	drainLimit       = 90 * time.Second // bound on the viewer catching up after a window
	stageFrames      = 45               // frames of the in-process capture/encode timing
	techName         = "bench-tech"
	techPassword     = "correct horse battery staple bench"
)

// screenResult is everything BenchmarkScreenShare measured; written to
// out/screen.json.
type screenResult struct {
	Started     string  `json:"started"`
	WallSeconds float64 `json:"wall_seconds"`
	Display     string  `json:"display"` // Xvfb geometry
	Browser     string  `json:"browser"`
	Cores       int     `json:"cores"`
	LoadAvg     string  `json:"loadavg_at_start"`
	ServerLog   string  `json:"server_log"`
	AgentLog    string  `json:"agent_log"` // service and session helper, JSON lines

	// Sessions are the runs timed from POST /api/v1/sessions to the first
	// complete frame on the canvas, in order (the first is a cold start
	// of the helper's capture path).
	Sessions     []sessionTiming `json:"first_frame_sessions"`
	FirstFrameMS summary         `json:"first_frame_ms"` // over Sessions' FirstFrameMS

	Windows []*windowResult `json:"windows"`
	Stages  *stageResult    `json:"pipeline_stages,omitempty"`

	ServerLogFindings logFindings    `json:"server_log_findings"`
	AgentLogLevels    map[string]int `json:"agent_log_levels"`
	AgentWarnings     []string       `json:"agent_warn_error_samples,omitempty"`
	Problems          []string       `json:"problems,omitempty"`
	Warnings          []string       `json:"warnings,omitempty"`
}

// sessionTiming is one session's start, in ms since just before the POST
// was sent (Go's clock; page times are the page's wall clock, on the same
// machine).
type sessionTiming struct {
	SessionID string  `json:"session_id"`
	PostMS    float64 `json:"post_answered_ms"`
	// HandedMS: the agent service logged that it passed screenshare.start
	// to the session helper (log stamps have ms resolution).
	HandedMS float64 `json:"handed_to_helper_ms"`
	// PageMS: the viewer document was created (probe ran), after the POST
	// answer (the benchmark then navigates, as the console opens the tab).
	PageMS         float64 `json:"viewer_page_ms"`
	ConnectedMS    float64 `json:"peer_connected_ms"`
	FirstMessageMS float64 `json:"first_screen_message_ms"`
	// FirstFrameMS is the figure: the viewer finished drawing the first
	// frame (all its tiles on the canvas), page clock.
	FirstFrameMS float64 `json:"first_frame_ms"`
	// PolledMS: when the benchmark's 10 ms polling loop saw it (an upper
	// bound on FirstFrameMS, Go clock).
	PolledMS        float64 `json:"first_frame_polled_ms"`
	FirstFrameBytes int64   `json:"first_frame_bytes"` // screen payload up to the first frame
	FirstFrameMsgs  int     `json:"first_frame_messages"`
	// EndMS: POST .../end until the agent logged the helper's session ended.
	EndMS float64 `json:"end_to_helper_ended_ms"`
}

type summary struct {
	N      int     `json:"n"`
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

func summarize(v []float64) summary {
	if len(v) == 0 {
		return summary{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return summary{N: len(s), Min: round1(s[0]), Median: round1(med), Max: round1(s[len(s)-1])}
}

// windowResult is one workload measured over a window with a live session.
type windowResult struct {
	Workload      string        `json:"workload"`
	SessionID     string        `json:"session_id"`
	WarmupSeconds float64       `json:"warmup_seconds"`
	Seconds       float64       `json:"window_seconds"` // benchmark clock
	Work          workloadStats `json:"workload_done"`  // warm-up and window together
	WorkPerSec    float64       `json:"workload_units_per_second"`

	// Frames the viewer finished drawing inside the window (page clock).
	Frames      int     `json:"frames"`
	FPS         float64 `json:"frames_per_second"`
	FrameGapP50 float64 `json:"frame_gap_p50_ms"`
	FrameGapP95 float64 `json:"frame_gap_p95_ms"`
	FrameGapMax float64 `json:"frame_gap_max_ms"`
	// Screen channel messages and payload bytes the page handled inside
	// the window (probe, 100 ms buckets).
	ScreenMsgs    int64   `json:"screen_messages"`
	PayloadBytes  int64   `json:"screen_payload_bytes"`
	PayloadBPS    float64 `json:"screen_payload_bytes_per_second"`
	BytesPerFrame float64 `json:"payload_bytes_per_frame"`
	// LoopbackBPS: bytes sent on the loopback interface in the window
	// (/proc/net/dev, IP level, all loopback traffic: the media stream
	// dominates; the agent's poll and the server's logs are tiny).
	LoopbackBPS float64 `json:"loopback_bytes_per_second"`
	// UDPOutPerSec: /proc/net/snmp OutDatagrams, machine-wide. Unreliable
	// as a media figure (it varied from 9/s to 3,600/s between runs with
	// the same byte rate), kept for reference only.
	UDPOutPerSec float64 `json:"udp_datagrams_per_second"`
	// DrainMS: from the workload's stop to the last frame the viewer drew
	// (the viewer's backlog when the window closed, plus one capture).
	DrainMS         float64 `json:"viewer_drain_ms"`
	DrainIncomplete bool    `json:"viewer_drain_incomplete,omitempty"`
	// Session totals after the drain: the probe's count of what the page
	// handled, and getStats() "data-channel" for the screen channel.
	TotalPayload int64  `json:"session_payload_bytes"`
	TotalDCBytes int64  `json:"session_datachannel_stats_bytes"`
	TotalMsgs    int64  `json:"session_messages"`
	TotalDCMsgs  int64  `json:"session_datachannel_stats_messages"`
	Candidate    string `json:"local_candidate_type"`
	ViewerErrors int    `json:"viewer_decode_errors"`

	// SentFPS estimates the frames the agent sent per second while the
	// workload ran: all frames of the session drawn by the end of the
	// drain, but the first, over the workload's duration.
	SentFPS float64 `json:"agent_frames_per_second_estimate"`

	CPU cpuWindow `json:"cpu"`
	// BrowserThreads are Chromium's busiest threads in the window, by
	// process type and thread name.
	BrowserThreads []threadShare `json:"browser_threads"`
	// AgentCPU is the service and its session helper (with anything the
	// helper started) together, % of one core.
	AgentCPU      float64 `json:"agent_cpu_percent"`
	HelperPID     int     `json:"helper_pid"`
	HelperRSSPeak int64   `json:"helper_rss_peak_bytes"` // VmHWM, reset at the window start
	HelperRSSMax  int64   `json:"helper_rss_sampled_max_bytes"`
	HelperRSSEnd  int64   `json:"helper_rss_end_bytes"`
	AgentRSSEnd   int64   `json:"agent_service_rss_end_bytes"`
	PeakReset     bool    `json:"helper_peak_reset"` // false: the peak covers the helper's whole life
}

// stageResult times the agent's own capture and encode code in this
// process, on the same display and workload, paced like the helper.
type stageResult struct {
	Source          string  `json:"source"`
	Frames          int     `json:"frames"`
	IntervalMS      float64 `json:"interval_ms"`
	FullCaptureMS   float64 `json:"full_frame_capture_ms"`
	FullEncodeMS    float64 `json:"full_frame_encode_ms"`
	FullBytes       int     `json:"full_frame_bytes"`
	CaptureP50MS    float64 `json:"capture_p50_ms"`
	CaptureP95MS    float64 `json:"capture_p95_ms"`
	EncodeP50MS     float64 `json:"encode_p50_ms"` // tile diff + encode
	EncodeP95MS     float64 `json:"encode_p95_ms"`
	ChangedFrames   int     `json:"changed_frames"`
	BytesPerFrame   float64 `json:"bytes_per_changed_frame"`
	MsgsPerFrame    float64 `json:"messages_per_changed_frame"`
	MaxFPSFromStage float64 `json:"max_fps_serial"` // 1000 / (capture p50 + encode p50)
	CPUPercent      float64 `json:"bench_cpu_percent"`
}

// BenchmarkScreenShare measures screen sharing end to end on an Xvfb
// display at 1920x1080: time from POST /api/v1/sessions to the first frame
// on the real viewer page in headless Chromium, then frames/s, bytes/s and
// agent CPU while a terminal scrolls text. One iteration is the whole
// scenario; b.N is ignored.
func BenchmarkScreenShare(b *testing.B) {
	if miss := missingTools(); len(miss) > 0 {
		b.Skipf("screen benchmark needs %s (make test's scripts/deps.sh test installs them)", strings.Join(miss, ", "))
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	r := &screenResult{}
	err := runScreen(ctx, b, r)
	printScreenTable(os.Stdout, r)
	if werr := writeScreenJSON(filepath.Join(outDir, "screen.json"), r); werr != nil {
		b.Error(werr)
	}
	for _, p := range r.Problems {
		b.Log("problem: " + p)
	}
	for _, w := range r.Warnings {
		b.Log("warning: " + w)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(r.FirstFrameMS.Median, "first-frame-p50-ms")
	b.ReportMetric(r.FirstFrameMS.Max, "first-frame-max-ms")
	if len(r.Windows) > 0 {
		w := r.Windows[0]
		b.ReportMetric(w.FPS, "frames/s")
		b.ReportMetric(w.SentFPS, "sent-frames/s")
		b.ReportMetric(w.PayloadBPS/1024, "payload-KiB/s")
		b.ReportMetric(w.LoopbackBPS/1024, "wire-KiB/s")
		b.ReportMetric(w.DrainMS, "viewer-lag-ms")
		b.ReportMetric(w.AgentCPU, "agent-cpu-%")
		b.ReportMetric(float64(w.HelperRSSPeak)/(1<<20), "helper-peak-MiB")
	}
	if r.Stages != nil {
		b.ReportMetric(r.Stages.CaptureP50MS, "capture-ms")
		b.ReportMetric(r.Stages.EncodeP50MS, "encode-ms")
	}
	if len(r.Problems) > 0 {
		b.Errorf("%d problem(s) observed; see above and %s", len(r.Problems), filepath.Join("bench", outDir, "screen.json"))
	}
}

// screenEnv is one display with the terminal on it, a server, an agent
// and a browser signed in as the technician.
type screenEnv struct {
	display   string
	xvfb      *testenv.Proc
	term      *terminal
	srv       *serverProc
	agent     *agentProc
	helperPID int
	br        *browserProc
	tech      *userClient
	ep        protocol.Endpoint
	closers   []func()
}

func (e *screenEnv) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

func runScreen(ctx context.Context, b *testing.B, r *screenResult) (err error) {
	began := time.Now()
	r.Started = began.UTC().Format(time.RFC3339)
	r.Display = fmt.Sprintf("%dx%dx24", screenW, screenH)
	r.Cores = runtime.NumCPU()
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		r.LoadAvg = strings.TrimSpace(string(l))
	}
	defer func() { r.WallSeconds = round1(time.Since(began).Seconds()) }()
	problem := func(format string, args ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, args...)) }
	warn := func(format string, args ...any) { r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...)) }

	e := &screenEnv{}
	defer e.close()
	if err := setupScreen(ctx, b, e, r); err != nil {
		return err
	}
	defer func() { scanScreenLogs(r, warn) }()

	// 1. POST → first frame, N fresh sessions one after the other, on a
	// still screen full of text.
	logf("screen: timing %d sessions from POST /api/v1/sessions to the first frame", screenSessions)
	var firsts []float64
	for i := range screenSessions {
		st, err := e.openSession(ctx)
		if err != nil {
			return fmt.Errorf("session %d: %w", i+1, err)
		}
		if st.EndMS, err = e.endSession(ctx, st.SessionID); err != nil {
			return fmt.Errorf("session %d: %w", i+1, err)
		}
		r.Sessions = append(r.Sessions, st)
		firsts = append(firsts, st.FirstFrameMS)
		logf("screen: session %d: first frame %.0f ms after POST (polled %.0f ms), %d KiB; ended in %.0f ms",
			i+1, st.FirstFrameMS, st.PolledMS, st.FirstFrameBytes>>10, st.EndMS)
		if st.FirstFrameMS <= 0 || st.FirstFrameMS > st.PolledMS+5 {
			warn("session %d: page-clock first frame %.1f ms vs polled %.1f ms: clocks disagree", i+1, st.FirstFrameMS, st.PolledMS)
		}
	}
	r.FirstFrameMS = summarize(firsts)

	// 2. A session watching the scrolling terminal.
	wl := &scrollWorkload{term: e.term, rate: screenLines}
	w, err := e.measureWindow(ctx, wl, screenWarmup, screenWindow)
	if w != nil {
		r.Windows = append(r.Windows, w)
	}
	if err != nil {
		return err
	}
	if w.DrainIncomplete {
		problem("%s: the viewer had not drawn everything it was sent %s after the workload stopped (frames/s and payload not measured)", w.Workload, drainLimit)
	} else if w.Frames == 0 {
		problem("%s: the viewer drew no frame in the %0.fs window", w.Workload, w.Seconds)
	}
	if w.ViewerErrors > 0 {
		problem("%s: the viewer counted %d decode errors", w.Workload, w.ViewerErrors)
	}
	if w.CPU.Other > busyMachine {
		warn("other processes used %.0f%% of a core during the window: figures are disturbed", w.CPU.Other)
	}
	if want := float64(screenLines); w.WorkPerSec < 0.9*want {
		warn("the terminal scrolled %.1f lines/s, below the %d asked for (CPU starved?)", w.WorkPerSec, screenLines)
	}
	if !w.PeakReset {
		warn("could not reset the helper's peak RSS; helper_rss_peak covers its whole life")
	}

	// 3. Where the helper's time goes: the same capture and encode code,
	// in this process, on the same display with the terminal still
	// scrolling and no session live.
	if err := wl.Start(); err != nil {
		return err
	}
	sleepCtx(ctx, time.Second)
	st, serr := measureStages(ctx, e.display, stageFrames, 66*time.Millisecond)
	if _, err := wl.Stop(); err != nil {
		return err
	}
	if serr != nil {
		warn("in-process capture/encode timing failed: %v", serr)
	} else {
		r.Stages = st
	}
	return nil
}

// setupScreen starts everything and signs the technician in.
func setupScreen(ctx context.Context, b *testing.B, e *screenEnv, r *screenResult) error {
	tmp := b.TempDir()
	logf("screen: building tether-server and tether-agent")
	if err := testenv.BuildBinaries(ctx, tmp, "./server/cmd/tether-server", "./agent/cmd/tether-agent"); err != nil {
		return err
	}
	var err error
	if e.xvfb, e.display, err = testenv.StartXvfb(ctx, screenW, screenH, 24, 30*time.Second); err != nil {
		return err
	}
	e.closers = append(e.closers, func() { e.xvfb.Stop(2 * time.Second) })
	if e.term, err = startTerminal(e.display, screenW, screenH); err != nil {
		return err
	}
	e.closers = append(e.closers, e.term.close)
	if _, err := e.term.do("fill", "filled"); err != nil {
		return err
	}

	r.ServerLog = filepath.Join(outDir, "screen-server.log")
	if err := os.WriteFile(r.ServerLog, nil, 0o644); err != nil {
		return err
	}
	if e.srv, err = startServer(ctx, filepath.Join(tmp, "tether-server"), filepath.Join(tmp, "data"), r.ServerLog,
		25*time.Second, "--turn-listen", "127.0.0.1:0"); err != nil {
		return err
	}
	e.closers = append(e.closers, func() {
		if _, err := e.srv.stop(30 * time.Second); err != nil {
			r.Warnings = append(r.Warnings, "server: "+err.Error())
		}
	})
	if err := e.srv.waitReady(ctx, 30*time.Second); err != nil {
		return err
	}
	if err := e.srv.signIn(ctx); err != nil {
		return fmt.Errorf("sign in as admin: %w", err)
	}
	// The policy exists before the agent enrolls, so its first poll
	// brings it.
	pol := map[string]any{"screenshare": map[string]any{"unattended_allowed": true, "acceptance_timeout_s": 30}}
	if err := e.srv.api(ctx, http.MethodPut, "/api/v1/policies/global", pol, nil, http.StatusOK); err != nil {
		return err
	}
	// A technician with the roles a support technician has: start
	// sessions, and start them unattended.
	roles := []string{perm.RoleScreenShareAgent, perm.RoleScreenShareUnattended}
	if err := e.srv.api(ctx, http.MethodPost, "/api/v1/users", protocol.CreateUserRequest{Name: techName, Password: techPassword, Roles: roles}, nil, http.StatusCreated); err != nil {
		return err
	}
	tok, err := e.srv.enrollmentToken(ctx)
	if err != nil {
		return err
	}
	r.AgentLog = filepath.Join(outDir, "screen-agent.log")
	if e.agent, err = startAgent(filepath.Join(tmp, "tether-agent"), e.srv.base, tok, filepath.Join(tmp, "agent-state"), r.AgentLog, e.display); err != nil {
		return err
	}
	e.closers = append(e.closers, func() {
		if !e.agent.stop() {
			r.Warnings = append(r.Warnings, "the agent did not exit within 15s of SIGTERM; killed")
		}
	})
	logf("screen: display %s, server pid %d at %s, agent pid %d", e.display, e.srv.pid(), e.srv.base, e.agent.proc.Pid())
	host, err := os.Hostname()
	if err != nil {
		return err
	}
	err = waitFor(ctx, 60*time.Second, func() bool {
		var l protocol.EndpointList
		if e.srv.api(ctx, http.MethodGet, "/api/v1/endpoints?q="+url.QueryEscape(host), nil, &l, http.StatusOK) != nil {
			return false
		}
		for _, ep := range l.Endpoints {
			if ep.Online {
				e.ep = ep
				return true
			}
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("the agent's endpoint %s did not come online: %v; agent log:\n%s", host, err, tailFile(r.AgentLog, 4096))
	}
	if _, err := e.agent.waitRecord(ctx, 30*time.Second, "the policy", func(l logRecord) bool { return l.Msg == "policy received" }); err != nil {
		r.Warnings = append(r.Warnings, "no `policy received` in the agent log; unattended sessions may be refused")
	}
	rec, err := e.agent.waitRecord(ctx, 30*time.Second, "its session helper connecting", func(l logRecord) bool {
		return l.Msg == "session helper connected" && l.PID > 0
	})
	if err != nil {
		return err
	}
	e.helperPID = rec.PID
	if e.tech, err = signInUser(ctx, e.srv.base, techName, techPassword); err != nil {
		return fmt.Errorf("sign in as %s: %w", techName, err)
	}
	if e.br, err = startBrowser(screenW, screenH, filepath.Join(tmp, "chromium")); err != nil {
		return err
	}
	e.closers = append(e.closers, e.br.cancel)
	r.Browser = e.br.version
	return e.br.signIn(e.srv.base, techName, techPassword)
}

// openSession creates an unattended session as the technician, opens the
// viewer on it and waits until the viewer has drawn its first frame.
func (e *screenEnv) openSession(ctx context.Context) (sessionTiming, error) {
	var st sessionTiming
	if err := e.br.do("blank page", 30*time.Second, chromedp.Navigate("about:blank")); err != nil {
		return st, err
	}
	t0 := time.Now()
	since := func() float64 { return msSince(t0) }
	var s protocol.Session
	if err := e.tech.do(ctx, http.MethodPost, "/api/v1/sessions", protocol.CreateSessionRequest{EndpointID: e.ep.ID, Attended: false}, &s, http.StatusCreated); err != nil {
		return st, err
	}
	st.PostMS = since()
	st.SessionID = s.ID
	// Navigate returns at the load event; the viewer connects from its
	// module script, so the first frame is usually still to come.
	if err := e.br.do("open the viewer", 30*time.Second, chromedp.Navigate(e.srv.base+"/view/"+s.ID)); err != nil {
		return st, err
	}
	type lite struct {
		First  float64 `json:"f"`
		Frames int     `json:"n"`
		State  string  `json:"s"`
		Reason string  `json:"r"`
	}
	deadline := time.Now().Add(firstFrameLimit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		v, err := evalJS[lite](e.br, `(() => { const t = window.__tb || {}, s = window.tetherStats || {};
			return {f: t.firstFrameAt || 0, n: s.frames || 0, s: s.state || "", r: s.reason || ""}; })()`)
		if err == nil && v.First > 0 {
			st.PolledMS = since()
			break
		}
		if err == nil && v.State == "ended" {
			return st, fmt.Errorf("session %s ended (%s) before the viewer drew a frame", s.ID, v.Reason)
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("session %s: no frame drawn within %s (viewer %+v, %v); agent log:\n%s",
				s.ID, firstFrameLimit, v, err, tailFile(e.agent.logPath, 4096))
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-tick.C:
		}
	}
	p, err := e.br.snap()
	if err != nil {
		return st, err
	}
	page := func(at float64) float64 {
		if at <= 0 {
			return 0
		}
		return round1(at - float64(t0.UnixNano())/1e6)
	}
	st.PageMS, st.ConnectedMS = page(p.LoadedAt), page(p.ConnectedAt)
	st.FirstMessageMS, st.FirstFrameMS = page(p.FirstMessageAt), page(p.FirstFrameAt)
	st.FirstFrameBytes, st.FirstFrameMsgs = p.FirstFrameB, p.FirstFrameMsgs
	st.PostMS, st.PolledMS = round1(st.PostMS), round1(st.PolledMS)
	if rec, ok := e.agent.find(func(l logRecord) bool { return l.Msg == "session handed to helper" && l.SessionID == s.ID }); ok {
		st.HandedMS = round1(msBetween(t0, rec.Time))
	}
	return st, nil
}

// endSession ends the session as the technician and waits until the
// agent logged that its helper ended it; it returns that time in ms.
func (e *screenEnv) endSession(ctx context.Context, id string) (float64, error) {
	t0 := time.Now()
	if err := e.tech.do(ctx, http.MethodPost, "/api/v1/sessions/"+url.PathEscape(id)+"/end", struct{}{}, nil, http.StatusOK); err != nil {
		return 0, err
	}
	_, err := e.agent.waitRecord(ctx, endLimit, "session "+id+" ended", func(l logRecord) bool {
		return l.Msg == "helper session state" && l.SessionID == id && l.State == protocol.SessionEnded
	})
	if err != nil {
		return 0, err
	}
	return round1(msSince(t0)), nil
}

// parties are the processes whose CPU the window accounts, by name.
func (e *screenEnv) parties() []cpuParty {
	all := listProcs()
	helper := descendants(all, e.helperPID) // the helper and e.g. its zenity notice
	return []cpuParty{
		{Name: "agent_service", PIDs: []int{e.agent.proc.Pid()}},
		{Name: "agent_helper", PIDs: helper},
		{Name: "server", PIDs: []int{e.srv.pid()}},
		{Name: "browser", PIDs: descendants(all, e.br.pid())},
		{Name: "xvfb", PIDs: []int{e.xvfb.Pid()}},
		{Name: "workload", PIDs: descendants(all, e.term.proc.Pid())},
		{Name: "bench", PIDs: []int{os.Getpid()}},
	}
}

// measureWindow opens a session, starts the workload, lets it run for
// warmup, then measures over window: frames the viewer drew, bytes the
// screen channel and the loopback interface carried, CPU of every party,
// the helper's memory. Nothing is asked of the page during the window (an
// evaluate waits behind the page's queued work and would disturb it):
// the workload stops at the window's end, the benchmark waits until the
// viewer has drawn everything it was sent, and then reads the probe's
// timestamps and counts those inside the window. The session is ended
// before it returns.
func (e *screenEnv) measureWindow(ctx context.Context, wl screenWorkload, warmup, window time.Duration) (*windowResult, error) {
	w := &windowResult{Workload: wl.Name(), WarmupSeconds: warmup.Seconds(), HelperPID: e.helperPID}
	st, err := e.openSession(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", w.Workload, err)
	}
	w.SessionID = st.SessionID
	logf("screen: %s: session live after %.0f ms; warming up %s, measuring %s", w.Workload, st.FirstFrameMS, warmup, window)
	if err := wl.Start(); err != nil {
		return w, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_, _ = wl.Stop()
		}
	}()
	sleepCtx(ctx, warmup)
	ps := e.parties()
	w.PeakReset = resetPeakRSS(e.helperPID) == nil
	lo0, udp0, err := loopbackBytes()
	if err != nil {
		return w, err
	}
	browserPIDs := ps[partyIndex(ps, "browser")].PIDs
	th0 := threadCPU(browserPIDs)
	c0 := snapCPU(ps)
	// Sample the helper's RSS through the window (a cross-check of VmHWM).
	end := c0.at.Add(window)
	for time.Now().Before(end) && ctx.Err() == nil {
		if rss, _, err := procStatus(e.helperPID); err == nil {
			w.HelperRSSMax = max(w.HelperRSSMax, rss)
		}
		sleepCtx(ctx, min(250*time.Millisecond, time.Until(end)))
	}
	c1 := snapCPU(ps)
	th1 := threadCPU(browserPIDs)
	lo1, udp1, err := loopbackBytes()
	if err != nil {
		return w, err
	}
	stopped = true
	if w.Work, err = wl.Stop(); err != nil {
		return w, err
	}
	stoppedAt := time.Now()
	if w.Work.Seconds > 0 {
		w.WorkPerSec = round1(float64(w.Work.Units) / w.Work.Seconds)
	}
	w.HelperRSSEnd, w.HelperRSSPeak, _ = procStatus(e.helperPID)
	w.AgentRSSEnd, _, _ = procStatus(e.agent.proc.Pid())
	w.CPU = cpuOver(ps, c0, c1)
	w.AgentCPU = round1(w.CPU.Percent["agent_service"] + w.CPU.Percent["agent_helper"])
	sec := c1.at.Sub(c0.at).Seconds()
	w.Seconds = round1(sec)
	w.BrowserThreads = topThreads(th0, th1, sec, 8)
	w.LoopbackBPS = math.Round(float64(lo1-lo0) / sec)
	w.UDPOutPerSec = round1(float64(udp1-udp0) / sec)

	// Let the viewer catch up: the screen no longer changes, so once its
	// frame count stays put it has drawn all the agent sent.
	drainStart := time.Now()
	var last probeSnap
	var stableSince time.Time
	for {
		s, err := e.br.snap()
		if err == nil {
			if s.Frames != last.Frames || stableSince.IsZero() {
				stableSince = time.Now()
			}
			last = s
			if time.Since(stableSince) >= 1500*time.Millisecond {
				break
			}
		}
		if time.Since(drainStart) > drainLimit {
			w.DrainIncomplete = true
			break
		}
		sleepCtx(ctx, 200*time.Millisecond)
	}
	if w.DrainIncomplete {
		// The page is still working through its backlog: every evaluate
		// would wait behind it. Report what was measured outside it.
		_, err := e.endSession(ctx, st.SessionID)
		logf("screen: %s: the viewer had not caught up %s after the workload stopped; page figures skipped", w.Workload, drainLimit)
		return w, err
	}
	w.Candidate = last.Candidate
	w.ViewerErrors = last.Errors
	w.TotalPayload, w.TotalDCBytes = last.ScreenBytes, last.DCBytes
	w.TotalMsgs, w.TotalDCMsgs = last.ScreenMsgs, last.DCMsgs

	t0, t1 := float64(c0.at.UnixNano())/1e6, float64(c1.at.UnixNano())/1e6
	times, err := e.br.frameTimes(0)
	if err != nil {
		return w, err
	}
	if len(times) > 0 {
		w.DrainMS = round1(times[len(times)-1] - float64(stoppedAt.UnixNano())/1e6)
	}
	// Every frame the agent sends is drawn in the end (one reliable,
	// ordered channel), and the screen was still before the workload
	// started and after it stopped: the frames drawn since the session's
	// first are the frames the agent sent while the workload ran.
	if w.Work.Seconds > 0 && len(times) > 1 {
		w.SentFPS = round1(float64(len(times)-1) / w.Work.Seconds)
	}
	var in []float64
	for _, t := range times {
		if t > t0 && t <= t1 {
			in = append(in, t)
		}
	}
	w.Frames = len(in)
	w.FPS = round1(float64(w.Frames) / sec)
	if len(in) > 0 {
		var gaps []time.Duration
		prev := t0
		for _, t := range in {
			gaps = append(gaps, time.Duration((t-prev)*1e6))
			prev = t
		}
		gaps = append(gaps, time.Duration((t1-prev)*1e6))
		w.FrameGapP50, w.FrameGapP95, w.FrameGapMax = ms(pct(gaps, 50)), ms(pct(gaps, 95)), ms(pct(gaps, 100))
	}
	buckets, err := e.br.msgBuckets()
	if err != nil {
		return w, err
	}
	for _, b := range buckets {
		// 100 ms buckets: those starting inside the window.
		if b.Start >= t0-50 && b.Start < t1-50 {
			w.ScreenMsgs += b.Msgs
			w.PayloadBytes += b.Bytes
		}
	}
	w.PayloadBPS = math.Round(float64(w.PayloadBytes) / sec)
	if w.Frames > 0 {
		w.BytesPerFrame = math.Round(float64(w.PayloadBytes) / float64(w.Frames))
	}

	if _, err := e.endSession(ctx, st.SessionID); err != nil {
		return w, err
	}
	logf("screen: %s: %.1f frames/s drawn, %.0f KiB/s payload handled, %.0f KiB/s on loopback, agent %.0f%% of a core (helper %.0f%%), viewer caught up %.0f ms after the workload stopped",
		w.Workload, w.FPS, w.PayloadBPS/1024, w.LoopbackBPS/1024, w.AgentCPU, w.CPU.Percent["agent_helper"], w.DrainMS)
	return w, nil
}

func partyIndex(ps []cpuParty, name string) int {
	return slices.IndexFunc(ps, func(p cpuParty) bool { return p.Name == name })
}

// measureStages runs the helper's capture source and encoder (the same
// packages, default configuration) in this process on display, frames
// times at interval after one full frame, and times each stage.
func measureStages(ctx context.Context, display string, frames int, interval time.Duration) (*stageResult, error) {
	// kbinani/screenshot connects to $DISPLAY on every capture.
	old, had := os.LookupEnv("DISPLAY")
	os.Setenv("DISPLAY", display)
	defer func() {
		if had {
			os.Setenv("DISPLAY", old)
		} else {
			os.Unsetenv("DISPLAY")
		}
	}()
	xgb.Logger.SetOutput(io.Discard) // "no .Xauthority" notes; Xvfb runs without access control
	defer xgb.Logger.SetOutput(os.Stderr)
	src, err := capture.New()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	enc := encode.New(encode.Config{})
	st := &stageResult{Source: fmt.Sprintf("%T", src), Frames: frames, IntervalMS: ms(interval)}
	cpu0, _ := procCPU(os.Getpid())
	began := time.Now()
	t0 := time.Now()
	img, err := src.Capture(0)
	if err != nil {
		return nil, err
	}
	t1 := time.Now()
	msgs, err := enc.Encode(img, true)
	if err != nil {
		return nil, err
	}
	st.FullCaptureMS, st.FullEncodeMS = ms(t1.Sub(t0)), ms(time.Since(t1))
	for _, m := range msgs {
		st.FullBytes += len(m)
	}
	var caps, encs []time.Duration
	var bytes, nmsgs int
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for range frames {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		t0 := time.Now()
		img, err := src.Capture(0)
		if err != nil {
			return nil, err
		}
		t1 := time.Now()
		msgs, err := enc.Encode(img, false)
		if err != nil {
			return nil, err
		}
		caps = append(caps, t1.Sub(t0))
		encs = append(encs, time.Since(t1))
		if len(msgs) > 0 {
			st.ChangedFrames++
			nmsgs += len(msgs)
			for _, m := range msgs {
				bytes += len(m)
			}
		}
	}
	cpu1, _ := procCPU(os.Getpid())
	st.CPUPercent = round1(float64(cpu1-cpu0) / userHZ / time.Since(began).Seconds() * 100)
	st.CaptureP50MS, st.CaptureP95MS = ms(pct(caps, 50)), ms(pct(caps, 95))
	st.EncodeP50MS, st.EncodeP95MS = ms(pct(encs, 50)), ms(pct(encs, 95))
	if st.ChangedFrames > 0 {
		st.BytesPerFrame = math.Round(float64(bytes) / float64(st.ChangedFrames))
		st.MsgsPerFrame = round1(float64(nmsgs) / float64(st.ChangedFrames))
	}
	if d := st.CaptureP50MS + st.EncodeP50MS; d > 0 {
		st.MaxFPSFromStage = round1(1000 / d)
	}
	return st, nil
}

// scanScreenLogs summarises the server and agent logs into r.
func scanScreenLogs(r *screenResult, warn func(string, ...any)) {
	if lf, err := scanLog(r.ServerLog); err == nil {
		r.ServerLogFindings = lf
		if n := lf.ByLevel["WARN"] + lf.ByLevel["ERROR"]; n > 0 {
			warn("server log has %d WARN and %d ERROR records, e.g. %q", lf.ByLevel["WARN"], lf.ByLevel["ERROR"], firstKey(lf.Messages))
		}
	}
	b, err := os.ReadFile(r.AgentLog)
	if err != nil {
		return
	}
	r.AgentLogLevels = map[string]int{}
	for _, l := range strings.Split(string(b), "\n") {
		var rec logRecord
		if len(l) == 0 || l[0] != '{' || json.Unmarshal([]byte(l), &rec) != nil {
			continue
		}
		r.AgentLogLevels[rec.Level]++
		if (rec.Level == "WARN" || rec.Level == "ERROR") && len(r.AgentWarnings) < 8 {
			r.AgentWarnings = append(r.AgentWarnings, l)
		}
	}
	if n := r.AgentLogLevels["WARN"] + r.AgentLogLevels["ERROR"]; n > 0 {
		warn("agent log has %d WARN and %d ERROR records (see agent_warn_error_samples)", r.AgentLogLevels["WARN"], r.AgentLogLevels["ERROR"])
	}
}

func printScreenTable(w io.Writer, r *screenResult) {
	fmt.Fprintf(w, "\nScreen-share benchmark (Xvfb %s, tether-server + tether-agent on 127.0.0.1, %s, %d cores)\n", r.Display, r.Browser, r.Cores)
	if len(r.Sessions) > 0 {
		fmt.Fprintf(w, "\nPOST /api/v1/sessions (unattended) → first complete frame drawn on the viewer, ms since the POST was sent:\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "session\tPOST answered\thanded to helper\tviewer page\tpeer connected\t1st screen msg\tFIRST FRAME\t(polled)\tKiB to 1st frame\tend → helper ended\t")
		for i, s := range r.Sessions {
			fmt.Fprintf(tw, "%d\t%.1f\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%.0f\t\n", i+1, s.PostMS, s.HandedMS, s.PageMS,
				s.ConnectedMS, s.FirstMessageMS, s.FirstFrameMS, s.PolledMS, s.FirstFrameBytes>>10, s.EndMS)
		}
		tw.Flush()
		fmt.Fprintf(w, "first frame: median %.1f ms, max %.1f ms, min %.1f ms (n=%d)\n", r.FirstFrameMS.Median, r.FirstFrameMS.Max, r.FirstFrameMS.Min, r.FirstFrameMS.N)
	}
	for _, x := range r.Windows {
		fmt.Fprintf(w, "\nWorkload %s: warm-up %.0f s, window %.1f s (terminal achieved %.1f %s/s)\n", x.Workload, x.WarmupSeconds, x.Seconds, x.WorkPerSec, strings.TrimSuffix(x.Work.Unit, "s"))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		row := func(k, v string) { fmt.Fprintf(tw, "  %s\t%s\n", k, v) }
		row("frames drawn by the viewer", fmt.Sprintf("%d (%.1f frames/s)", x.Frames, x.FPS))
		row("frames sent by the agent (≈)", fmt.Sprintf("%.1f frames/s while the workload ran (all frames drawn after the drain)", x.SentFPS))
		row("gap between frames p50/p95/max", fmt.Sprintf("%.0f / %.0f / %.0f ms", x.FrameGapP50, x.FrameGapP95, x.FrameGapMax))
		row("screen payload handled by the viewer", fmt.Sprintf("%.0f KiB/s (%d messages, %.0f KiB/frame)", x.PayloadBPS/1024, x.ScreenMsgs, x.BytesPerFrame/1024))
		row("loopback interface (the wire)", fmt.Sprintf("%.0f KiB/s (candidate %s)", x.LoopbackBPS/1024, x.Candidate))
		drain := fmt.Sprintf("%.0f ms", x.DrainMS)
		if x.DrainIncomplete {
			drain = fmt.Sprintf("more than %s (gave up)", drainLimit)
		}
		row("viewer caught up after the stop", drain)
		row("session totals: page / getStats", fmt.Sprintf("%.1f / %.1f MiB, %d / %d messages", mib(x.TotalPayload), mib(x.TotalDCBytes), x.TotalMsgs, x.TotalDCMsgs))
		row("agent CPU (service + helper)", fmt.Sprintf("%.1f%% of one core (service %.1f%%, helper %.1f%%)", x.AgentCPU, x.CPU.Percent["agent_service"], x.CPU.Percent["agent_helper"]))
		row("other CPU, % of one core", fmt.Sprintf("browser %.1f, Xvfb %.1f, terminal %.1f, server %.1f, bench %.1f, rest %.1f; machine %.0f%% of %d cores",
			x.CPU.Percent["browser"], x.CPU.Percent["xvfb"], x.CPU.Percent["workload"], x.CPU.Percent["server"], x.CPU.Percent["bench"], x.CPU.Other, x.CPU.MachineBusy, r.Cores))
		var th []string
		for _, t := range x.BrowserThreads {
			th = append(th, fmt.Sprintf("%s %.0f", t.Thread, t.Percent))
		}
		row("busiest browser threads, %", strings.Join(th, ", "))
		row("helper RSS peak / sampled max / end", fmt.Sprintf("%.1f / %.1f / %.1f MiB (service %.1f MiB)", mib(x.HelperRSSPeak), mib(x.HelperRSSMax), mib(x.HelperRSSEnd), mib(x.AgentRSSEnd)))
		row("viewer decode errors", fmt.Sprintf("%d", x.ViewerErrors))
		tw.Flush()
	}
	if s := r.Stages; s != nil {
		fmt.Fprintf(w, "\nPipeline stages (the helper's capture and encode packages in this process, same display and workload, %d frames at %.0f ms, no session live):\n", s.Frames, s.IntervalMS)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		row := func(k, v string) { fmt.Fprintf(tw, "  %s\t%s\n", k, v) }
		row("capture ("+s.Source+") p50/p95", fmt.Sprintf("%.1f / %.1f ms", s.CaptureP50MS, s.CaptureP95MS))
		row("tile diff + encode p50/p95", fmt.Sprintf("%.1f / %.1f ms (%d of %d frames changed, %.0f KiB and %.0f messages each)", s.EncodeP50MS, s.EncodeP95MS, s.ChangedFrames, s.Frames, s.BytesPerFrame/1024, s.MsgsPerFrame))
		row("full frame capture / encode / size", fmt.Sprintf("%.1f ms / %.1f ms / %d KiB", s.FullCaptureMS, s.FullEncodeMS, s.FullBytes>>10))
		row("serial ceiling", fmt.Sprintf("%.1f frames/s (1000 / (capture + encode) p50); bench CPU %.0f%% of one core", s.MaxFPSFromStage, s.CPUPercent))
		tw.Flush()
	}
	for _, p := range r.Problems {
		fmt.Fprintln(w, "problem: "+p)
	}
	for _, x := range r.Warnings {
		fmt.Fprintln(w, "warning: "+x)
	}
	fmt.Fprintln(w)
}

func writeScreenJSON(path string, r *screenResult) error {
	b, err := json.MarshalIndent(map[string]any{"benchmark": "BenchmarkScreenShare", "result": r}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func msSince(t time.Time) float64 { return float64(time.Since(t)) / 1e6 }

func msBetween(a, b time.Time) float64 { return float64(b.Sub(a)) / 1e6 }

func round1(v float64) float64 { return math.Round(v*10) / 10 }

func mib(b int64) float64 { return float64(b) / (1 << 20) }
