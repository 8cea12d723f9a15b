//go:build linux

package bench

// Measuring a viewer, whichever system serves it: the same windows, the
// same marker, the same probe, the same /proc accounting for Tether and
// for x11vnc + noVNC.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tetherdesk/tether/internal/testenv"
)

// viewerSys is one of the compared systems: what serves the screen and
// the viewer page that shows it in the benchmark's browser tab.
type viewerSys interface {
	Name() string // "tether" or "peer"
	// open connects the viewer and waits until it drew its first frame.
	open(ctx context.Context) (openInfo, error)
	// close disconnects the viewer and waits until the serving side knows.
	close(ctx context.Context) error
	// serving names the CPU parties that capture and encode (the figure
	// compared): Tether's agent service and helper, x11vnc.
	serving() []string
	// peakPIDs are the processes whose peak RSS a window reports, by party.
	peakPIDs() map[string][]int
	// wire reads the byte counters of the path to the viewer.
	wire() (wireCount, error)
	// alive says which of the system's processes has exited, if any.
	alive() error
}

type openInfo struct {
	SessionID    string
	FirstFrameMS float64 // from starting to open (Go clock) to the first frame drawn (page clock)
}

// wireCount is cumulative bytes as the loopback device counts them
// (headers included): Viewer is the hop into the browser, Loopback all of
// lo, Hop a second hop of the system's own on loopback (x11vnc →
// websockify).
type wireCount struct {
	Viewer, Loopback, Hop int64
	// At is when Viewer was counted (epoch ms, the counter's own clock);
	// 0: when wire returned.
	At float64
}

// tetherSys is Tether: the agent's helper captures and encodes, WebRTC
// carries it straight to the viewer page.
type tetherSys struct {
	e       *screenEnv
	session string
}

func (s *tetherSys) Name() string { return "tether" }

func (s *tetherSys) open(ctx context.Context) (openInfo, error) {
	if err := s.e.refreshHelper(); err != nil {
		return openInfo{}, err
	}
	st, err := s.e.openSession(ctx)
	if err != nil {
		return openInfo{}, err
	}
	s.session = st.SessionID
	return openInfo{SessionID: st.SessionID, FirstFrameMS: st.FirstFrameMS}, nil
}

func (s *tetherSys) close(ctx context.Context) error {
	if s.session == "" {
		return nil
	}
	_, err := s.e.endSession(ctx, s.session)
	s.session = ""
	if err == nil {
		err = s.e.br.do("leave the viewer", 30*time.Second, chromedp.Navigate("about:blank"))
	}
	return err
}

func (s *tetherSys) serving() []string { return []string{"agent_service", "agent_helper"} }

func (s *tetherSys) peakPIDs() map[string][]int {
	return map[string][]int{
		"agent_service": {s.e.agent.proc.Pid()},
		"agent_helper":  descendants(listProcs(), s.e.helperPID),
	}
}

// wire: the media goes agent → browser over UDP on loopback, once (host
// candidates). The kernel keeps no byte counters per UDP socket and the
// loopback total is machine-wide (other programs' traffic lands in it), so
// the viewer's hop is the browser's own count for the selected ICE
// candidate pair (getStats: UDP payload both ways) plus what lo adds per
// packet (Ethernet, IPv4 and UDP headers), stamped with the report's time.
func (s *tetherSys) wire() (wireCount, error) {
	lo, _, err := loopbackBytes()
	if err != nil {
		return wireCount{}, err
	}
	p, err := evalJS[*pairCounters](s.e.br, pairCountersJS)
	if err != nil {
		return wireCount{}, fmt.Errorf("reading the viewer's candidate pair: %w", err)
	}
	if p == nil {
		return wireCount{}, errors.New("the viewer has no selected candidate pair")
	}
	return wireCount{Viewer: p.BytesSent + p.BytesRecv + udpLoopbackHeader*(p.PacketsSent+p.PacketsRecv), Loopback: lo, At: p.At}, nil
}

// udpLoopbackHeader is what one UDP datagram costs on the loopback device
// beyond its payload: 14 bytes of Ethernet header (lo counts it), 20 of
// IPv4, 8 of UDP.
const udpLoopbackHeader = 14 + 20 + 8

// pairCounters is the selected candidate pair's counters (getStats;
// packets from the transport when the pair has none).
type pairCounters struct {
	At          float64 `json:"at"`
	BytesSent   int64   `json:"bs"`
	BytesRecv   int64   `json:"br"`
	PacketsSent int64   `json:"ps"`
	PacketsRecv int64   `json:"pr"`
}

const pairCountersJS = `(async () => {
  const tb = window.__tb, pc = tb && tb.pcs[tb.pcs.length - 1];
  if (!pc || pc.connectionState === "closed") return null;
  const rep = await pc.getStats();
  let pairID = "", tr = null;
  rep.forEach((r) => { if (r.type === "transport" && r.selectedCandidatePairId) { pairID = r.selectedCandidatePairId; tr = r; } });
  const p = pairID && rep.get(pairID);
  if (!p) return null;
  return { at: p.timestamp, bs: p.bytesSent || 0, br: p.bytesReceived || 0,
    ps: p.packetsSent || (tr && tr.packetsSent) || 0, pr: p.packetsReceived || (tr && tr.packetsReceived) || 0 };
})()`

// tetherWSSys is Tether with the viewer's data on the WebSocket relay
// through the server (?transport=websocket), as when no WebRTC path comes
// up.
type tetherWSSys struct{ tetherSys }

func (s *tetherWSSys) Name() string { return "tether-ws" }

func (s *tetherWSSys) open(ctx context.Context) (openInfo, error) {
	if err := s.e.refreshHelper(); err != nil {
		return openInfo{}, err
	}
	st, err := s.e.openSessionQuery(ctx, "?transport=websocket")
	if err != nil {
		return openInfo{}, err
	}
	s.session = st.SessionID
	return openInfo{SessionID: st.SessionID, FirstFrameMS: st.FirstFrameMS}, nil
}

// wire: the viewer's hop is the browser's TCP connections to the server
// (the relay's frames ride its websocket; its other requests are idle);
// the agent's connections to the server are a second hop on loopback,
// which WebRTC does not take.
func (s *tetherWSSys) wire() (wireCount, error) {
	_, port, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(s.e.srv.URL, "http://"), "https://"))
	if err != nil {
		return wireCount{}, err
	}
	p, _ := strconv.Atoi(port)
	agent, others, err := tcpToPort(p, "tether-agent")
	if err != nil {
		return wireCount{}, err
	}
	lo, _, err := loopbackBytes()
	return wireCount{Viewer: others.Wire(), Loopback: lo, Hop: agent.Wire()}, err
}

func (s *tetherSys) alive() error {
	if s.e.agent.proc.Exited() {
		return fmt.Errorf("tether-agent exited (%v)", s.e.agent.proc.State())
	}
	select {
	case <-s.e.srv.Done():
		return fmt.Errorf("tether-server exited (status %d)", s.e.srv.State().ExitCode())
	default:
	}
	return nil
}

// alive says which of the display's processes has exited, if any.
func (e *screenEnv) alive() error {
	for _, p := range []*testenv.Proc{e.xvfb, e.term.proc} {
		if p.Exited() {
			return fmt.Errorf("%s exited (%v)", p.Name, p.State())
		}
	}
	return nil
}

// refreshHelper follows the agent's session helper: if it was restarted,
// its pid is in a later "session helper connected" record.
func (e *screenEnv) refreshHelper() error {
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", e.helperPID)); err == nil {
		return nil
	}
	var last logRecord
	for _, l := range e.agent.records() {
		if l.Msg == "session helper connected" && l.PID > 0 {
			last = l
		}
	}
	if last.PID == 0 || last.PID == e.helperPID {
		return fmt.Errorf("the session helper (pid %d) is gone and no new one connected; agent log:\n%s", e.helperPID, tailFile(e.agent.logPath, 4096))
	}
	e.helperPID = last.PID
	return nil
}

// parties are the processes whose CPU a window accounts, by name.
func (e *screenEnv) parties() []cpuParty {
	all := listProcs()
	ps := []cpuParty{
		{Name: "agent_service", PIDs: []int{e.agent.proc.Pid()}},
		{Name: "agent_helper", PIDs: descendants(all, e.helperPID)}, // the helper and e.g. its zenity notice
		{Name: "server", PIDs: []int{e.srv.Pid()}},
	}
	if e.peer != nil {
		ps = append(ps,
			cpuParty{Name: e.peer.name, PIDs: descendants(all, e.peer.vnc.Pid())},
			// websockify forks a process per connection: its children.
			cpuParty{Name: "websockify", PIDs: descendants(all, e.peer.websockify.Pid())})
	}
	return append(ps,
		cpuParty{Name: "browser", PIDs: descendants(all, e.br.pid())},
		cpuParty{Name: "xvfb", PIDs: []int{e.xvfb.Pid()}},
		cpuParty{Name: "workload", PIDs: descendants(all, e.term.proc.Pid())},
		// This process: the marker, the image painter, the probes' reads.
		cpuParty{Name: "bench", PIDs: []int{os.Getpid()}},
	)
}

func partyIndex(ps []cpuParty, name string) int {
	for i, p := range ps {
		if p.Name == name {
			return i
		}
	}
	return -1
}

// ---- idle ----

// idleResult is CPU and memory of one system over an idle window.
type idleResult struct {
	System  string  `json:"system"`
	Viewer  bool    `json:"viewer_open"` // a session (client) was open
	Seconds float64 `json:"seconds"`
	// ServingCPU: Tether's service + helper, or x11vnc; % of one core.
	ServingCPU float64            `json:"serving_cpu_percent"`
	CPU        map[string]float64 `json:"cpu_percent_by_party"`
	Other      float64            `json:"other_cpu_percent"`
	// RSS at the end and peak (VmHWM, reset at the window start), by
	// party, and RSSTotal: the serving parties' RSS together.
	RSS       map[string]int64 `json:"rss_end_bytes"`
	Peak      map[string]int64 `json:"rss_peak_bytes"`
	RSSTotal  int64            `json:"serving_rss_end_bytes"`
	PeakTotal int64            `json:"serving_rss_peak_bytes"`
	Frames    int              `json:"frames_drawn,omitempty"` // viewer open: frames drawn in the window
}

// measureIdle measures CPU and memory with nothing changing on screen:
// first with no Tether session and no VNC client (one window for both),
// then each system with its viewer open, one after the other.
func (e *screenEnv) measureIdle(ctx context.Context, r *screenResult, systems []viewerSys) error {
	logf("screen: idle, no session and no VNC client, %s", screenIdle)
	sleepCtx(ctx, 2*time.Second) // the last session's teardown settles
	res, err := e.idleWindow(ctx, systems, screenIdle)
	if err != nil {
		return err
	}
	for _, x := range res {
		x.Viewer = false
		r.Idle = append(r.Idle, x)
	}
	for _, sys := range systems {
		logf("screen: idle, %s viewer open, %s", sys.Name(), screenIdle)
		if _, err := sys.open(ctx); err != nil {
			return fmt.Errorf("%s idle: %w", sys.Name(), err)
		}
		sleepCtx(ctx, 2*time.Second) // the first frame's work done
		n0, _ := e.br.snap()
		res, err := e.idleWindow(ctx, []viewerSys{sys}, screenIdle)
		n1, _ := e.br.snap()
		if cerr := sys.close(ctx); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s idle: %w", sys.Name(), err)
		}
		res[0].Viewer = true
		res[0].Frames = n1.NFrameTimes - n0.NFrameTimes
		r.Idle = append(r.Idle, res[0])
	}
	return nil
}

// idleWindow measures each system's serving parties over d.
func (e *screenEnv) idleWindow(ctx context.Context, systems []viewerSys, d time.Duration) ([]*idleResult, error) {
	for _, sys := range systems {
		for _, pids := range sys.peakPIDs() {
			for _, pid := range pids {
				_ = resetPeakRSS(pid) // a window warns when it cannot; idle peaks are a side figure
			}
		}
	}
	ps := e.parties()
	c0 := snapCPU(ps)
	sleepCtx(ctx, d)
	c1 := snapCPU(ps)
	cw := cpuOver(ps, c0, c1)
	var out []*idleResult
	for _, sys := range systems {
		if err := sys.alive(); err != nil {
			return nil, err
		}
		x := &idleResult{System: sys.Name(), Seconds: cw.Seconds, CPU: cw.Percent, Other: cw.Other,
			RSS: map[string]int64{}, Peak: map[string]int64{}}
		for _, name := range sys.serving() {
			x.ServingCPU += cw.Percent[name]
		}
		x.ServingCPU = round1(x.ServingCPU)
		for name, pids := range sys.peakPIDs() {
			for _, pid := range pids {
				rss, hwm, _ := procStatus(pid)
				x.RSS[name] += rss
				x.Peak[name] += hwm
			}
		}
		for _, name := range sys.serving() {
			x.RSSTotal += x.RSS[name]
			x.PeakTotal += x.Peak[name]
		}
		out = append(out, x)
	}
	return out, nil
}

// ---- workloads ----

// workloadResult is one workload: every window, the medians per system,
// and Tether's pipeline stages while it ran.
type workloadResult struct {
	Name       string          `json:"name"`
	Rate       float64         `json:"rate_asked_per_second"`
	Work       workloadStats   `json:"workload_done"` // over all its windows and what lies between
	WorkPerSec float64         `json:"workload_units_per_second"`
	Windows    []*windowResult `json:"windows"`
	Tether     *systemSummary  `json:"tether"`
	Peer       *systemSummary  `json:"peer,omitempty"`
	// WS is Tether with its data on the WebSocket relay.
	WS     *systemSummary `json:"tether_websocket,omitempty"`
	Stages *stageResult   `json:"tether_pipeline_stages,omitempty"`
}

// systemSummary is the median over a system's windows of one workload.
type systemSummary struct {
	Windows    int     `json:"windows"`
	LatencyP50 float64 `json:"g2g_p50_ms"`
	LatencyP95 float64 `json:"g2g_p95_ms"`
	// Per window, in order: the spread behind the medians.
	WindowP50s []float64 `json:"g2g_p50_ms_by_window"`
	WindowFPS  []float64 `json:"frames_per_second_by_window"`
	Missed     int       `json:"markers_missed"` // all windows together
	Markers    int       `json:"markers"`
	FPS        float64   `json:"frames_per_second"`
	WireBPS    float64   `json:"wire_bytes_per_second"`
	PayloadBPS float64   `json:"payload_bytes_per_second"`
	ServingCPU float64   `json:"serving_cpu_percent"`
	ProxyCPU   float64   `json:"websockify_cpu_percent,omitempty"`
	BrowserCPU float64   `json:"browser_cpu_percent"`
	PeakRSS    int64     `json:"serving_rss_peak_bytes"`
	ProxyRSS   int64     `json:"websockify_rss_peak_bytes,omitempty"`
	OpenMS     float64   `json:"first_frame_ms"`
	Errors     int       `json:"viewer_errors"`
	SamplerHz  float64   `json:"sampler_hz"`
}

// windowResult is one system watching one workload for one window.
type windowResult struct {
	System        string  `json:"system"`
	Workload      string  `json:"workload"`
	Rep           int     `json:"rep"`
	SessionID     string  `json:"session_id,omitempty"`
	OpenMS        float64 `json:"first_frame_ms"` // open → first frame drawn
	WarmupSeconds float64 `json:"warmup_seconds"`
	Seconds       float64 `json:"window_seconds"` // benchmark clock

	// Glass to glass: markers painted in the window and when the viewer's
	// canvas first showed each (or a newer one).
	Markers    int       `json:"markers"`
	Missed     int       `json:"markers_missed"` // not shown by the end of the tail: counted at the tail's end
	LatencyP50 float64   `json:"g2g_p50_ms"`
	LatencyP95 float64   `json:"g2g_p95_ms"`
	LatencyMax float64   `json:"g2g_max_ms"`
	Latencies  []float64 `json:"g2g_ms"`
	SamplerHz  float64   `json:"sampler_hz"` // the page's pixel reads per second
	Canvas     string    `json:"sampled_canvas"`

	// Frames the viewer finished drawing inside the window (page clock).
	Frames      int     `json:"frames"`
	FPS         float64 `json:"frames_per_second"`
	FrameGapP50 float64 `json:"frame_gap_p50_ms"`
	FrameGapP95 float64 `json:"frame_gap_p95_ms"`
	FrameGapMax float64 `json:"frame_gap_max_ms"`
	// Messages and payload bytes the page received inside the window
	// (Tether: screen channel; noVNC: WebSocket), 100 ms buckets.
	Msgs       int64   `json:"messages"`
	Payload    int64   `json:"payload_bytes"`
	PayloadBPS float64 `json:"payload_bytes_per_second"`
	// WireBPS: the viewer's hop as the loopback device counts it (headers
	// included): the kernel's TCP counters of the WebSocket connection
	// (peer), the browser's counters of the ICE candidate pair (Tether).
	// LoopbackBPS: all of lo, machine-wide (anything else running adds to
	// it). HopBPS: the peer's x11vnc → websockify hop.
	WireBPS     float64 `json:"wire_bytes_per_second"`
	LoopbackBPS float64 `json:"loopback_bytes_per_second"`
	HopBPS      float64 `json:"second_hop_bytes_per_second,omitempty"`
	Errors      int     `json:"viewer_errors"`

	CPU            cpuWindow     `json:"cpu"`
	ServingCPU     float64       `json:"serving_cpu_percent"`
	BrowserThreads []threadShare `json:"browser_threads"`
	// Peak RSS (VmHWM reset at the window start) by party; PeakRSS is the
	// serving parties' together, RSSMax the largest sum sampled every
	// 250 ms.
	Peak      map[string]int64 `json:"rss_peak_bytes"`
	PeakRSS   int64            `json:"serving_rss_peak_bytes"`
	RSSMax    int64            `json:"serving_rss_sampled_max_bytes"`
	PeakReset bool             `json:"rss_peak_reset"`
}

// runWorkload starts wl, measures every system screenReps times in
// alternating order (T P, P T, T P, ...), times Tether's stages with no
// viewer open, and stops wl.
func (e *screenEnv) runWorkload(ctx context.Context, wl screenWorkload, systems []viewerSys, problem, warn func(string, ...any)) (*workloadResult, error) {
	wr := &workloadResult{Name: wl.Name(), Rate: wl.Rate()}
	logf("screen: workload %s", wr.Name)
	if err := wl.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", wr.Name, err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_, _ = wl.Stop()
		}
	}()
	// The marker stays above whatever the workload mapped.
	if err := e.marker.raise(); err != nil {
		return nil, err
	}
	for rep := 1; rep <= screenReps; rep++ {
		order := rotated(systems, rep-1)
		for _, sys := range order {
			shot := ""
			if rep == 1 {
				shot = filepath.Join(outDir, screenFile(fmt.Sprintf("-%s-%s.png", sys.Name(), wr.Name)))
			}
			w, err := e.measureWindow(ctx, sys, wr.Name, rep, shot)
			if err != nil {
				return wr, err
			}
			wr.Windows = append(wr.Windows, w)
			checkWindow(w, problem, warn)
		}
	}
	// Where the helper's time goes under this workload: its capture and
	// encode code in this process, no viewer open.
	st, err := measureStages(ctx, e.display, stageFrames, helperFrameInterval)
	if e.sway != nil {
		st, err = nil, nil // the stages are timed on X11 only
	}
	if err != nil {
		warn("%s: in-process capture/encode timing failed: %v", wr.Name, err)
	} else {
		wr.Stages = st
	}
	stopped = true
	if wr.Work, err = wl.Stop(); err != nil {
		return wr, err
	}
	if wr.Work.Seconds > 0 {
		wr.WorkPerSec = round1(float64(wr.Work.Units) / wr.Work.Seconds)
	}
	if wr.Rate > 0 && wr.WorkPerSec < 0.9*wr.Rate {
		warn("%s: the workload achieved %.1f %s/s, below the %.0f asked for (CPU starved?)", wr.Name, wr.WorkPerSec, wr.Work.Unit, wr.Rate)
	}
	wr.Tether = summarizeSystem(wr.Windows, "tether")
	wr.Peer = summarizeSystem(wr.Windows, "peer")
	wr.WS = summarizeSystem(wr.Windows, "tether-ws")
	return wr, nil
}

// rotated returns s rotated left by k: the order of systems in
// repetition k+1.
func rotated[T any](s []T, k int) []T {
	out := make([]T, 0, len(s))
	for i := range s {
		out = append(out, s[(i+k)%len(s)])
	}
	return out
}

// checkWindow turns a broken window into a problem and a doubtful one
// into a warning.
func checkWindow(w *windowResult, problem, warn func(string, ...any)) {
	id := fmt.Sprintf("%s %s #%d", w.System, w.Workload, w.Rep)
	if w.Frames == 0 {
		problem("%s: the viewer drew no frame in the %.0f s window", id, w.Seconds)
	}
	if w.Markers > 0 && w.Missed == w.Markers {
		problem("%s: the viewer showed none of the %d markers", id, w.Markers)
	}
	if w.Errors > 0 {
		problem("%s: the viewer counted %d errors", id, w.Errors)
	}
	if w.Missed > 0 && w.Missed < w.Markers {
		warn("%s: %d of %d markers not shown within %s after the window (counted at that bound)", id, w.Missed, w.Markers, markerTail)
	}
	if w.SamplerHz > 0 && w.SamplerHz < 50 {
		warn("%s: the page read the marker only %.0f times/s: latency resolution is coarse", id, w.SamplerHz)
	}
	if w.CPU.Other > busyMachine {
		warn("%s: other processes used %.0f%% of a core during the window: figures are disturbed", id, w.CPU.Other)
	}
	if !w.PeakReset {
		warn("%s: could not reset peak RSS; peaks cover the processes' whole life", id)
	}
}

// measureWindow opens sys's viewer, lets it watch the running workload
// for the warm-up, then measures a window: markers painted a few times a
// second and when the canvas showed them, frames drawn, bytes on the
// wire and received by the page, CPU of every party, peak memory.
// Nothing is asked of the page during the window (an evaluate waits
// behind the page's queued work and would disturb it); afterwards markers
// go on until the page showed every one painted in the window (at most
// markerTail), then the page's records are read and the viewer closed.
func (e *screenEnv) measureWindow(ctx context.Context, sys viewerSys, workload string, rep int, shot string) (*windowResult, error) {
	w := &windowResult{System: sys.Name(), Workload: workload, Rep: rep, WarmupSeconds: screenWarmup.Seconds(), PeakReset: true}
	oi, err := sys.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", w.System, workload, err)
	}
	w.SessionID, w.OpenMS = oi.SessionID, oi.FirstFrameMS
	closed := false
	defer func() {
		if !closed {
			_ = sys.close(ctx)
		}
	}()
	sleepCtx(ctx, screenWarmup)

	peaks := sys.peakPIDs()
	for _, pids := range peaks {
		for _, pid := range pids {
			if resetPeakRSS(pid) != nil {
				w.PeakReset = false
			}
		}
	}
	ps := e.parties()
	browserPIDs := ps[partyIndex(ps, "browser")].PIDs
	wire0, err := sys.wire()
	if err != nil {
		return w, err
	}
	th0 := threadCPU(browserPIDs)
	run := e.marker.start(markerMinGap, markerMaxGap)
	c0 := snapCPU(ps)
	end := c0.at.Add(screenWindow)
	var servingPIDs []int
	for _, name := range sys.serving() {
		servingPIDs = append(servingPIDs, peaks[name]...)
	}
	for time.Now().Before(end) && ctx.Err() == nil {
		var sum int64
		for _, pid := range servingPIDs {
			if rss, _, err := procStatus(pid); err == nil {
				sum += rss
			}
		}
		w.RSSMax = max(w.RSSMax, sum)
		sleepCtx(ctx, min(250*time.Millisecond, time.Until(end)))
	}
	c1 := snapCPU(ps)
	th1 := threadCPU(browserPIDs)
	wire1, err := sys.wire()
	if err != nil {
		_, _ = run.end()
		return w, err
	}
	from, to := epochMS(c0.at), epochMS(c1.at)
	sec := c1.at.Sub(c0.at).Seconds()
	w.Seconds = round1(sec)

	// Peak memory now, before the tail.
	w.Peak = map[string]int64{}
	for name, pids := range peaks {
		for _, pid := range pids {
			if _, hwm, err := procStatus(pid); err == nil {
				w.Peak[name] += hwm
			}
		}
	}
	for _, name := range sys.serving() {
		w.PeakRSS += w.Peak[name]
	}

	// The tail: markers go on until every one of the window is shown.
	tailEnd := time.Now().Add(markerTail)
	var marks [][2]float64
	for {
		sleepCtx(ctx, 250*time.Millisecond)
		paints, _ := run.snapshot()
		marks, err = e.br.marks()
		if err != nil {
			break
		}
		lat, _ := markerLatencies(paints, marks, from, to)
		if !containsF(lat, -1) || time.Now().After(tailEnd) {
			break
		}
	}
	paints, merr := run.end()
	tailAt := epochMS(time.Now())
	if merr != nil {
		return w, merr
	}
	if err != nil {
		return w, fmt.Errorf("reading the page's marker records: %w", err)
	}
	if err := sys.alive(); err != nil {
		return w, err
	}
	if err := e.alive(); err != nil {
		return w, err
	}

	snap, err := e.br.snap()
	if err != nil {
		return w, err
	}
	w.Errors = snap.Errors
	w.Canvas = snap.SampleCanvas
	if d := snap.SampleLast - snap.SampleFirst; d > 0 {
		w.SamplerHz = math.Round(float64(snap.Samples) / d * 1000)
	}
	times, err := e.br.frameTimes(0)
	if err != nil {
		return w, err
	}
	buckets, err := e.br.msgBuckets()
	if err != nil {
		return w, err
	}
	if shot != "" {
		if err := e.br.screenshot(shot); err != nil {
			logf("screen: screenshot %s: %v", shot, err)
		}
	}
	closed = true
	if err := sys.close(ctx); err != nil {
		return w, err
	}

	lat, _ := markerLatencies(paints, marks, from, to)
	w.Markers = len(lat)
	for i, p := range paintsIn(paints, from, to) {
		if lat[i] < 0 {
			w.Missed++
			lat[i] = round1(tailAt - p.T0) // a lower bound
		}
	}
	for i := range lat {
		lat[i] = round1(lat[i])
	}
	w.Latencies = lat
	w.LatencyP50, w.LatencyP95, w.LatencyMax = round1(pct(lat, 50)), round1(pct(lat, 95)), round1(pct(lat, 100))

	var in []float64
	for _, t := range times {
		if t > from && t <= to {
			in = append(in, t)
		}
	}
	w.Frames = len(in)
	w.FPS = round1(float64(w.Frames) / sec)
	if len(in) > 0 {
		var gaps []time.Duration
		prev := from
		for _, t := range in {
			gaps = append(gaps, time.Duration((t-prev)*1e6))
			prev = t
		}
		gaps = append(gaps, time.Duration((to-prev)*1e6))
		w.FrameGapP50, w.FrameGapP95, w.FrameGapMax = ms(pct(gaps, 50)), ms(pct(gaps, 95)), ms(pct(gaps, 100))
	}
	for _, b := range buckets {
		// 100 ms buckets: those starting inside the window.
		if b.Start >= from-50 && b.Start < to-50 {
			w.Msgs += b.Msgs
			w.Payload += b.Bytes
		}
	}
	w.PayloadBPS = math.Round(float64(w.Payload) / sec)
	wsec := sec
	if wire0.At > 0 && wire1.At > wire0.At {
		wsec = (wire1.At - wire0.At) / 1000
	}
	w.WireBPS = math.Round(float64(wire1.Viewer-wire0.Viewer) / wsec)
	w.LoopbackBPS = math.Round(float64(wire1.Loopback-wire0.Loopback) / sec)
	w.HopBPS = math.Round(float64(wire1.Hop-wire0.Hop) / sec)

	w.CPU = cpuOver(ps, c0, c1)
	for _, name := range sys.serving() {
		w.ServingCPU += w.CPU.Percent[name]
	}
	w.ServingCPU = round1(w.ServingCPU)
	w.BrowserThreads = topThreads(th0, th1, sec, 8)
	logf("screen: %s %s #%d: g2g p50 %.0f ms p95 %.0f ms (%d markers, %d missed), %.1f frames/s, wire %.0f KiB/s, serving CPU %.0f%%, browser %.0f%%",
		w.System, workload, rep, w.LatencyP50, w.LatencyP95, w.Markers, w.Missed, w.FPS, w.WireBPS/1024, w.ServingCPU, w.CPU.Percent["browser"])
	return w, nil
}

// paintsIn is the paints with t0 in [from, to], in order (as
// markerLatencies returns their latencies).
func paintsIn(paints []markerPaint, from, to float64) []markerPaint {
	var out []markerPaint
	for _, p := range paints {
		if p.T0 >= from && p.T0 <= to {
			out = append(out, p)
		}
	}
	return out
}

func containsF(v []float64, x float64) bool {
	for _, y := range v {
		if y == x {
			return true
		}
	}
	return false
}

// summarizeSystem is the median over sys's windows; nil when it has none.
func summarizeSystem(ws []*windowResult, sys string) *systemSummary {
	var mine []*windowResult
	for _, w := range ws {
		if w.System == sys {
			mine = append(mine, w)
		}
	}
	if len(mine) == 0 {
		return nil
	}
	med := func(f func(*windowResult) float64) float64 {
		var v []float64
		for _, w := range mine {
			v = append(v, f(w))
		}
		return median(v)
	}
	s := &systemSummary{Windows: len(mine)}
	s.LatencyP50 = round1(med(func(w *windowResult) float64 { return w.LatencyP50 }))
	s.LatencyP95 = round1(med(func(w *windowResult) float64 { return w.LatencyP95 }))
	s.FPS = round1(med(func(w *windowResult) float64 { return w.FPS }))
	s.WireBPS = math.Round(med(func(w *windowResult) float64 { return w.WireBPS }))
	s.PayloadBPS = math.Round(med(func(w *windowResult) float64 { return w.PayloadBPS }))
	s.ServingCPU = round1(med(func(w *windowResult) float64 { return w.ServingCPU }))
	s.ProxyCPU = round1(med(func(w *windowResult) float64 { return w.CPU.Percent["websockify"] }))
	s.BrowserCPU = round1(med(func(w *windowResult) float64 { return w.CPU.Percent["browser"] }))
	s.PeakRSS = int64(med(func(w *windowResult) float64 { return float64(w.PeakRSS) }))
	s.ProxyRSS = int64(med(func(w *windowResult) float64 { return float64(w.Peak["websockify"]) }))
	s.OpenMS = round1(med(func(w *windowResult) float64 { return w.OpenMS }))
	s.SamplerHz = math.Round(med(func(w *windowResult) float64 { return w.SamplerHz }))
	for _, w := range mine {
		s.WindowP50s = append(s.WindowP50s, w.LatencyP50)
		s.WindowFPS = append(s.WindowFPS, w.FPS)
		s.Missed += w.Missed
		s.Markers += w.Markers
		s.Errors += w.Errors
	}
	return s
}

// ---- acceptance ----

// acceptanceOf reads issue 4's acceptance points off the figures.
func acceptanceOf(r *screenResult) []acceptance {
	var out []acceptance
	yes := func(b bool) *bool { return &b }
	wl := func(name string) *workloadResult {
		for _, w := range r.Workloads {
			if w.Name == name {
				return w
			}
		}
		return nil
	}
	if fc := r.FullCapture; fc != nil {
		out = append(out, acceptance{"full-frame capture 1920x1080 median < 8 ms", fmt.Sprintf("%.1f ms (%s, n=%d)", fc.P50MS, fc.Source, fc.N), yes(fc.P50MS < 8)})
	} else {
		out = append(out, acceptance{Point: "full-frame capture 1920x1080 median < 8 ms", Value: "not measured"})
	}
	if w := wl("typing"); w != nil && w.Tether != nil {
		t := w.Tether
		out = append(out, acceptance{"typing: glass-to-glass p50 < 40 ms", fmt.Sprintf("%.1f ms", t.LatencyP50), yes(t.LatencyP50 < 40)})
		if p := w.Peer; p != nil {
			out = append(out,
				acceptance{"typing: glass-to-glass p50 ≤ peer's", fmt.Sprintf("%.1f vs %.1f ms", t.LatencyP50, p.LatencyP50), yes(t.LatencyP50 <= p.LatencyP50)},
				acceptance{"typing: bytes/s on the wire ≤ peer's", fmt.Sprintf("%.1f vs %.1f KiB/s", t.WireBPS/1024, p.WireBPS/1024), yes(t.WireBPS <= p.WireBPS)})
		}
	}
	if w := wl("scroll"); w != nil && w.Tether != nil {
		t := w.Tether
		out = append(out, acceptance{"scrolling: ≥ 30 frames/s", fmt.Sprintf("%.1f frames/s", t.FPS), yes(t.FPS >= 30)})
		if p := w.Peer; p != nil {
			out = append(out, acceptance{"scrolling: frames/s ≥ peer's", fmt.Sprintf("%.1f vs %.1f", t.FPS, p.FPS), yes(t.FPS >= p.FPS)})
		}
	}
	for _, x := range r.Idle {
		if x.System != "tether" {
			continue
		}
		if x.Viewer {
			out = append(out, acceptance{"idle, session open: agent < 2% of a core", fmt.Sprintf("%.2f%% (service %.2f, helper %.2f)", x.ServingCPU, x.CPU["agent_service"], x.CPU["agent_helper"]), yes(x.ServingCPU < 2)})
		} else {
			out = append(out,
				acceptance{"idle, no session: agent < 0.5% of a core", fmt.Sprintf("%.2f%% (service %.2f, helper %.2f)", x.ServingCPU, x.CPU["agent_service"], x.CPU["agent_helper"]), yes(x.ServingCPU < 0.5)},
				acceptance{"idle, no session: agent < 50 MB RSS", fmt.Sprintf("%.1f MB (service %.1f + helper %.1f)", float64(x.RSSTotal)/1e6, float64(x.RSS["agent_service"])/1e6, float64(x.RSS["agent_helper"])/1e6), yes(x.RSSTotal < 50e6)})
		}
	}
	return out
}

// ---- page reads ----

// marks returns the probe's marker detections: [epoch ms, code].
func (b *browserProc) marks() ([][2]float64, error) {
	return evalJS[[][2]float64](b, `window.__tb ? window.__tb.marks : []`)
}

// screenshot saves what the tab shows as a PNG.
func (b *browserProc) screenshot(path string) error {
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}
