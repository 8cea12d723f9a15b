package runner_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tetherdesk/tether/internal/testenv"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/actions"
	"github.com/tetherdesk/tether/agent/agenttest"
	"github.com/tetherdesk/tether/agent/runner"
	"github.com/tetherdesk/tether/agent/state"
	"github.com/tetherdesk/tether/shared/protocol"
)

// waitTimeout bounds every wait on a condition; it is generous because it
// only matters when a test is about to fail.
const waitTimeout = 10 * time.Second

// countLines counts the log lines containing every one of parts.
func countLines(logs *testenv.Lines, parts ...string) int {
	n := 0
	for _, line := range logs.Lines() {
		ok := line != ""
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			n++
		}
	}
	return n
}

var testInventory = protocol.Inventory{
	Hostname: "host-1", IPs: []string{"192.0.2.10"}, OS: "linux", Arch: "amd64",
	AgentVersion: "test", Users: []string{"alice"},
}

// testConfig is a runner config with small delays against srv.
func testConfig(t *testing.T, srv *agenttest.Server, dir string, logs *testenv.Lines) runner.Config {
	t.Helper()
	return runner.Config{
		Server:          srv.URL,
		Token:           "good-token",
		StateDir:        dir,
		Logger:          slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Inventory:       func(context.Context) protocol.Inventory { return testInventory },
		BackoffInitial:  time.Millisecond,
		BackoffMax:      5 * time.Millisecond,
		FatalBackoff:    5 * time.Millisecond,
		MinPollInterval: time.Nanosecond,
		StatusInterval:  time.Millisecond,
	}
}

// start runs a runner until the returned stop is called (or the test ends).
// stop returns what Run returned; done is closed when Run returns.
func start(t *testing.T, cfg runner.Config) (stop func() error, done <-chan struct{}) {
	t.Helper()
	r, err := runner.New(cfg)
	if err != nil {
		t.Fatalf("runner.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	var result error
	go func() {
		defer close(finished)
		result = r.Run(ctx)
	}()
	stop = func() error {
		cancel()
		select {
		case <-finished:
		case <-time.After(waitTimeout):
			t.Fatalf("runner did not stop within %s", waitTimeout)
		}
		return result
	}
	t.Cleanup(func() { stop() })
	return stop, finished
}

// counter is an action handler that counts its runs and can be held.
type counter struct {
	runs    atomic.Int32
	release chan struct{} // nil: return at once
}

func (c *counter) handle(ctx context.Context, payload json.RawMessage) (any, error) {
	n := c.runs.Add(1)
	if c.release != nil {
		select {
		case <-c.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return map[string]int32{"run": n}, nil
}

func okPolls(srv *agenttest.Server) int {
	n := 0
	for _, p := range srv.Polls() {
		if p.Status == http.StatusOK {
			n++
		}
	}
	return n
}

func TestEnrollOnceAndKeepIdentity(t *testing.T) {
	srv := agenttest.New(t, agenttest.Options{Hold: 20 * time.Millisecond})
	dir := filepath.Join(t.TempDir(), "state")
	logs := &testenv.Lines{}
	cfg := testConfig(t, srv, dir, logs)

	stop, _ := start(t, cfg)
	// Polls keep coming every 20 ms, so the server state changes often
	// enough to re-check the status file.
	srv.WaitFor(t, waitTimeout, "a successful poll in status.json", func() bool {
		st, err := state.ReadStatus(dir)
		return err == nil && !st.LastPollOK.IsZero()
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	enrolls := srv.Enrolls()
	if len(enrolls) != 1 {
		t.Fatalf("enrollments = %d, want 1", len(enrolls))
	}
	if e := enrolls[0]; e.Token != "good-token" || e.Protocol != protocol.Version || e.Inventory.Hostname != "host-1" {
		t.Errorf("enroll request = %+v", e)
	}
	if auth := srv.EnrollAuth()[0]; auth != "" {
		t.Errorf("enroll carried Authorization %q", auth)
	}

	idPath := filepath.Join(dir, state.IdentityFile)
	data, err := os.ReadFile(idPath)
	if err != nil {
		t.Fatal(err)
	}
	var id state.Identity
	if err := json.Unmarshal(data, &id); err != nil {
		t.Fatal(err)
	}
	if id.AgentID != "agent-1" || id.Secret == "" || id.Secret != srv.Secret("agent-1") || id.Server != srv.URL {
		t.Errorf("identity = %+v", id)
	}
	if runtime.GOOS != "windows" {
		checkMode(t, idPath, 0o600)
		checkMode(t, dir, 0o700|os.ModeDir)
	}

	// Second start: same identity, no enrollment, the token never again.
	before := len(srv.Polls())
	stop, _ = start(t, cfg)
	srv.WaitFor(t, waitTimeout, "a poll from the restarted agent", func() bool {
		polls := srv.Polls()
		return len(polls) > before && polls[len(polls)-1].Status == http.StatusOK
	})
	if err := stop(); err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if n := len(srv.Enrolls()); n != 1 {
		t.Errorf("enrollments after restart = %d, want 1", n)
	}
	for i, p := range srv.Polls() {
		if p.Auth != "Bearer "+id.Secret {
			t.Errorf("poll %d Authorization = %q, want the agent secret", i, p.Auth)
		}
		body, _ := json.Marshal(p.Req)
		if strings.Contains(string(body), "good-token") || strings.Contains(p.Auth, "good-token") {
			t.Errorf("poll %d carries the enrollment token", i)
		}
	}
	if strings.Contains(logs.String(), id.Secret) || strings.Contains(logs.String(), "good-token") {
		t.Error("logs contain the secret or the token")
	}

	st, err := state.ReadStatus(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.AgentID != "agent-1" || st.Server != srv.URL || st.LastPollOK.IsZero() || st.Updated.IsZero() {
		t.Errorf("status = %+v", st)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, state.StatusFile))
	if strings.Contains(string(raw), id.Secret) {
		t.Error("status.json contains the secret")
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode() & (os.ModePerm | os.ModeDir); got != want {
		t.Errorf("%s mode = %v, want %v", path, got, want)
	}
}

func TestServerURLChangeKeepsIdentity(t *testing.T) {
	srv := agenttest.New(t, agenttest.Options{Hold: 20 * time.Millisecond})
	dir := t.TempDir()
	logs := &testenv.Lines{}
	stop, _ := start(t, testConfig(t, srv, dir, logs))
	srv.WaitFor(t, waitTimeout, "a successful poll", func() bool { return okPolls(srv) >= 1 })
	stop()

	// Same server under another spelling of its URL: a different URL to the
	// agent, which must warn and keep its identity.
	cfg := testConfig(t, srv, dir, logs)
	cfg.Server = strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	before := okPolls(srv)
	stop, _ = start(t, cfg)
	srv.WaitFor(t, waitTimeout, "a poll after the URL change", func() bool { return okPolls(srv) > before })
	stop()
	if n := len(srv.Enrolls()); n != 1 {
		t.Errorf("enrollments = %d, want 1", n)
	}
	if countLines(logs, "level=WARN", "configured server differs") != 1 {
		t.Errorf("missing server-change warning in logs:\n%s", logs)
	}
}

// recorder records every delay the runner waits and fires at once.
type recorder struct {
	mu      sync.Mutex
	delays  []time.Duration
	changed chan struct{} // closed and replaced on every delay
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) after(d time.Duration) <-chan time.Time {
	r.mu.Lock()
	r.delays = append(r.delays, d)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- time.Now()
	return ch
}

func (r *recorder) get() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.delays...)
}

// waitFor blocks until at least n delays were recorded.
func (r *recorder) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		r.mu.Lock()
		got, ch := len(r.delays), r.changed
		r.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %d delays, got %d", n, got)
		}
	}
}

func TestRejectedCredentials(t *testing.T) {
	const fatal = 5 * time.Minute
	tests := []struct {
		name      string
		revoke    bool // reject the secret after enrolling, else the token
		service   bool
		wantErr   error
		wantInMsg string
	}{
		{name: "run/bad token", wantErr: runner.ErrBadToken, wantInMsg: "enrollment token rejected by server: enrollment token unknown or expired"},
		{name: "run/bad secret", revoke: true, wantErr: runner.ErrBadSecret, wantInMsg: "agent credentials rejected by server: agent unknown or revoked"},
		{name: "service/bad token", service: true},
		{name: "service/bad secret", revoke: true, service: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := agenttest.New(t, agenttest.Options{Hold: 20 * time.Millisecond})
			dir := t.TempDir()
			logs := &testenv.Lines{}
			cfg := testConfig(t, srv, dir, logs)
			rec := newRecorder()
			cfg.After = rec.after
			cfg.FatalBackoff = fatal
			cfg.RetryFatal = tt.service
			if tt.revoke {
				srv.Revoke()
			} else {
				srv.SetToken("another-token")
			}
			stop, done := start(t, cfg)

			if !tt.service {
				select {
				case <-done:
				case <-time.After(waitTimeout):
					t.Fatal("Run did not return")
				}
				err := stop()
				if !errors.Is(err, tt.wantErr) || err.Error() != tt.wantInMsg {
					t.Fatalf("Run = %v, want %q (errors.Is %v)", err, tt.wantInMsg, tt.wantErr)
				}
				_, idErr := state.ReadIdentity(dir)
				if tt.revoke != (idErr == nil) {
					t.Errorf("identity present = %v, want %v", idErr == nil, tt.revoke)
				}
				return
			}

			// The service keeps going, waiting a long jittered back-off
			// between attempts, and keeps its identity.
			srv.WaitFor(t, waitTimeout, "two rejected attempts", func() bool {
				if tt.revoke {
					return len(srv.Polls()) >= 2
				}
				return len(srv.Enrolls()) >= 2
			})
			if err := stop(); err != nil {
				t.Fatalf("Run = %v, want nil", err)
			}
			long := 0
			for _, d := range rec.get() {
				if d >= fatal*8/10 && d <= fatal*12/10 {
					long++
				}
			}
			if long == 0 {
				t.Errorf("no back-off within ±20%% of %s among %v", fatal, rec.get())
			}
			if _, err := state.ReadIdentity(dir); tt.revoke && err != nil {
				t.Errorf("identity lost after bad secret: %v", err)
			}
			if st, _ := state.ReadStatus(dir); !strings.Contains(st.LastError, "401") {
				t.Errorf("status last_error = %q, want the rejection", st.LastError)
			}
		})
	}
}

func TestServiceRecoversWhenTokenAccepted(t *testing.T) {
	srv := agenttest.New(t, agenttest.Options{Hold: 20 * time.Millisecond})
	srv.FailEnrolls(1, http.StatusUnauthorized, protocol.CodeBadToken, "token not yet valid")
	cfg := testConfig(t, srv, t.TempDir(), &testenv.Lines{})
	cfg.RetryFatal = true
	rec := newRecorder()
	cfg.After = rec.after
	start(t, cfg)
	srv.WaitFor(t, waitTimeout, "enrollment on the second attempt", func() bool { return okPolls(srv) >= 1 })
	if n := len(srv.Enrolls()); n != 2 {
		t.Errorf("enrollments = %d, want 2", n)
	}
}

func TestActionRunsOncePerID(t *testing.T) {
	tests := []struct {
		name string
		// reofferWhileRunning re-queues the action after the ack but before
		// it finishes; otherwise after its result arrived.
		reofferWhileRunning bool
	}{
		{name: "re-offered while running", reofferWhileRunning: true},
		{name: "re-offered after result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := agenttest.New(t, agenttest.Options{})
			logs := &testenv.Lines{}
			cfg := testConfig(t, srv, t.TempDir(), logs)
			c := &counter{release: make(chan struct{})}
			cfg.Handlers = map[string]actions.Handler{"test.count": c.handle}
			start(t, cfg)

			a := protocol.Action{ID: "act-1", Type: "test.count"}
			srv.Queue(a)
			srv.WaitFor(t, waitTimeout, "the ack", func() bool { return ackCount(srv, a.ID) >= 1 })
			if tt.reofferWhileRunning {
				srv.Queue(a)
				srv.WaitFor(t, waitTimeout, "a second ack", func() bool { return ackCount(srv, a.ID) >= 2 })
				close(c.release)
				srv.WaitFor(t, waitTimeout, "the result", func() bool { return len(srv.Results(a.ID)) >= 1 })
			} else {
				close(c.release)
				srv.WaitFor(t, waitTimeout, "the result", func() bool { return len(srv.Results(a.ID)) >= 1 })
				srv.Queue(a)
				srv.WaitFor(t, waitTimeout, "the result re-reported", func() bool { return len(srv.Results(a.ID)) >= 2 })
			}
			if n := c.runs.Load(); n != 1 {
				t.Errorf("runs = %d, want 1", n)
			}
			for _, res := range srv.Results(a.ID) {
				if !res.OK || string(res.Output) != `{"run":1}` {
					t.Errorf("result = %+v", res)
				}
			}
			if n := countLines(logs, "level=INFO", `msg="running action"`, "action_id=act-1", "type=test.count"); n != 1 {
				t.Errorf(`"running action" lines = %d, want 1`, n)
			}
		})
	}
}

func ackCount(srv *agenttest.Server, id string) int {
	n := 0
	for _, p := range srv.Polls() {
		for _, a := range p.Req.Acks {
			if a == id {
				n++
			}
		}
	}
	return n
}

func TestLostAnswerResendsResultWithoutRerun(t *testing.T) {
	srv := agenttest.New(t, agenttest.Options{})
	cfg := testConfig(t, srv, t.TempDir(), &testenv.Lines{})
	c := &counter{release: make(chan struct{})}
	cfg.Handlers = map[string]actions.Handler{"test.count": c.handle}
	start(t, cfg)

	srv.Queue(protocol.Action{ID: "act-1", Type: "test.count"})
	heldAfterAck(t, srv, "act-1")
	// The poll carrying the result is processed, then its answer lost.
	srv.FailPolls(1, http.StatusInternalServerError, protocol.CodeInternal, true)
	close(c.release)
	srv.WaitFor(t, waitTimeout, "the result twice", func() bool { return len(srv.Results("act-1")) >= 2 })
	if n := c.runs.Load(); n != 1 {
		t.Errorf("runs = %d, want 1", n)
	}
	// Delivered once more after the 200, then dropped from the outbox.
	srv.WaitFor(t, waitTimeout, "a waiting poll without results", func() bool {
		polls := srv.Polls()
		last := polls[len(polls)-1]
		return last.Req.Wait && len(last.Req.Results) == 0
	})
}

// heldAfterAck waits until the agent acknowledged id and then sits in a held
// poll, and returns that poll's index.
func heldAfterAck(t *testing.T, srv *agenttest.Server, id string) int {
	t.Helper()
	idx := -1
	srv.WaitFor(t, waitTimeout, "a held poll after the ack", func() bool {
		acked := false
		for i, p := range srv.Polls() {
			for _, a := range p.Req.Acks {
				acked = acked || a == id
			}
			if acked && p.Held && p.Status == 0 && !p.Cancelled {
				idx = i
				return true
			}
		}
		return false
	})
	return idx
}

func TestInterruptedActionReportedAfterRestart(t *testing.T) {
	srv := agenttest.New(t, agenttest.Options{})
	dir := t.TempDir()
	cfg := testConfig(t, srv, dir, &testenv.Lines{})
	c := &counter{}
	cfg.Handlers = map[string]actions.Handler{"test.count": c.handle}

	// A previous agent process crashed while running two actions.
	store, err := state.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	j, err := store.OpenJournal(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"act-offered", "act-silent"} {
		if err := j.Start(id, "test.count"); err != nil {
			t.Fatal(err)
		}
	}

	// The server still offers one of them; the other it considers acked.
	srv.Queue(protocol.Action{ID: "act-offered", Type: "test.count"})
	start(t, cfg)
	for _, id := range []string{"act-offered", "act-silent"} {
		srv.WaitFor(t, waitTimeout, "result of "+id, func() bool { return len(srv.Results(id)) >= 1 })
		res := srv.Results(id)[0]
		if res.OK || res.Error != runner.InterruptedError {
			t.Errorf("%s result = %+v, want interrupted", id, res)
		}
	}
	if n := c.runs.Load(); n != 0 {
		t.Errorf("runs = %d, want 0", n)
	}
}

func TestResultCutsHeldPoll(t *testing.T) {
	srv := agenttest.New(t, agenttest.Options{Hold: time.Minute})
	cfg := testConfig(t, srv, t.TempDir(), &testenv.Lines{})
	c := &counter{release: make(chan struct{})}
	cfg.Handlers = map[string]actions.Handler{"test.count": c.handle}
	start(t, cfg)

	srv.Queue(protocol.Action{ID: "act-1", Type: "test.count"})
	held := heldAfterAck(t, srv, "act-1")
	close(c.release)
	// Far shorter than the hold: the agent must cut it, not wait it out.
	srv.WaitFor(t, 5*time.Second, "the result", func() bool { return len(srv.Results("act-1")) == 1 })
	srv.WaitFor(t, 5*time.Second, "the held poll cancelled", func() bool { return srv.Polls()[held].Cancelled })
	for _, p := range srv.Polls() {
		if len(p.Req.Results) > 0 && p.Req.Wait {
			t.Errorf("results sent in a waiting poll: %+v", p.Req)
		}
	}
}

func TestInventorySentWhenChanged(t *testing.T) {
	srv := agenttest.New(t, agenttest.Options{Hold: 5 * time.Millisecond})
	cfg := testConfig(t, srv, t.TempDir(), &testenv.Lines{})
	var inv atomic.Pointer[protocol.Inventory]
	first := testInventory
	inv.Store(&first)
	cfg.Inventory = func(context.Context) protocol.Inventory { return *inv.Load() }
	cfg.InventoryInterval = time.Millisecond
	start(t, cfg)

	srv.WaitFor(t, waitTimeout, "three answered polls", func() bool { return okPolls(srv) >= 3 })
	polls := srv.Polls()
	if polls[0].Req.Inventory == nil || polls[0].Req.Inventory.Hostname != "host-1" {
		t.Fatalf("first poll inventory = %+v", polls[0].Req.Inventory)
	}
	for i, p := range polls[1:3] {
		if p.Req.Inventory != nil {
			t.Errorf("poll %d resent an unchanged inventory", i+1)
		}
	}

	changed := testInventory
	changed.Hostname = "host-2"
	inv.Store(&changed)
	changedAt := -1
	srv.WaitFor(t, waitTimeout, "the changed inventory", func() bool {
		for i, p := range srv.Polls() {
			if p.Req.Inventory != nil && p.Req.Inventory.Hostname == "host-2" {
				changedAt = i
				return true
			}
		}
		return false
	})
	srv.WaitFor(t, waitTimeout, "two more answered polls", func() bool { return len(srv.Polls()) >= changedAt+3 })
	for _, p := range srv.Polls()[changedAt+1 : changedAt+3] {
		if p.Req.Inventory != nil {
			t.Errorf("changed inventory sent again: %+v", p.Req.Inventory)
		}
	}

	// inventory.refresh forces a resend of the unchanged inventory.
	before := len(srv.Polls())
	srv.Queue(protocol.Action{ID: "inv-1", Type: protocol.ActionInventoryRefresh})
	srv.WaitFor(t, waitTimeout, "the refresh result", func() bool { return len(srv.Results("inv-1")) == 1 })
	srv.WaitFor(t, waitTimeout, "the forced inventory", func() bool {
		for _, p := range srv.Polls()[before:] {
			if p.Req.Inventory != nil && p.Req.Inventory.Hostname == "host-2" {
				return true
			}
		}
		return false
	})
	res := srv.Results("inv-1")[0]
	var got protocol.Inventory
	if err := json.Unmarshal(res.Output, &got); err != nil || !res.OK || got.Hostname != "host-2" {
		t.Errorf("refresh result = %+v (%v)", res, err)
	}
}

func TestBuiltinActionsAndPolicy(t *testing.T) {
	srv := agenttest.New(t, agenttest.Options{})
	dir := t.TempDir()
	logs := &testenv.Lines{}
	start(t, testConfig(t, srv, dir, logs))

	srv.SetPolicy(protocol.Policy{Version: 3, Doc: json.RawMessage(`{"modes":["active"]}`)})
	srv.Queue(
		protocol.Action{ID: "echo-1", Type: protocol.ActionEcho, Payload: json.RawMessage(`{"message":"hi","delay_ms":1}`)},
		protocol.Action{ID: "odd-1", Type: "no.such.type"},
	)
	srv.WaitFor(t, waitTimeout, "both results", func() bool {
		return len(srv.Results("echo-1")) > 0 && len(srv.Results("odd-1")) > 0
	})
	if res := srv.Results("echo-1")[0]; !res.OK || string(res.Output) != `{"message":"hi"}` {
		t.Errorf("echo result = %+v", res)
	}
	if res := srv.Results("odd-1")[0]; res.OK || res.Error != `unsupported action type "no.such.type"` {
		t.Errorf("unsupported result = %+v", res)
	}
	srv.WaitFor(t, waitTimeout, "a poll with policy version 3", func() bool {
		polls := srv.Polls()
		return polls[len(polls)-1].Req.PolicyVersion == 3
	})
	store, err := state.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := store.LoadPolicy(); err != nil || p == nil || p.Version != 3 {
		t.Errorf("stored policy = %+v, %v", p, err)
	}
	if countLines(logs, `msg="policy received"`, "version=3") != 1 {
		t.Errorf("policy not logged:\n%s", logs)
	}
	if strings.Contains(logs.String(), `"hi"`) {
		t.Error("logs contain an action payload")
	}
}

func TestBackoffGrowsAndResets(t *testing.T) {
	srv := agenttest.New(t, agenttest.Options{Hold: 5 * time.Millisecond})
	cfg := testConfig(t, srv, t.TempDir(), &testenv.Lines{})
	cfg.BackoffInitial = time.Millisecond
	cfg.BackoffMax = 4 * time.Millisecond
	cfg.Rand = func(n int64) int64 { return n - 1 } // always the ceiling
	rec := newRecorder()
	cfg.After = rec.after
	srv.FailPolls(5, http.StatusServiceUnavailable, protocol.CodeUnavailable, false)
	start(t, cfg)
	srv.WaitFor(t, waitTimeout, "a poll after the failures", func() bool { return okPolls(srv) >= 1 })
	srv.FailPolls(2, http.StatusInternalServerError, protocol.CodeInternal, false)
	srv.WaitFor(t, waitTimeout, "a poll after the second failures", func() bool { return okPolls(srv) >= 2 })

	ms := time.Millisecond
	want := []time.Duration{1 * ms, 2 * ms, 4 * ms, 4 * ms, 4 * ms, 1 * ms, 2 * ms}
	got := rec.get()
	if fmt.Sprint(got[:min(len(got), len(want))]) != fmt.Sprint(want) {
		t.Errorf("delays = %v, want %v first", got, want)
	}
}

func TestTLSPinning(t *testing.T) {
	srv := agenttest.New(t, agenttest.Options{TLS: true, Hold: 5 * time.Millisecond})
	sum := sha256.Sum256(srv.HTTPServer().Certificate().Raw)
	good := strings.ToUpper(hex.EncodeToString(sum[:]))
	wrong := strings.Repeat("00", 32)

	cfg := testConfig(t, srv, t.TempDir(), &testenv.Lines{})
	cfg.Fingerprint = good
	stop, _ := start(t, cfg)
	srv.WaitFor(t, waitTimeout, "a poll over pinned TLS", func() bool { return okPolls(srv) >= 1 })
	stop()

	logs := &testenv.Lines{}
	cfg = testConfig(t, srv, t.TempDir(), logs)
	cfg.Fingerprint = wrong
	rec := newRecorder()
	cfg.After = rec.after
	stop, _ = start(t, cfg)
	// Wait on the agent's own retries; the server never sees a request.
	rec.waitFor(t, 3)
	stop()
	if n := len(srv.Enrolls()); n != 1 {
		t.Errorf("enrollments = %d, want only the pinned one", n)
	}
	if !strings.Contains(logs.String(), "does not match the pinned fingerprint") {
		t.Errorf("mismatch not logged:\n%s", logs)
	}
}

// TestEnrollRetrySendsSameNonce: when an enrollment answer is lost, the
// retry carries the same nonce, so the server can return the same endpoint.
func TestEnrollRetrySendsSameNonce(t *testing.T) {
	srv := agenttest.New(t, agenttest.Options{Hold: 20 * time.Millisecond})
	srv.FailEnrolls(1, http.StatusBadGateway, "", "answer lost")
	dir := filepath.Join(t.TempDir(), "state")
	cfg := testConfig(t, srv, dir, &testenv.Lines{})
	stop, _ := start(t, cfg)
	// Polls follow enrollment, so the condition is re-checked often.
	srv.WaitFor(t, waitTimeout, "enrollment on the second attempt, and the nonce dropped", func() bool {
		_, errID := os.Stat(filepath.Join(dir, state.IdentityFile))
		_, errNonce := os.Stat(filepath.Join(dir, state.NonceFile))
		return len(srv.Enrolls()) >= 2 && errID == nil && os.IsNotExist(errNonce)
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	es := srv.Enrolls()
	if es[0].Nonce == "" || len(es[0].Nonce) < 16 || es[0].Nonce != es[1].Nonce {
		t.Fatalf("nonces %q then %q: want one non-empty nonce reused", es[0].Nonce, es[1].Nonce)
	}
}
