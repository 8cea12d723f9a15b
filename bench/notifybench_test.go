//go:build unix

package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// TETHER_BENCH_NOTIFY_AGENTS: the fleet one notification goes to.
var benchNotifyAgents = envInt("TETHER_BENCH_NOTIFY_AGENTS", 10000)

// notifyResult is the notification benchmark's figures (out/notify.json).
type notifyResult struct {
	Agents   int    `json:"agents"`
	Store    string `json:"store"`
	PollHold string `json:"poll_hold"`
	// Delivery: from the approval's answer until each agent had it.
	DeliveredAll  int     `json:"delivered_agents"`
	DeliveryP50MS float64 `json:"delivery_p50_ms"`
	DeliveryP99MS float64 `json:"delivery_p99_ms"`
	DeliveryMaxMS float64 `json:"delivery_max_ms"`
	ApproveMS     float64 `json:"approve_call_ms"` // the approval's own round trip (it wakes every target)
	// Responses: from the approval until the report counted all of them.
	AllAnsweredS float64 `json:"all_responses_in_report_s"`
	Duplicates   int     `json:"duplicate_handings"`
	// The report query with every endpoint answered, and its CSV.
	ReportP50MS float64 `json:"report_p50_ms"`
	ReportMaxMS float64 `json:"report_max_ms"`
	CSVMS       float64 `json:"report_csv_ms"`
	// Server RSS with every poll held, before the notification, and
	// after every response was folded.
	RSSHeld     int64 `json:"rss_held_bytes"`
	RSSAfter    int64 `json:"rss_after_bytes"`
	RSSGrowthKB int64 `json:"rss_growth_kib"`
	// The Go heap in use at the same two moments (after a GC).
	HeapHeld     int64    `json:"heap_inuse_held_bytes"`
	HeapAfter    int64    `json:"heap_inuse_after_bytes"`
	HeapGrowthKB int64    `json:"heap_growth_kib"`
	Problems     []string `json:"problems,omitempty"`
	Warnings     []string `json:"warnings,omitempty"`
}

// BenchmarkNotification sends one approved notification to a fleet of
// simulated agents holding polls: how long until every agent has it (p99
// against the poll hold), how long until the report has every response,
// and what the report query costs with all of them in.
func BenchmarkNotification(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads the server's RSS from /proc: Linux only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	bin, err := buildServer(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		b.Fatal(err)
	}
	r := &notifyResult{Agents: benchNotifyAgents, Store: "sqlite", PollHold: benchPollHold.String()}
	err = runNotify(ctx, bin, b.TempDir(), r)
	reportRun(b, r.Problems, r.Warnings, err)
	b.ReportMetric(r.DeliveryP50MS, "delivery-p50-ms")
	b.ReportMetric(r.DeliveryP99MS, "delivery-p99-ms")
	b.ReportMetric(r.AllAnsweredS, "all-answered-s")
	b.ReportMetric(r.ReportP50MS, "report-p50-ms")
	b.ReportMetric(float64(r.RSSGrowthKB), "rss-growth-KiB")
	fmt.Printf("notification to %d agents: delivery p50 %.0f ms, p99 %.0f ms, max %.0f ms (poll hold %s); approve call %.0f ms; "+
		"all %d responses in the report after %.1f s; report query p50 %.0f ms, max %.0f ms; CSV (all rows) %.0f ms; "+
		"server RSS %.1f → %.1f MiB (%+d KiB), Go heap in use %.1f → %.1f MiB (%+d KiB)\n",
		r.Agents, r.DeliveryP50MS, r.DeliveryP99MS, r.DeliveryMaxMS, r.PollHold, r.ApproveMS, r.Agents, r.AllAnsweredS,
		r.ReportP50MS, r.ReportMaxMS, r.CSVMS, float64(r.RSSHeld)/(1<<20), float64(r.RSSAfter)/(1<<20), r.RSSGrowthKB,
		float64(r.HeapHeld)/(1<<20), float64(r.HeapAfter)/(1<<20), r.HeapGrowthKB)
	if err := writeJSON(filepath.Join(outDir, "notify.json"), r); err != nil {
		b.Error(err)
	}
	if len(r.Problems) > 0 {
		b.Errorf("%d problem(s): %v", len(r.Problems), r.Problems)
	}
}

func runNotify(ctx context.Context, bin, tmp string, r *notifyResult) error {
	n := r.Agents
	problem := func(format string, args ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, args...)) }
	warn := func(format string, args ...any) { r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...)) }

	data := filepath.Join(tmp, "data")
	logPath := filepath.Join(outDir, "server-notify.log")
	if err := os.WriteFile(logPath, nil, 0o644); err != nil {
		return err
	}
	// Set-up process: the administrator's and the approver's API tokens
	// (password hashes stay out of the measured process) and the
	// enrollment token.
	setup, err := startServer(ctx, bin, data, logPath, benchPollHold)
	if err != nil {
		return err
	}
	var adminTok, approverTok, enrollTok string
	err = func() error {
		defer setup.stop(30 * time.Second)
		if err := setup.WaitReady(ctx, 30*time.Second); err != nil {
			return err
		}
		if err := setup.signIn(ctx); err != nil {
			return err
		}
		adminTok = setup.token
		const pw = "bench approver password"
		if err := setup.api(ctx, http.MethodPost, "/api/v1/users", protocol.CreateUserRequest{Name: "approver", Password: pw,
			Roles: []string{perm.RoleNotifyApprover}}, nil, http.StatusCreated); err != nil {
			return err
		}
		if approverTok, err = setup.tokenFor(ctx, "approver", pw); err != nil {
			return err
		}
		enrollTok, err = setup.EnrollmentToken(ctx, nil)
		return err
	}()
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}

	srv, err := startServer(ctx, bin, data, logPath, benchPollHold)
	if err != nil {
		return err
	}
	defer srv.kill()
	srv.token = adminTok
	heap := func() int64 {
		m, err := srv.metrics(ctx)
		if err != nil {
			warn("metrics: %v", err)
			return 0
		}
		return int64(m.sum("go_memstats_heap_inuse_bytes"))
	}
	if err := srv.WaitReady(ctx, 30*time.Second); err != nil {
		return err
	}
	f := newFleet(srv.URL, n, benchPollHold)
	f.answer = "ok"
	runCtx, stopAgents := context.WithCancel(ctx)
	defer func() { _ = f.stop(stopAgents, 30*time.Second) }()
	logf("notify: enrolling %d agents", n)
	if _, err := f.enrollAll(ctx, runCtx, enrollTok, enrollWorkers); err != nil {
		return err
	}
	if _, err := waitMetric(ctx, srv, "tether_agent_polls_held", float64(n), 3*time.Minute); err != nil {
		return err
	}
	if _, _, err := srv.forceGC(ctx, 3, 60*time.Second); err != nil {
		return err
	}
	if r.RSSHeld, err = srv.settleRSS(ctx, 30*time.Second); err != nil {
		warn("RSS did not settle with every poll held: %v", err)
	}
	r.HeapHeld = heap()

	spec := protocol.NotificationSpec{
		NotificationContent: protocol.NotificationContent{Title: "Restart tonight", Message: "Save your work before 22:00.",
			Buttons: []protocol.NotificationButton{{Label: "OK", Value: "ok"}, {Label: "Not now", Value: "later"}}},
		Schedule: protocol.NotificationSchedule{Expires: time.Now().Add(time.Hour)},
		Targets:  protocol.NotificationTargets{Groups: []string{"Default"}},
	}
	var info protocol.NotificationInfo
	if err := srv.api(ctx, http.MethodPost, "/api/v1/notifications", spec, &info, http.StatusCreated); err != nil {
		return err
	}
	approver := &serverProc{Server: srv.Server, client: srv.client, token: approverTok}
	logf("notify: approving %s for %d agents", info.ID, n)
	t0 := time.Now()
	if err := approver.api(ctx, http.MethodPost, "/api/v1/notifications/"+info.ID+"/approve", protocol.NotificationDecide{Version: 1}, nil, http.StatusOK); err != nil {
		return err
	}
	r.ApproveMS = ms(time.Since(t0))

	// Every response in the report.
	deadline := time.Now().Add(5 * time.Minute)
	var rep protocol.NotificationReport
	for {
		if err := srv.api(ctx, http.MethodGet, "/api/v1/notifications/"+info.ID+"/report?status=none", nil, &rep, http.StatusOK); err != nil {
			return err
		}
		if rep.Responses["ok"] == n {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after 5 min the report counts %d of %d responses (%v)", rep.Responses["ok"], n, rep.Statuses)
		}
		sleepCtx(ctx, 200*time.Millisecond) // polling the report, not synchronising
	}
	r.AllAnsweredS = time.Since(t0).Seconds()

	f.mu.Lock()
	arr := f.notified[info.ID]
	f.mu.Unlock()
	lat := make([]time.Duration, 0, len(arr))
	agents := map[int]bool{}
	for _, a := range arr {
		if agents[a.agent] {
			r.Duplicates++
		}
		agents[a.agent] = true
		lat = append(lat, a.at.Sub(t0))
	}
	slices.Sort(lat)
	r.DeliveredAll = len(agents)
	r.DeliveryP50MS, r.DeliveryP99MS, r.DeliveryMaxMS = ms(pct(lat, 50)), ms(pct(lat, 99)), ms(pct(lat, 100))
	if r.DeliveredAll != n {
		problem("%d of %d agents got the notification", r.DeliveredAll, n)
	}
	if time.Duration(r.DeliveryP99MS*float64(time.Millisecond)) >= benchPollHold {
		problem("delivery p99 %.0f ms is not under the poll hold %s", r.DeliveryP99MS, benchPollHold)
	}

	// The report query with all of them in (counts over all, the first
	// page of the table as the console asks), and the CSV of every row.
	var took []time.Duration
	for range 5 {
		t := time.Now()
		if err := srv.api(ctx, http.MethodGet, "/api/v1/notifications/"+info.ID+"/report", nil, &rep, http.StatusOK); err != nil {
			return err
		}
		took = append(took, time.Since(t))
	}
	if rep.Matching != n || rep.Targeted != n || rep.Statuses["responded"] != n {
		problem("the report counts %d endpoints (%d targeted), %d responded", rep.Matching, rep.Targeted, rep.Statuses["responded"])
	}
	slices.Sort(took)
	r.ReportP50MS, r.ReportMaxMS = ms(pct(took, 50)), ms(pct(took, 100))
	if r.ReportP50MS >= 200 {
		problem("report query p50 %.0f ms, not under 200 ms", r.ReportP50MS)
	}
	t := time.Now()
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+srv.token)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/notifications/"+info.ID+"/report.csv", nil)
	req.Header = hdr
	resp, err := srv.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r.CSVMS = ms(time.Since(t))

	if _, _, err := srv.forceGC(ctx, 3, 60*time.Second); err != nil {
		return err
	}
	if r.RSSAfter, err = srv.settleRSS(ctx, 30*time.Second); err != nil {
		warn("RSS did not settle after the responses: %v", err)
	}
	r.HeapAfter = heap()
	r.RSSGrowthKB, r.HeapGrowthKB = (r.RSSAfter-r.RSSHeld)>>10, (r.HeapAfter-r.HeapHeld)>>10
	return nil
}
