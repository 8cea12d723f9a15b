package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
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
func fakeHelper(mode, socket, desktop string) int {
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
		if m.Type == ipc.TypeStart {
			c.Send(ipc.Msg{Type: ipc.TypeState, SessionID: m.Start.SessionID, State: protocol.SessionConnecting})
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
	got := helperEnv([]string{"PATH=/bin", "TETHER_TOKEN=secret", "HOME=/root"}, Desktop{Env: []string{"DISPLAY=:1"}})
	want := []string{"PATH=/bin", "HOME=/root", "DISPLAY=:1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("helperEnv = %v, want %v", got, want)
	}
}
