package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/shared/protocol"
)

const wait = 30 * time.Second

// TestMain lets the test binary act as a session helper.
func TestMain(m *testing.M) {
	if mode := os.Getenv("SUPERVISOR_FAKE_HELPER"); mode != "" {
		os.Exit(fakeHelper(mode, os.Args[len(os.Args)-2], os.Args[len(os.Args)-1]))
	}
	os.Exit(m.Run())
}

// fakeHelper connects and says ready; "crash" then exits 1, "serve"
// answers each start with a state report until the service goes away.
// "ask" is "serve" whose users never answer an attended prompt (it
// reports awaiting_acceptance), except too late: when the session is
// dropped, it reports it accepted. "idle" never connects (the test
// connects in its place) and waits to be stopped.
func fakeHelper(mode, socket, desktop string) int {
	if mode == "idle" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		<-ctx.Done()
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := ipc.Dial(ctx, socket)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer c.Close()
	if err := c.Send(ipc.Msg{Type: ipc.TypeReady, Desktop: desktop, PID: os.Getpid()}); err != nil {
		return 2
	}
	if mode == "crash" {
		return 1
	}
	for {
		m, err := c.Recv()
		if err != nil {
			return 0
		}
		switch m.Type {
		case ipc.TypeStart:
			// A resumed session reports active (as the real helper does
			// once a viewer's screen opens), a new one connecting.
			st := protocol.SessionConnecting
			switch {
			case m.Resume:
				st = protocol.SessionActive
			case mode == "ask" && m.Start.Attended:
				st = protocol.SessionAwaitingAcceptance
			}
			c.Send(ipc.Msg{Type: ipc.TypeState, SessionID: m.Start.SessionID, State: st})
		case ipc.TypeDrop:
			if mode == "ask" {
				// The user answers as the session leaves this desktop.
				c.Send(ipc.Msg{Type: ipc.TypeState, SessionID: m.SessionID, State: protocol.SessionConnecting})
			}
			c.Send(ipc.Msg{Type: ipc.TypeState, SessionID: m.SessionID, State: ipc.StateDropped})
		}
	}
}

// records collects log records by message.
type records struct {
	mu   sync.Mutex
	msgs map[string][]slog.Record
	ch   chan struct{}
}

func newRecords() *records {
	return &records{msgs: map[string][]slog.Record{}, ch: make(chan struct{}, 1)}
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.msgs[rec.Message] = append(r.msgs[rec.Message], rec)
	r.mu.Unlock()
	select {
	case r.ch <- struct{}{}:
	default:
	}
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

func (r *records) count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs[msg])
}

// stateSeen reports whether desktop reported state for session id
// (ipc.StateDropped: confirmed a drop).
func (r *records) stateSeen(id, desktop string, state protocol.SessionState) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg := "helper session state"
	if state == ipc.StateDropped {
		msg = "helper dropped a session"
	}
	for _, rec := range r.msgs[msg] {
		got := map[string]string{}
		rec.Attrs(func(a slog.Attr) bool { got[a.Key] = a.Value.String(); return true })
		if got["session_id"] == id && got["desktop"] == desktop && (got["state"] == string(state) || msg != "helper session state") {
			return true
		}
	}
	return false
}

func (r *records) waitState(t *testing.T, id, desktop string, state protocol.SessionState) {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for !r.stateSeen(id, desktop, state) {
		select {
		case <-r.ch:
		case <-deadline.C:
			t.Fatalf("helper of %s never reported %s for %s", desktop, state, id)
		}
	}
}

func (r *records) waitFor(t *testing.T, msg string, n int) {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for r.count(msg) < n {
		select {
		case <-r.ch:
		case <-deadline.C:
			t.Fatalf("log %q seen %d times, want %d", msg, r.count(msg), n)
		}
	}
}

func socketPath(t *testing.T) string {
	dir, err := os.MkdirTemp("", "sup")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "helper.sock")
}

type fixture struct {
	sup    *Supervisor
	recs   *records
	starts atomic.Int32
	done   chan error
	stop   func()
}

func start(t *testing.T, mode string, desks []Desktop, mutate func(*Config)) *fixture {
	f := &fixture{recs: newRecords(), done: make(chan error, 1)}
	sock := socketPath(t)
	cfg := Config{
		SocketPath: sock,
		Server:     "http://127.0.0.1:1",
		Desktops:   func(context.Context) ([]Desktop, error) { return desks, nil },
		Command: func(ctx context.Context, d Desktop) *exec.Cmd {
			f.starts.Add(1)
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$", sock, d.Key)
			cmd.Env = append(os.Environ(), "SUPERVISOR_FAKE_HELPER="+mode)
			return cmd
		},
		Logger:         slog.New(f.recs),
		BackoffInitial: 10 * time.Millisecond,
		BackoffMax:     40 * time.Millisecond,
		ReadyTimeout:   wait,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	sup, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.sup = sup
	ctx, cancel := context.WithCancel(context.Background())
	go func() { f.done <- sup.Run(ctx) }()
	var once sync.Once
	f.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-f.done:
			case <-time.After(wait):
				t.Error("supervisor did not stop")
			}
		})
	}
	t.Cleanup(f.stop)
	return f
}

func TestHandOverToHelper(t *testing.T) {
	f := start(t, "serve", []Desktop{{Key: "d1", UID: -1, Active: true}}, nil)
	payload, _ := json.Marshal(protocol.ScreenShareStart{SessionID: "s1", AgentToken: "tok", Attended: true})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	out, err := f.sup.Handle(ctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	if ho, ok := out.(HandOutput); !ok || !ho.HandedOver || ho.Desktop != "d1" {
		t.Errorf("Handle = %+v", out)
	}
	f.recs.waitFor(t, "helper session state", 1)
	if n := f.starts.Load(); n != 1 {
		t.Errorf("helper started %d times, want 1", n)
	}
}

func TestRestartsCrashedHelper(t *testing.T) {
	f := start(t, "crash", []Desktop{{Key: "d1", UID: -1, Active: true}}, nil)
	f.recs.waitFor(t, "session helper exited; restarting it", 3)
	if n := f.starts.Load(); n < 3 {
		t.Errorf("helper started %d times, want at least 3", n)
	}
}

func TestStopsHelpersOnShutdown(t *testing.T) {
	f := start(t, "serve", []Desktop{{Key: "d1", UID: -1, Active: true}}, nil)
	f.recs.waitFor(t, "session helper connected", 1)
	// Run returns only after the helper is gone.
	f.stop()
	if n := f.recs.count("session helper stopped"); n != 1 {
		t.Errorf("helper stopped %d times, want 1", n)
	}
}

func TestNoDesktop(t *testing.T) {
	f := start(t, "serve", nil, func(c *Config) { c.ReadyTimeout = 50 * time.Millisecond })
	payload, _ := json.Marshal(protocol.ScreenShareStart{SessionID: "s1", AgentToken: "tok"})
	_, err := f.sup.Handle(context.Background(), payload)
	if !errors.Is(err, ErrNoDesktop) {
		t.Fatalf("Handle error = %v, want ErrNoDesktop", err)
	}
	if _, err := f.sup.Handle(context.Background(), []byte(`{"session_id":""}`)); err == nil {
		t.Error("Handle accepted a payload without a session")
	}
}

func TestOwnDesktop(t *testing.T) {
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	if _, err := OwnDesktop(get)(context.Background()); !errors.Is(err, ErrNoDesktop) {
		t.Errorf("no DISPLAY: %v", err)
	}
	env["DISPLAY"], env["XAUTHORITY"] = ":42", "/tmp/xa"
	ds, err := OwnDesktop(get)(context.Background())
	if err != nil || len(ds) != 1 || !ds[0].Active || ds[0].UID != -1 {
		t.Fatalf("OwnDesktop = %+v, %v", ds, err)
	}
	want := []string{"DISPLAY=:42", "XAUTHORITY=/tmp/xa"}
	if fmt.Sprint(ds[0].Env) != fmt.Sprint(want) {
		t.Errorf("env %v, want %v", ds[0].Env, want)
	}
}

func TestHelperEnv(t *testing.T) {
	// The service's own desktop (run mode on a Wayland session) does not
	// leak into an X desktop's helper.
	got := helperEnv([]string{"PATH=/bin", "TETHER_TOKEN=secret", "HOME=/root", "WAYLAND_DISPLAY=wayland-0", "DISPLAY=:0"},
		Desktop{Env: []string{"DISPLAY=:1"}})
	want := []string{"PATH=/bin", "HOME=/root", "DISPLAY=:1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("helperEnv = %v, want %v", got, want)
	}
}

// TestHelperCommandLoginScreen: a login screen's helper is told so, and
// then shows no dialog whatever account it runs as.
func TestHelperCommandLoginScreen(t *testing.T) {
	c := Config{SocketPath: "/run/tether.sock"}
	for _, tc := range []struct {
		d    Desktop
		want bool
	}{
		{Desktop{Key: "x11:greeter::0", UID: -1, Greeter: true}, true},
		{Desktop{Key: "x11:1000::1", UID: 1000}, false},
	} {
		cmd := c.defaultCommand(t.Context(), tc.d)
		if got := slices.Contains(cmd.Args, "--login-screen"); got != tc.want {
			t.Errorf("%s: --login-screen in %v = %v, want %v", tc.d.Key, cmd.Args, got, tc.want)
		}
	}
}

// switchable is a desktop source whose active desktop the test sets.
type switchable struct {
	mu     sync.Mutex
	desks  []Desktop
	active string
}

func (sw *switchable) list(context.Context) ([]Desktop, error) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	out := slices.Clone(sw.desks)
	for i := range out {
		out[i].Active = out[i].Key == sw.active
	}
	return out, nil
}

func (sw *switchable) set(active string, desks ...Desktop) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.active = active
	if desks != nil {
		sw.desks = desks
	}
}

// TestHandOverOnDesktopChange: a session started at the login screen moves
// to the user's desktop when it becomes active (the old helper drops it,
// the new one resumes it: no new prompt), moves back when the login screen
// is active again, and moves away when its desktop vanishes. A session
// started later goes to the active desktop at once.
func TestHandOverOnDesktopChange(t *testing.T) {
	sw := &switchable{}
	greeter, user := Desktop{Key: "greeter", UID: -1}, Desktop{Key: "user", UID: -1}
	sw.set("greeter", greeter, user)
	f := start(t, "serve", nil, func(c *Config) {
		c.Desktops = sw.list
		c.ScanInterval = 10 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	payload, _ := json.Marshal(protocol.ScreenShareStart{SessionID: "s1", AgentToken: "tok"})
	out, err := f.sup.Handle(ctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	if ho := out.(HandOutput); ho.Desktop != "greeter" {
		t.Fatalf("handed to %q, want greeter", ho.Desktop)
	}
	f.recs.waitState(t, "s1", "greeter", protocol.SessionConnecting)

	sw.set("user")
	f.recs.waitState(t, "s1", "greeter", ipc.StateDropped)
	f.recs.waitState(t, "s1", "user", protocol.SessionActive) // resumed

	sw.set("greeter")
	f.recs.waitState(t, "s1", "user", ipc.StateDropped)
	f.recs.waitState(t, "s1", "greeter", protocol.SessionActive)

	// The login screen's desktop vanishes (the user logged in on another
	// display): its session goes to the user's.
	sw.set("user", user)
	f.recs.waitFor(t, "desktop session gone; stopping its helper", 1)
	f.recs.waitFor(t, "session moved to the active desktop", 3)
	if n := f.recs.count("session moved to the active desktop"); n != 3 {
		t.Errorf("%d moves, want 3", n)
	}

	payload, _ = json.Marshal(protocol.ScreenShareStart{SessionID: "s2", AgentToken: "tok2"})
	if out, err := f.sup.Handle(ctx, payload); err != nil || out.(HandOutput).Desktop != "user" {
		t.Fatalf("second session handed as %+v, %v", out, err)
	}
	if n := f.starts.Load(); n != 2 {
		t.Errorf("helpers started %d times, want 2", n)
	}
}

// TestNoMoveWithoutActiveDesktop: while no desktop is marked active (a
// text console in front), sessions stay where they are.
func TestNoMoveWithoutActiveDesktop(t *testing.T) {
	sw := &switchable{}
	sw.set("a", Desktop{Key: "a", UID: -1}, Desktop{Key: "b", UID: -1})
	f := start(t, "serve", nil, func(c *Config) {
		c.Desktops = sw.list
		c.ScanInterval = 10 * time.Millisecond
	})
	payload, _ := json.Marshal(protocol.ScreenShareStart{SessionID: "s1", AgentToken: "tok"})
	if _, err := f.sup.Handle(context.Background(), payload); err != nil {
		t.Fatal(err)
	}
	f.recs.waitState(t, "s1", "a", protocol.SessionConnecting)
	sw.set("")
	f.recs.waitFor(t, "active desktop changed", 2) // "" → a, a → ""
	f.sup.reconcile(context.Background())
	if n := f.recs.count("session moved to the active desktop"); n != 0 {
		t.Errorf("%d moves without an active desktop", n)
	}
}
