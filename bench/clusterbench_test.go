//go:build unix

package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/protocol"
)

// TETHER_BENCH_CLUSTER_AGENTS: the fleet spread over the two nodes.
var benchClusterAgents = envInt("TETHER_BENCH_CLUSTER_AGENTS", 50000)

// nodeFigures is one node's share of a cluster run.
type nodeFigures struct {
	Node           string  `json:"node"`
	Agents         int     `json:"agents"` // the agents that poll it
	RSSBefore      int64   `json:"rss_before_bytes"`
	RSSHeld        int64   `json:"rss_held_bytes"`
	RSSPerAgentKiB float64 `json:"rss_kib_per_agent"`
	HeapPerAgent   float64 `json:"heap_kib_per_agent"`
	StackPerAgent  float64 `json:"stack_kib_per_agent"`
	GoroutinesHeld int64   `json:"goroutines_held"`
	HeldAtIdleEnd  float64 `json:"polls_held_at_idle_end"`
	IdleCPUPercent float64 `json:"idle_cpu_percent_of_one_core"`
	LatencyCPU     float64 `json:"latency_phase_cpu_percent_of_one_core"`
}

// clusterResult is a cluster run: the fleet's figures (enrollment,
// delivery) and each node's.
type clusterResult struct {
	result
	Nodes []*nodeFigures `json:"nodes"`
	// MachineIdleCPU is the whole machine during the idle window (% of
	// one core): the nodes, PostgreSQL, the simulated agents.
	MachineIdleCPU float64 `json:"machine_idle_cpu_percent_of_one_core"`
}

// BenchmarkLongPollCluster measures two server nodes on one PostgreSQL
// database, joined by NATS (embedded in node a), with half of a fleet of
// simulated agents polling each: enrollment rate, action delivery (queued
// on node a, so half of the wake-ups cross to node b), memory per held
// agent and idle CPU of each node. No load balancer: the agents are split
// between the nodes as one would split them, and no balancer's cost
// muddles the nodes' figures.
func BenchmarkLongPollCluster(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads the servers' RSS and CPU from /proc: Linux only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	dsn := os.Getenv(testenv.PostgresEnv)
	if dsn == "" {
		out, err := exec.CommandContext(ctx, "../scripts/pg-test.sh", "start").Output()
		if err != nil {
			b.Fatalf("scripts/pg-test.sh start: %v", err)
		}
		dsn = strings.TrimSpace(string(out))
	}
	n := benchClusterAgents
	// Each agent is a socket here (and one at its node), plus a margin.
	var capped string
	if limit, err := raiseFDLimit(uint64(n + 4096)); err != nil {
		fit := int(limit) - 4096
		if fit < 1000 {
			b.Fatal(err)
		}
		capped = fmt.Sprintf("%v: %d agents instead of %d", err, fit, n)
		logf("cluster: %s", capped)
		n = fit
	}
	logf("building tether-server")
	bin, err := buildServer(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		b.Fatal(err)
	}
	r := &clusterResult{result: result{Agents: n}}
	if capped != "" {
		r.Warnings = append(r.Warnings, capped)
	}
	err = runCluster(ctx, b, bin, dsn, r)
	reportRun(b, r.Problems, r.Warnings, err)
	b.ReportMetric(r.P50MS, "p50-ms")
	b.ReportMetric(r.P99MS, "p99-ms")
	b.ReportMetric(r.EnrollPerSec, "enroll/s")
	for _, nf := range r.Nodes {
		b.ReportMetric(nf.RSSPerAgentKiB, "rss-KiB/agent-"+nf.Node)
		b.ReportMetric(nf.IdleCPUPercent, "idle-cpu-%-"+nf.Node)
	}
	printClusterTable(r)
	if err := writeJSON(filepath.Join(outDir, "poll-cluster.json"), map[string]any{"benchmark": "BenchmarkLongPollCluster", "result": r}); err != nil {
		b.Error(err)
	}
	if len(r.Problems) > 0 {
		b.Errorf("%d problem(s) observed; see above and %s", len(r.Problems), filepath.Join("bench", outDir, "poll-cluster.json"))
	}
}

// raiseFDLimit lifts this process's open-files limit (which the servers
// it starts inherit) to at least want. It fails where the hard limit is
// lower and cannot be raised (no CAP_SYS_RESOURCE), having raised the
// soft limit to the hard one, which it returns.
func raiseFDLimit(want uint64) (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur >= want {
		return l.Cur, nil
	}
	hard := l.Max
	l.Cur = want
	if l.Max < want {
		l.Max = want // root with CAP_SYS_RESOURCE may
	}
	err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	if err == nil {
		return want, nil
	}
	l.Cur, l.Max = hard, hard
	if serr := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); serr != nil {
		return 0, serr
	}
	return hard, fmt.Errorf("the open-files limit cannot go above %d here (ulimit -Hn; raising it needs CAP_SYS_RESOURCE): %w", hard, err)
}

func runCluster(ctx context.Context, b *testing.B, bin, dsn string, r *clusterResult) (err error) {
	n := r.Agents
	began := time.Now()
	r.Started = began.UTC().Format(time.RFC3339)
	r.Store = "postgres"
	r.PollHold = benchPollHold.String()
	defer func() { r.WallSeconds = time.Since(began).Seconds() }()
	problem := func(format string, args ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, args...)) }
	db := testenv.FreshPostgres(b, dsn)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	natsAddr := ln.Addr().String()
	ln.Close()
	tmp := b.TempDir()
	dataA, dataB := filepath.Join(tmp, "a"), filepath.Join(tmp, "b")
	// Each node's TURN relay on a port of its own.
	argsA := []string{"--db", db, "--nats", "embedded", "--nats-listen", natsAddr, "--node-name", "a", "--turn-listen", "127.0.0.1:0"}
	argsB := []string{"--db", db, "--nats", "nats://" + natsAddr, "--node-name", "b", "--turn-listen", "127.0.0.1:0"}
	logA, logB := filepath.Join(outDir, "server-cluster-a.log"), filepath.Join(outDir, "server-cluster-b.log")
	r.ServerLogFile = logA
	for _, p := range []string{logA, logB} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			return err
		}
	}
	defer func() {
		r.ServerLog = r.checkLog(logA)
		r.checkLog(logB)
	}()

	// 1. A first process of node a creates the administrator; its API
	// token and an enrollment token come through the API (the store is
	// PostgreSQL). The measured processes start afresh, as in the
	// one-node run, without the password hash's memory.
	setup, err := startServer(ctx, bin, dataA, logA, benchPollHold, argsA...)
	if err != nil {
		return err
	}
	if err := setup.WaitReady(ctx, 30*time.Second); err != nil {
		setup.kill()
		return err
	}
	if err := setup.signIn(ctx); err != nil {
		setup.kill()
		return fmt.Errorf("sign in: %w", err)
	}
	var tok protocol.EnrollmentToken
	if err := setup.api(ctx, http.MethodPost, "/api/v1/enrollment-tokens", protocol.CreateTokenRequest{Group: "Default"}, &tok, http.StatusCreated); err != nil {
		setup.kill()
		return fmt.Errorf("enrollment token: %w", err)
	}
	apiToken := setup.token
	if _, err := setup.stop(30 * time.Second); err != nil {
		return err
	}
	if err := os.MkdirAll(dataB, 0o700); err != nil {
		return err
	}
	secret, err := os.ReadFile(filepath.Join(dataA, "server-secret"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dataB, "server-secret"), secret, 0o600); err != nil {
		return err
	}
	var nodes []*serverProc
	defer func() {
		for _, s := range nodes {
			s.kill()
		}
	}()
	for _, c := range []struct {
		data, log string
		args      []string
	}{{dataA, logA, argsA}, {dataB, logB, argsB}} {
		s, err := startServer(ctx, bin, c.data, c.log, benchPollHold, c.args...)
		if err != nil {
			return err
		}
		s.token = apiToken
		nodes = append(nodes, s)
		if err := s.WaitReady(ctx, 30*time.Second); err != nil {
			return err
		}
	}
	for i, s := range nodes {
		nf := &nodeFigures{Node: string(rune('a' + i)), Agents: n / len(nodes)}
		if i < n%len(nodes) {
			nf.Agents++
		}
		r.Nodes = append(r.Nodes, nf)
		if _, _, err := s.forceGC(ctx, 3, 60*time.Second); err != nil {
			return fmt.Errorf("node %s warm-up: %w", nf.Node, err)
		}
		if nf.RSSBefore, err = s.settleRSS(ctx, 30*time.Second); err != nil {
			problem("node %s memory did not settle before the agents: %v", nf.Node, err)
		}
	}
	before := make([]metricSet, len(nodes))
	for i, s := range nodes {
		if before[i], err = s.metrics(ctx); err != nil {
			return err
		}
	}
	logf("cluster: nodes a (pid %d, %s) and b (pid %d, %s) on PostgreSQL, NATS on %s", nodes[0].Pid(), nodes[0].URL, nodes[1].Pid(), nodes[1].URL, natsAddr)

	// 2. Enroll, half of the fleet on each node.
	f := newFleet(nodes[0].URL, n, benchPollHold)
	f.bases = []string{nodes[0].URL, nodes[1].URL}
	runCtx, stopAgents := context.WithCancel(ctx)
	agentsStopped := false
	defer func() {
		if !agentsStopped {
			_ = f.stop(stopAgents, 30*time.Second)
		}
	}()
	logf("cluster: enrolling %d agents with %d workers", n, enrollWorkers)
	es, err := f.enrollAll(ctx, runCtx, tok.Token, enrollWorkers)
	if err := r.noteEnroll(es, err); err != nil {
		return err
	}
	logf("cluster: enrolled in %.1fs (%.0f/s, p50 %.1fms, p99 %.1fms)", r.EnrollSeconds, r.EnrollPerSec, r.EnrollP50MS, r.EnrollP99MS)

	// 3. Every poll held, on its node.
	t0 := time.Now()
	for i, s := range nodes {
		if _, err := waitMetric(ctx, s, "tether_agent_polls_held", float64(r.Nodes[i].Agents), 5*time.Minute); err != nil {
			counts, first := f.errorSummary()
			return fmt.Errorf("node %s: %w (poll errors %v, e.g. %v)", r.Nodes[i].Node, err, counts, first)
		}
	}
	r.AllHeldSeconds = time.Since(t0).Seconds()
	logf("cluster: every poll held after %.1fs; measuring idle CPU for %s", r.AllHeldSeconds, idleWindow())

	// 4. Idle: each node's CPU over the window, its memory at the end.
	cpu0 := make([]cpuSample, len(nodes))
	for i, s := range nodes {
		if cpu0[i], err = sampleCPU(s.Pid()); err != nil {
			return err
		}
	}
	sleepCtx(ctx, idleWindow()) // a measurement window, not synchronisation
	after := make([]metricSet, len(nodes))
	for i, s := range nodes {
		cpu1, err := sampleCPU(s.Pid())
		if err != nil {
			return err
		}
		nf := r.Nodes[i]
		use := cpuBetween(cpu0[i], cpu1)
		nf.IdleCPUPercent = use.Server
		if i == 0 {
			r.IdleWindowSeconds = use.Seconds
			r.MachineIdleCPU = use.Server + use.Bench + use.Other // every party
		}
		if nf.RSSHeld, _, err = procStatus(s.Pid()); err != nil {
			return err
		}
		if after[i], err = s.metrics(ctx); err != nil {
			return err
		}
		m0, m1 := before[i], after[i]
		per := float64(nf.Agents) * 1024
		nf.RSSPerAgentKiB = float64(nf.RSSHeld-nf.RSSBefore) / per
		nf.HeapPerAgent = (m1.sum("go_memstats_heap_inuse_bytes") - m0.sum("go_memstats_heap_inuse_bytes")) / per
		nf.StackPerAgent = (m1.sum("go_memstats_stack_inuse_bytes") - m0.sum("go_memstats_stack_inuse_bytes")) / per
		nf.GoroutinesHeld = int64(m1.sum("go_goroutines"))
		nf.HeldAtIdleEnd = m1.sum("tether_agent_polls_held")
		if nf.HeldAtIdleEnd < float64(nf.Agents)*0.99 {
			problem("node %s held only %.0f of its %d polls at the end of the idle window", nf.Node, nf.HeldAtIdleEnd, nf.Agents)
		}
		logf("cluster: node %s: idle CPU %.2f%% of a core; per agent: RSS %+.1f KiB, heap in use %+.1f KiB, stacks %+.1f KiB",
			nf.Node, nf.IdleCPUPercent, nf.RSSPerAgentKiB, nf.HeapPerAgent, nf.StackPerAgent)
	}

	// 5. Delivery: actions queued on node a for agents of both nodes.
	var okBefore float64
	for _, m := range after {
		okBefore += m.sum("tether_actions_completed_total", `ok="true"`)
	}
	lat0 := make([]cpuSample, len(nodes))
	for i, s := range nodes {
		if lat0[i], err = sampleCPU(s.Pid()); err != nil {
			return err
		}
	}
	if err := measureLatency(ctx, nodes[0], nodes, f, &r.result, okBefore, problem); err != nil {
		return err
	}
	for i, s := range nodes {
		if c, err := sampleCPU(s.Pid()); err == nil {
			r.Nodes[i].LatencyCPU = cpuBetween(lat0[i], c).Server
		}
	}

	// 6. Stop the agents, then the nodes.
	r.AgentErrors, r.AgentErrorFirst = f.errorSummary()
	if ec := f.errorCount(); ec > 0 {
		problem("agents saw %d poll errors: %v, e.g. %v", ec, r.AgentErrors, r.AgentErrorFirst)
	}
	agentsStopped = true
	if err := f.stop(stopAgents, 60*time.Second); err != nil {
		problem("%v", err)
	}
	// b first: a carries NATS.
	for i := len(nodes) - 1; i >= 0; i-- {
		if _, err := nodes[i].stop(30 * time.Second); err != nil {
			problem("node %s: %v", r.Nodes[i].Node, err)
		}
	}
	nodes = nil
	logf("cluster: done in %.0fs", time.Since(began).Seconds())
	return nil
}

func printClusterTable(r *clusterResult) {
	fmt.Printf("\nLong-poll cluster benchmark: %d agents over %d nodes, PostgreSQL, NATS, poll hold %s\n", r.Agents, len(r.Nodes), r.PollHold)
	fmt.Printf("enrollment %.0f/s (p50 %.1f ms, p99 %.1f ms); delivery p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d/%d delivered, %d duplicated)\n",
		r.EnrollPerSec, r.EnrollP50MS, r.EnrollP99MS, r.P50MS, r.P99MS, r.MaxMS, r.Received, r.Actions, r.Duplicates)
	for _, nf := range r.Nodes {
		fmt.Printf("node %s: %d agents, RSS %.1f KiB/agent (heap %.1f, stacks %.1f), idle CPU %.1f%% of a core, %d goroutines\n",
			nf.Node, nf.Agents, nf.RSSPerAgentKiB, nf.HeapPerAgent, nf.StackPerAgent, nf.IdleCPUPercent, nf.GoroutinesHeld)
	}
}
