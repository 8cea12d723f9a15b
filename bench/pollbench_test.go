//go:build unix

package bench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Knobs, overridable from the environment for quicker or heavier runs.
var (
	// TETHER_BENCH_AGENTS: comma-separated fleet sizes.
	benchSizes = envInts("TETHER_BENCH_AGENTS", []int{1000, 10000})
	// TETHER_BENCH_ACTIONS: actions per size; 0 picks N/2 capped to [100, 1000].
	benchActions = envInt("TETHER_BENCH_ACTIONS", 0)
	// TETHER_BENCH_RATE: actions queued per second.
	benchRate = max(1, envInt("TETHER_BENCH_RATE", 50))
	// TETHER_BENCH_IDLE: idle CPU window; at least 20s, default the poll
	// hold plus 5s so that every held poll expires and is renewed once.
	benchIdle = envDuration("TETHER_BENCH_IDLE", 0)
	// TETHER_BENCH_POLL_HOLD: the server's --poll-hold.
	benchPollHold = envDuration("TETHER_BENCH_POLL_HOLD", 2*time.Minute)
)

const (
	enrollWorkers = 32 // concurrent enrollment requests
	queueWorkers  = 4  // concurrent action-queue requests
	sampleChecks  = 25 // actions whose stored result is read back
	outDir        = "out"
	// busyMachine is the CPU (% of one core) other processes may use
	// during a measurement before the figures are flagged as disturbed.
	busyMachine = 15
)

// result is one fleet size's figures; it is written to out/poll.json.
type result struct {
	Agents        int     `json:"agents"`
	Store         string  `json:"store"`
	PollHold      string  `json:"poll_hold"`
	Started       string  `json:"started"`
	WallSeconds   float64 `json:"wall_seconds"`
	ServerLogFile string  `json:"server_log"`
	ActionsCSV    string  `json:"actions_csv"` // one row per queued action
	// LatencyStartS is when the first action was queued, in seconds since
	// the measured server started: add the CSV's sent_ms to line rows up
	// with the log's gctrace "@Ns" stamps.
	LatencyStartS float64 `json:"latency_start_s_since_server_start"`

	EnrollSeconds float64 `json:"enroll_seconds"`
	EnrollPerSec  float64 `json:"enroll_per_second"`
	EnrollP50MS   float64 `json:"enroll_p50_ms"`
	EnrollP99MS   float64 `json:"enroll_p99_ms"`
	EnrollMaxMS   float64 `json:"enroll_max_ms"`
	EnrollRetries int     `json:"enroll_retries"`
	// AllHeldSeconds: from the last enrollment until the server reported
	// every poll held.
	AllHeldSeconds float64 `json:"all_held_seconds"`

	RSSBefore      int64   `json:"rss_before_bytes"`
	RSSHeld        int64   `json:"rss_held_bytes"`
	RSSPeak        int64   `json:"rss_peak_bytes"` // VmHWM at the end of the idle window
	RSSPerAgentKiB float64 `json:"rss_kib_per_agent"`
	HeapBefore     int64   `json:"heap_inuse_before_bytes"`
	HeapHeld       int64   `json:"heap_inuse_held_bytes"`
	HeapPerAgent   float64 `json:"heap_kib_per_agent"`
	// Live heap as marked by a GC (GODEBUG=gctrace=1), MiB resolution.
	LiveBeforeMiB  int64   `json:"live_heap_before_mib"`
	LiveHeldMiB    int64   `json:"live_heap_held_mib"`
	LivePerAgent   float64 `json:"live_heap_kib_per_agent"`
	StackBefore    int64   `json:"stack_inuse_before_bytes"`
	StackHeld      int64   `json:"stack_inuse_held_bytes"`
	StackPerAgent  float64 `json:"stack_kib_per_agent"`
	GoroutinesHeld int64   `json:"server_goroutines_held"`
	ServerFDsHeld  int     `json:"server_open_fds_held"` // one socket per agent expected

	IdleWindowSeconds float64 `json:"idle_window_seconds"`
	IdleCPUPercent    float64 `json:"idle_cpu_percent_of_one_core"`
	IdlePolls         int64   `json:"idle_polls_answered"` // polls answered (mostly hold timeouts) in the window
	HeldAtIdleStart   float64 `json:"polls_held_at_idle_start"`
	HeldAtIdleEnd     float64 `json:"polls_held_at_idle_end"`

	Actions     int     `json:"actions"`
	RatePerSec  float64 `json:"queue_rate_per_second"`
	P50MS       float64 `json:"latency_p50_ms"`
	P90MS       float64 `json:"latency_p90_ms"`
	P99MS       float64 `json:"latency_p99_ms"`
	MaxMS       float64 `json:"latency_max_ms"`
	MinMS       float64 `json:"latency_min_ms"`
	QueueP50MS  float64 `json:"queue_call_p50_ms"` // POST .../actions round trip
	QueueP99MS  float64 `json:"queue_call_p99_ms"`
	QueueErrors int     `json:"queue_errors"`
	// Round trip of the agents' wait=false polls that carry results
	// (complete + pending in the store, no hold).
	ResultPollP50MS float64 `json:"result_poll_p50_ms"`
	ResultPollP99MS float64 `json:"result_poll_p99_ms"`
	Received        int     `json:"received"`
	Duplicates      int     `json:"duplicates"`
	WrongAgent      int     `json:"wrong_agent"`
	Unexpected      int     `json:"unexpected_actions"`
	ResultsOK       float64 `json:"results_completed_ok"`
	SampleChecked   int     `json:"sample_checked"`
	SampleDone      int     `json:"sample_done"`

	AgentErrors     map[string]int    `json:"agent_poll_errors,omitempty"`
	AgentErrorFirst map[string]string `json:"agent_poll_error_examples,omitempty"`
	ShutdownSeconds float64           `json:"shutdown_seconds"`
	ServerLog       logFindings       `json:"server_log_findings"`
	// CPU by party (% of one core) during the idle window and the latency
	// phase; "other" is the rest of the machine, which should be near 0.
	CPUIdle    cpuUse `json:"cpu_idle_window"`
	CPULatency cpuUse `json:"cpu_latency_phase"`
	LoadAvg    string `json:"loadavg_at_start"`
	// Problems fail the benchmark; warnings say the figures may be off.
	Problems []string `json:"problems,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// BenchmarkLongPoll measures action delivery through held long-polls, and
// the server's memory and idle CPU per connected agent, for each fleet size.
// Each size runs once against a fresh server process; b.N is ignored.
func BenchmarkLongPoll(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads the server's RSS and CPU from /proc: Linux only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	logf("building tether-server")
	bin, err := buildServer(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		b.Fatal(err)
	}
	var results []*result
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			r := &result{Agents: n}
			results = append(results, r)
			err := runScenario(ctx, bin, b.TempDir(), r)
			reportRun(b, r.Problems, r.Warnings, err)
			b.ReportMetric(r.P50MS, "p50-ms")
			b.ReportMetric(r.P99MS, "p99-ms")
			b.ReportMetric(r.RSSPerAgentKiB, "rss-KiB/agent")
			b.ReportMetric(r.HeapPerAgent, "heap-KiB/agent")
			b.ReportMetric(r.StackPerAgent, "stack-KiB/agent")
			b.ReportMetric(r.LivePerAgent, "live-heap-KiB/agent")
			b.ReportMetric(r.IdleCPUPercent, "idle-cpu-%")
			b.ReportMetric(r.EnrollPerSec, "enroll/s")
			if len(r.Problems) > 0 {
				b.Errorf("%d problem(s) observed; see above and %s", len(r.Problems), filepath.Join("bench", outDir, "poll.json"))
			}
		})
	}
	printTable(os.Stdout, results)
	if err := writeJSON(filepath.Join(outDir, "poll.json"), map[string]any{"benchmark": "BenchmarkLongPoll", "results": results}); err != nil {
		b.Error(err)
	}
}

// runScenario runs one fleet size against a fresh server and fills r. A
// returned error means the figures are incomplete; problems that still let
// the run finish are appended to r.Problems.
func runScenario(ctx context.Context, bin, tmp string, r *result) (err error) {
	n := r.Agents
	began := time.Now()
	r.Started = began.UTC().Format(time.RFC3339)
	r.Store = "sqlite"
	r.PollHold = benchPollHold.String()
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		r.LoadAvg = strings.TrimSpace(string(b))
	}
	defer func() { r.WallSeconds = time.Since(began).Seconds() }()
	ctx, cancel := context.WithTimeout(ctx, 12*time.Minute)
	defer cancel()
	problem := func(format string, args ...any) {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}

	// 1. Server. A first process creates the administrator, which we sign
	// in as to get an API token, and the enrollment token. Both password
	// hashes (argon2id, 64 MiB each) leave the heap and RSS inflated for
	// minutes, so the measured process is a second one on the same data
	// directory: it hashes no password, since the API token is SHA-256.
	data := filepath.Join(tmp, "data")
	r.ServerLogFile = filepath.Join(outDir, fmt.Sprintf("server-agents=%d.log", n))
	if err := os.WriteFile(r.ServerLogFile, nil, 0o644); err != nil {
		return err
	}
	defer func() { r.ServerLog = r.checkLog(r.ServerLogFile) }()
	apiToken, token, err := setupServer(ctx, bin, data, r.ServerLogFile)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	srv, err := startServer(ctx, bin, data, r.ServerLogFile, benchPollHold)
	if err != nil {
		return err
	}
	srv.token = apiToken
	stopped := false
	defer func() {
		if !stopped {
			srv.kill()
		}
	}()
	logf("agents=%d: server pid %d at %s, log %s", n, srv.Pid(), srv.URL, r.ServerLogFile)
	if err := srv.WaitReady(ctx, 30*time.Second); err != nil {
		return err
	}

	// Baseline before any agent. Every tether-server process computes an
	// argon2id hash (64 MiB) at start-up, which stays in the heap until the
	// next GC, up to the runtime's 2-minute forced one. Make the server
	// collect it now, and let the scavenger return the memory: it releases
	// a freed chunk only after it stayed sparse for a whole GC cycle, so
	// run three.
	gc0, scrapes, err := srv.forceGC(ctx, 3, 60*time.Second)
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	rss0, err := srv.settleRSS(ctx, 30*time.Second)
	if err != nil {
		problem("server memory did not settle before the agents (RSS %d KiB): %v", rss0>>10, err)
	}
	m0, err := srv.metrics(ctx)
	if err != nil {
		return err
	}
	r.RSSBefore = rss0
	r.LiveBeforeMiB = gc0.LiveMiB
	r.HeapBefore = int64(m0.sum("go_memstats_heap_inuse_bytes"))
	r.StackBefore = int64(m0.sum("go_memstats_stack_inuse_bytes"))
	logf("agents=%d: baseline after a GC (%d scrapes): RSS %.1f MiB, live heap %d MiB", n, scrapes, float64(rss0)/(1<<20), gc0.LiveMiB)

	// 2. Enroll; each agent starts polling as soon as it is enrolled.
	f := newFleet(srv.URL, n, benchPollHold)
	runCtx, stopAgents := context.WithCancel(ctx)
	agentsStopped := false
	defer func() {
		if !agentsStopped {
			_ = f.stop(stopAgents, 30*time.Second)
		}
	}()
	logf("agents=%d: enrolling with %d workers", n, enrollWorkers)
	es, err := f.enrollAll(ctx, runCtx, token, enrollWorkers)
	if err := r.noteEnroll(es, err); err != nil {
		return err
	}
	logf("agents=%d: enrolled in %.1fs (%.0f/s, p50 %.1fms, p99 %.1fms)", n, r.EnrollSeconds, r.EnrollPerSec, r.EnrollP50MS, r.EnrollP99MS)

	// 3. Wait until the server holds every agent's poll.
	t0 := time.Now()
	held, err := waitMetric(ctx, srv, "tether_agent_polls_held", float64(n), 2*time.Minute)
	if err != nil {
		counts, first := f.errorSummary()
		return fmt.Errorf("waiting for %d held polls (client: %d in flight, poll errors %v, e.g. %v): %w",
			n, f.inFlight.Load(), counts, first, err)
	}
	r.AllHeldSeconds = time.Since(t0).Seconds()
	r.HeldAtIdleStart = held
	logf("agents=%d: %v polls held after %.1fs; measuring idle CPU for %s", n, held, r.AllHeldSeconds, idleWindow())

	// 4. Idle: CPU over the window, memory at its end.
	pollsBefore := f.polls.Load()
	cpu0, err := sampleCPU(srv.Pid())
	if err != nil {
		return err
	}
	sleepCtx(ctx, idleWindow()) // a measurement window, not synchronisation
	cpu1, err := sampleCPU(srv.Pid())
	if err != nil {
		return err
	}
	wall := cpu1.at.Sub(cpu0.at)
	r.IdleWindowSeconds = wall.Seconds()
	r.IdleCPUPercent = float64(cpu1.server-cpu0.server) / userHZ / wall.Seconds() * 100
	r.CPUIdle = cpuBetween(cpu0, cpu1)
	if r.CPUIdle.Other > busyMachine {
		r.Warnings = append(r.Warnings, fmt.Sprintf("other processes used %.0f%% of a core during the idle window: figures are disturbed", r.CPUIdle.Other))
	}
	r.IdlePolls = f.polls.Load() - pollsBefore
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", srv.Pid())); err == nil {
		r.ServerFDsHeld = len(fds)
	}
	if r.RSSHeld, r.RSSPeak, err = procStatus(srv.Pid()); err != nil {
		return err
	}
	m1, err := srv.metrics(ctx)
	if err != nil {
		return err
	}
	r.HeapHeld = int64(m1.sum("go_memstats_heap_inuse_bytes"))
	r.StackHeld = int64(m1.sum("go_memstats_stack_inuse_bytes"))
	r.GoroutinesHeld = int64(m1.sum("go_goroutines"))
	r.HeldAtIdleEnd = m1.sum("tether_agent_polls_held")
	r.RSSPerAgentKiB = float64(r.RSSHeld-r.RSSBefore) / float64(n) / 1024
	r.HeapPerAgent = float64(r.HeapHeld-r.HeapBefore) / float64(n) / 1024
	r.StackPerAgent = float64(r.StackHeld-r.StackBefore) / float64(n) / 1024
	gc1, _, err := srv.forceGC(ctx, 1, 60*time.Second)
	if err != nil {
		problem("live heap with agents held: %v", err)
	} else {
		r.LiveHeldMiB = gc1.LiveMiB
		r.LivePerAgent = float64(gc1.LiveMiB-gc0.LiveMiB) * 1024 / float64(n)
	}
	if r.HeldAtIdleEnd < float64(n)*0.99 {
		problem("only %.0f of %d polls held at the end of the idle window", r.HeldAtIdleEnd, n)
	}
	logf("agents=%d: idle CPU %.2f%% of a core; per agent: RSS %+.1f KiB, heap in use %+.1f KiB, live heap %+.1f KiB, stacks %+.1f KiB",
		n, r.IdleCPUPercent, r.RSSPerAgentKiB, r.HeapPerAgent, r.LivePerAgent, r.StackPerAgent)

	// 5. Latency: queue actions to random agents at a steady rate.
	cpu2, err := sampleCPU(srv.Pid())
	if err != nil {
		return err
	}
	if err := measureLatency(ctx, srv, []*serverProc{srv}, f, r, m1.sum("tether_actions_completed_total", `ok="true"`), problem); err != nil {
		return err
	}
	cpu3, err := sampleCPU(srv.Pid())
	if err != nil {
		return err
	}
	r.CPULatency = cpuBetween(cpu2, cpu3)
	if r.CPULatency.Other > busyMachine {
		r.Warnings = append(r.Warnings, fmt.Sprintf("other processes used %.0f%% of a core during the latency phase: figures are disturbed", r.CPULatency.Other))
	}

	// 6. Stop the agents, then the server.
	r.AgentErrors, r.AgentErrorFirst = f.errorSummary()
	if ec := f.errorCount(); ec > 0 {
		problem("agents saw %d poll errors: %v, e.g. %v", ec, r.AgentErrors, r.AgentErrorFirst)
	}
	agentsStopped = true
	if err := f.stop(stopAgents, 30*time.Second); err != nil {
		problem("%v", err)
	}
	took, err := srv.stop(30 * time.Second)
	stopped = true
	r.ShutdownSeconds = took.Seconds()
	if err != nil {
		problem("%v", err)
	}
	logf("agents=%d: done in %.0fs", n, time.Since(began).Seconds())
	return nil
}

// checkLog reads a server's log; its warnings and errors are problems.
func (r *result) checkLog(path string) logFindings {
	lf, err := scanLog(path)
	if err != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("reading %s: %v", path, err))
		return lf
	}
	if c := lf.ByLevel["ERROR"] + lf.ByLevel["WARN"]; c > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%s has %d ERROR and %d WARN records, e.g. %q", path, lf.ByLevel["ERROR"], lf.ByLevel["WARN"], firstKey(lf.Messages)))
	}
	return lf
}

// noteEnroll records the enrollment phase; err is enrollAll's.
func (r *result) noteEnroll(es enrollStats, err error) error {
	r.EnrollSeconds = es.Duration.Seconds()
	r.EnrollPerSec = float64(len(es.Latency)) / es.Duration.Seconds()
	r.EnrollRetries = es.Retries
	r.EnrollP50MS, r.EnrollP99MS, r.EnrollMaxMS = ms(pct(es.Latency, 50)), ms(pct(es.Latency, 99)), ms(pct(es.Latency, 100))
	if err != nil {
		return err
	}
	if es.Retries > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("enrollment needed %d retries after 5xx or transport errors", es.Retries))
	}
	return nil
}

// setupServer runs a server on data once to create the administrator, an
// API token and an enrollment token, and stops it.
func setupServer(ctx context.Context, bin, data, logPath string) (apiToken, enrollToken string, err error) {
	srv, err := startServer(ctx, bin, data, logPath, benchPollHold)
	if err != nil {
		return "", "", err
	}
	defer func() {
		if _, serr := srv.stop(30 * time.Second); serr != nil && err == nil {
			err = serr
		}
	}()
	if err := srv.WaitReady(ctx, 30*time.Second); err != nil {
		return "", "", err
	}
	if err := srv.signIn(ctx); err != nil {
		return "", "", fmt.Errorf("sign in: %w", err)
	}
	// The CLI opens the same SQLite store while the server runs.
	enrollToken, err = srv.EnrollmentToken(ctx, nil)
	if err != nil {
		return "", "", err
	}
	return srv.token, enrollToken, nil
}

// measureLatency queues the actions, waits for every one to reach its
// agent and its result to reach the server, and checks a sample.
// The actions are queued on srv; nodes are every server the agents poll
// (srv among them), whose counters of completed actions add up.
func measureLatency(ctx context.Context, srv *serverProc, nodes []*serverProc, f *fleet, r *result, okDone0 float64, problem func(string, ...any)) error {
	n := len(f.agents)
	m := benchActions
	if m <= 0 {
		m = min(1000, max(100, n/2))
	}
	r.Actions = m
	type sent struct {
		at      time.Time
		agent   int
		payload json.RawMessage
		rtt     time.Duration
	}
	var (
		mu    sync.Mutex
		byID  = make(map[string]sent, m)
		ids   = make([]string, 0, m)
		rtts  = make([]time.Duration, 0, m)
		qerrs []string
		wg    sync.WaitGroup
		sem   = make(chan struct{}, queueWorkers)
		rng   = rand.New(rand.NewPCG(uint64(n), 42))
	)
	logf("agents=%d: queueing %d echo actions at %d/s", n, m, benchRate)
	tick := time.NewTicker(time.Second / time.Duration(benchRate))
	start := time.Now()
	r.LatencyStartS = start.Sub(srv.started).Seconds()
	for i := range m {
		select {
		case <-tick.C: // pacing of the action rate
		case <-ctx.Done():
			tick.Stop()
			return ctx.Err()
		}
		sem <- struct{}{}
		wg.Add(1)
		target := rng.IntN(n)
		go func() {
			defer func() { <-sem; wg.Done() }()
			a := f.agents[target]
			payload, _ := json.Marshal(protocol.EchoPayload{Message: fmt.Sprintf("bench-%d-%d", n, i)})
			qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			var st protocol.ActionStatus
			t0 := time.Now()
			err := srv.api(qctx, http.MethodPost, "/api/v1/endpoints/"+a.id+"/actions",
				protocol.QueueActionRequest{Type: protocol.ActionEcho, Payload: payload}, &st, http.StatusAccepted)
			rtt := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err == nil && st.ID == "" {
				err = fmt.Errorf("queue answer carries no action id")
			}
			if err != nil {
				qerrs = append(qerrs, err.Error())
				return
			}
			byID[st.ID] = sent{at: t0, agent: target, payload: payload, rtt: rtt}
			ids = append(ids, st.ID)
			rtts = append(rtts, rtt)
		}()
	}
	tick.Stop()
	wg.Wait()
	r.RatePerSec = float64(m) / time.Since(start).Seconds()
	r.QueueErrors = len(qerrs)
	r.QueueP50MS, r.QueueP99MS = ms(pct(rtts, 50)), ms(pct(rtts, 99))
	if len(qerrs) > 0 {
		problem("%d of %d queue calls failed, first: %s", len(qerrs), m, qerrs[0])
	}

	// Every queued action must arrive.
	waitErr := testenv.Poll(ctx, 30*time.Second+benchPollHold, testenv.Until(func() bool { return f.received(ids) == len(ids) }))
	got := f.receipts()
	var lat []time.Duration
	var csv strings.Builder
	csv.WriteString("action_id,agent,sent_ms,queue_call_ms,delivery_ms,receipts\n")
	for _, id := range ids {
		rs := got[id]
		s := byID[id]
		delivery := "" // never arrived
		if len(rs) > 0 {
			delivery = fmt.Sprintf("%.3f", float64(rs[0].at.Sub(s.at))/1e6)
		}
		fmt.Fprintf(&csv, "%s,%d,%.3f,%.3f,%s,%d\n", id, s.agent, float64(s.at.Sub(start))/1e6, float64(s.rtt)/1e6, delivery, len(rs))
		if len(rs) == 0 {
			continue
		}
		r.Received++
		if len(rs) > 1 {
			r.Duplicates++
		}
		if rs[0].agent != byID[id].agent {
			r.WrongAgent++
		}
		lat = append(lat, rs[0].at.Sub(byID[id].at))
	}
	for id := range got {
		if _, ok := byID[id]; !ok {
			r.Unexpected++
		}
	}
	r.ActionsCSV = filepath.Join(outDir, fmt.Sprintf("actions-agents=%d.csv", n))
	if err := os.WriteFile(r.ActionsCSV, []byte(csv.String()), 0o644); err != nil {
		return err
	}
	r.P50MS, r.P90MS, r.P99MS = ms(pct(lat, 50)), ms(pct(lat, 90)), ms(pct(lat, 99))
	r.MaxMS, r.MinMS = ms(pct(lat, 100)), ms(pct(lat, 0))
	if waitErr != nil {
		problem("%d of %d queued actions never reached their agent", len(ids)-r.Received, len(ids))
	}
	if r.Duplicates > 0 || r.WrongAgent > 0 || r.Unexpected > 0 {
		problem("delivery not exactly once: %d duplicated, %d to the wrong agent, %d unexpected", r.Duplicates, r.WrongAgent, r.Unexpected)
	}
	logf("agents=%d: %d/%d delivered, p50 %.1fms p99 %.1fms max %.1fms", n, r.Received, len(ids), r.P50MS, r.P99MS, r.MaxMS)

	// Every result must reach the server: the counter of completed actions.
	var okDone float64
	err := testenv.Poll(ctx, 30*time.Second, testenv.Until(func() bool {
		done, err := completedOK(ctx, nodes)
		okDone = done - okDone0
		return err == nil && okDone >= float64(r.Received)
	}))
	r.ResultsOK = okDone
	qp := f.quickPolls()
	r.ResultPollP50MS, r.ResultPollP99MS = ms(pct(qp, 50)), ms(pct(qp, 99))
	if err != nil {
		problem("only %.0f of %d results counted by the server", okDone, r.Received)
	}
	// And a sample must read back as done with its output.
	for i := 0; i < len(ids) && r.SampleChecked < sampleChecks; i += max(1, len(ids)/sampleChecks) {
		id := ids[i]
		r.SampleChecked++
		var st protocol.ActionStatus
		var last error
		err := testenv.Poll(ctx, 10*time.Second, testenv.Until(func() bool {
			last = srv.api(ctx, http.MethodGet, "/api/v1/actions/"+id, nil, &st, http.StatusOK)
			return last == nil && (st.State == protocol.ActionDone || st.State == protocol.ActionFailed)
		}))
		switch {
		case err != nil:
			problem("action %s: state %q after 10s (%v)", id, st.State, last)
		case st.State != protocol.ActionDone:
			problem("action %s: state %q, error %q", id, st.State, st.Error)
		case !sameJSON(st.Output, byID[id].payload):
			problem("action %s: output %s, want %s", id, st.Output, byID[id].payload)
		default:
			r.SampleDone++
		}
	}
	return nil
}

// completedOK adds up the nodes' counts of actions completed ok.
func completedOK(ctx context.Context, nodes []*serverProc) (float64, error) {
	var sum float64
	for _, s := range nodes {
		mt, err := s.metrics(ctx)
		if err != nil {
			return 0, err
		}
		sum += mt.sum("tether_actions_completed_total", `ok="true"`)
	}
	return sum, nil
}

// waitMetric waits until a server metric reaches at least want.
func waitMetric(ctx context.Context, srv *serverProc, name string, want float64, timeout time.Duration) (float64, error) {
	var v float64
	var last error
	err := testenv.Poll(ctx, timeout, testenv.Until(func() bool {
		m, err := srv.metrics(ctx)
		if err != nil {
			last = err
			return false
		}
		v = m.sum(name)
		return v >= want
	}))
	if err != nil {
		return v, fmt.Errorf("%s = %v after %s, want %v (last scrape error: %v)", name, v, timeout, want, last)
	}
	return v, nil
}

func idleWindow() time.Duration {
	if benchIdle > 0 {
		return max(benchIdle, 20*time.Second)
	}
	return max(20*time.Second, benchPollHold+5*time.Second)
}

// pct returns the p-th percentile (nearest rank) of v; 0 and 100 give the
// minimum and maximum.
func pct[T cmp.Ordered](v []T, p float64) T {
	if len(v) == 0 {
		var zero T
		return zero
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

func firstKey(m map[string]int) string {
	best, bn := "", -1
	for k, n := range m {
		if n > bn || (n == bn && k < best) {
			best, bn = k, n
		}
	}
	return best
}

func printTable(w io.Writer, rs []*result) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintln(w, "\nLong-poll benchmark (tether-server on 127.0.0.1, store "+rs[0].Store+", poll hold "+rs[0].PollHold+")")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, f func(r *result) string) {
		fmt.Fprint(tw, name+"\t")
		for _, r := range rs {
			fmt.Fprint(tw, f(r)+"\t")
		}
		fmt.Fprintln(tw)
	}
	row("agents", func(r *result) string { return strconv.Itoa(r.Agents) })
	row("enroll (agents/s, p99 ms)", func(r *result) string { return fmt.Sprintf("%.0f/s, %.1f", r.EnrollPerSec, r.EnrollP99MS) })
	row("all polls held after (s)", func(r *result) string { return fmt.Sprintf("%.1f", r.AllHeldSeconds) })
	row("delivery p50 (ms)", func(r *result) string { return fmt.Sprintf("%.1f", r.P50MS) })
	row("delivery p90 (ms)", func(r *result) string { return fmt.Sprintf("%.1f", r.P90MS) })
	row("delivery p99 (ms)", func(r *result) string { return fmt.Sprintf("%.1f", r.P99MS) })
	row("delivery max (ms)", func(r *result) string { return fmt.Sprintf("%.1f", r.MaxMS) })
	row("queue call p50/p99 (ms)", func(r *result) string { return fmt.Sprintf("%.1f/%.1f", r.QueueP50MS, r.QueueP99MS) })
	row("result poll p50/p99 (ms)", func(r *result) string { return fmt.Sprintf("%.1f/%.1f", r.ResultPollP50MS, r.ResultPollP99MS) })
	row("actions delivered/queued", func(r *result) string { return fmt.Sprintf("%d/%d @%.0f/s", r.Received, r.Actions, r.RatePerSec) })
	row("dup/wrong/results ok", func(r *result) string {
		return fmt.Sprintf("%d/%d/%.0f", r.Duplicates, r.WrongAgent, r.ResultsOK)
	})
	row("RSS before → held (MiB)", func(r *result) string {
		return fmt.Sprintf("%.1f → %.1f", float64(r.RSSBefore)/(1<<20), float64(r.RSSHeld)/(1<<20))
	})
	row("RSS peak (MiB)", func(r *result) string { return fmt.Sprintf("%.1f", float64(r.RSSPeak)/(1<<20)) })
	row("RSS per agent (KiB)", func(r *result) string { return fmt.Sprintf("%.1f", r.RSSPerAgentKiB) })
	row("Go heap in use per agent (KiB, raw)", func(r *result) string { return fmt.Sprintf("%.1f", r.HeapPerAgent) })
	row("Go live heap per agent (KiB)", func(r *result) string { return fmt.Sprintf("%.1f", r.LivePerAgent) })
	row("goroutine stacks per agent (KiB)", func(r *result) string { return fmt.Sprintf("%.1f", r.StackPerAgent) })
	row("server goroutines / open fds held", func(r *result) string {
		return fmt.Sprintf("%d / %d", r.GoroutinesHeld, r.ServerFDsHeld)
	})
	row("idle CPU (% of one core)", func(r *result) string { return fmt.Sprintf("%.2f", r.IdleCPUPercent) })
	row("idle window (s, polls answered)", func(r *result) string { return fmt.Sprintf("%.0f, %d", r.IdleWindowSeconds, r.IdlePolls) })
	row("CPU idle: server/bench/other (%)", func(r *result) string {
		return fmt.Sprintf("%.1f/%.1f/%.1f", r.CPUIdle.Server, r.CPUIdle.Bench, r.CPUIdle.Other)
	})
	row("CPU latency: server/bench/other (%)", func(r *result) string {
		return fmt.Sprintf("%.1f/%.1f/%.1f", r.CPULatency.Server, r.CPULatency.Bench, r.CPULatency.Other)
	})
	row("agent poll errors", func(r *result) string { return strconv.Itoa(errTotal(r.AgentErrors)) })
	row("server log WARN/ERROR", func(r *result) string {
		return fmt.Sprintf("%d/%d", r.ServerLog.ByLevel["WARN"], r.ServerLog.ByLevel["ERROR"])
	})
	row("shutdown after SIGTERM (s)", func(r *result) string { return fmt.Sprintf("%.2f", r.ShutdownSeconds) })
	tw.Flush()
	for _, r := range rs {
		for _, p := range r.Problems {
			fmt.Fprintf(w, "problem (agents=%d): %s\n", r.Agents, p)
		}
		for _, p := range r.Warnings {
			fmt.Fprintf(w, "warning (agents=%d): %s\n", r.Agents, p)
		}
	}
	fmt.Fprintln(w)
}

func errTotal(m map[string]int) int {
	t := 0
	for _, n := range m {
		t += n
	}
	return t
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// logf prints progress on stderr, apart from the benchmark lines on stdout.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func envInts(name string, def []int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for _, s := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			panic(fmt.Sprintf("%s=%q: want positive integers, comma-separated", name, v))
		}
		out = append(out, n)
	}
	return out
}

func envInt(name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		panic(fmt.Sprintf("%s=%q: want a non-negative integer", name, v))
	}
	return n
}

func envDuration(name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		panic(fmt.Sprintf("%s=%q: want a duration such as 30s", name, v))
	}
	return d
}

// reportRun logs a run's problems and warnings, then fails on err. The
// benchmarks report their own metrics, not the loop's ns/op.
func reportRun(b *testing.B, problems, warnings []string, err error) {
	b.Helper()
	for _, p := range problems {
		b.Log("problem: " + p)
	}
	for _, w := range warnings {
		b.Log("warning: " + w)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(0, "ns/op")
}
