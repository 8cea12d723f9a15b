package helper

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/agent/session"
	"github.com/tetherdesk/tether/agent/tray"
	"github.com/tetherdesk/tether/agent/tray/traytest"
	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/policy"
	"github.com/tetherdesk/tether/shared/protocol"
)

const wait = 30 * time.Second

func testLogger(*testing.T) *slog.Logger { return testenv.Logger("HELPER_TEST_LOGS") }

// serviceListener listens where a helper dials the service, as the service
// does. (A short directory: a socket's path is limited to about 100 bytes,
// which t.TempDir can exceed.)
func serviceListener(t *testing.T) *ipc.Listener {
	t.Helper()
	dir, err := os.MkdirTemp("", "helper")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := ipc.Listen(ipc.ListenConfig{Path: filepath.Join(dir, "h.sock"), Allowed: func(uint32) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// helperConn is the service's side of one helper's IPC connection.
type helperConn struct {
	t    *testing.T
	c    *ipc.Conn
	msgs chan ipc.Msg
	stop func() // stops the helper (once), which must return nil
}

func (h *helperConn) recv() ipc.Msg {
	h.t.Helper()
	select {
	case m, ok := <-h.msgs:
		if !ok {
			h.t.Fatal("helper connection closed")
		}
		return m
	case <-time.After(wait):
		h.t.Fatal("no message from the helper")
		return ipc.Msg{}
	}
}

// recvType is recv for a message that must be of type typ.
func (h *helperConn) recvType(typ string) ipc.Msg {
	h.t.Helper()
	m := h.recv()
	if m.Type != typ {
		h.t.Fatalf("message %+v, want %s", m, typ)
	}
	return m
}

func (h *helperConn) send(m ipc.Msg) {
	h.t.Helper()
	if err := h.c.Send(m); err != nil {
		h.t.Fatal(err)
	}
}

// startHelper runs Run with cfg, dialling ln, accepts its connection and
// reads its Ready. The cleanup stops the helper before closing the
// connection: a connection closed under a running helper is an error the
// helper reports.
func startHelper(t *testing.T, ln *ipc.Listener, cfg Config) *helperConn {
	t.Helper()
	cfg.SocketPath = ln.Path()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	hc := &helperConn{t: t, c: c, msgs: make(chan ipc.Msg, 64)}
	hc.stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(wait):
			t.Error("helper did not stop")
		}
		c.Close()
	})
	t.Cleanup(hc.stop)
	go func() {
		defer close(hc.msgs)
		for {
			m, err := c.Recv()
			if err != nil {
				return
			}
			hc.msgs <- m
		}
	}()
	if m := hc.recv(); m.Type != ipc.TypeReady || m.Desktop != cfg.Desktop {
		t.Fatalf("first message %+v", m)
	}
	return hc
}

// fakeRunner stands for session.Run: it records each session's config,
// reports connecting, and ends the way its context's cause says.
type fakeRunner struct {
	started chan session.Config
	ended   chan error // each session's cancel cause
}

func newFakeRunner() *fakeRunner {
	return &fakeRunner{started: make(chan session.Config, 8), ended: make(chan error, 8)}
}

func (f *fakeRunner) run(ctx context.Context, cfg session.Config) (protocol.Reason, error) {
	f.started <- cfg
	cfg.Report(protocol.SessionConnecting, "", "")
	<-ctx.Done()
	cause := context.Cause(ctx)
	f.ended <- cause
	var ee session.EndError
	if errors.As(cause, &ee) {
		cfg.Report(protocol.SessionEnded, ee.Reason, "")
		return ee.Reason, nil
	}
	return session.ReasonDropped, nil
}

func (f *fakeRunner) nextStart(t *testing.T) session.Config {
	t.Helper()
	select {
	case c := <-f.started:
		return c
	case <-time.After(wait):
		t.Fatal("the helper started no session")
		return session.Config{}
	}
}

func (f *fakeRunner) nextEnd(t *testing.T) error {
	t.Helper()
	select {
	case c := <-f.ended:
		return c
	case <-time.After(wait):
		t.Fatal("the helper ended no session")
		return nil
	}
}

func startMsg(id string, resume bool) ipc.Msg {
	pol := policy.Default()
	return ipc.Msg{Type: ipc.TypeStart, Server: "https://tether.example", Fingerprint: "ab:cd", Policy: &pol, Resume: resume,
		Start: &protocol.ScreenShareStart{SessionID: id, AgentToken: "tss_x", Attended: true, Mode: protocol.ModeActive, Technician: "tara", UserMayEnd: true}}
}

// TestHelperOverIPC: the service hands a session to the helper over a real
// socket; the session gets the start, the server, the policy and the
// desktop's devices; its states go back to the service; the service's end
// ends it with the service's reason; a second start of the same session
// is ignored.
func TestHelperOverIPC(t *testing.T) {
	fr := newFakeRunner()
	chatOpened := false
	hc := startHelper(t, serviceListener(t), Config{Desktop: "d1", Logger: testLogger(t), RunSession: fr.run,
		Deps: Deps{NewChatWindow: func(session.ChatWindowConfig) (session.ChatWindow, error) {
			chatOpened = true
			return nil, errors.New("none")
		}}})
	hc.send(startMsg("s1", false))
	cfg := fr.nextStart(t)
	if cfg.Start.SessionID != "s1" || cfg.Server != "https://tether.example" || cfg.Fingerprint != "ab:cd" || cfg.Resume || cfg.Privileged {
		t.Fatalf("session config %+v", cfg)
	}
	if _, err := cfg.NewChatWindow(session.ChatWindowConfig{}); err == nil || !chatOpened {
		t.Error("the session did not get the desktop's chat window")
	}
	if m := hc.recvType(ipc.TypeState); m.SessionID != "s1" || m.State != protocol.SessionConnecting {
		t.Fatalf("state report %+v", m)
	}
	hc.send(startMsg("s1", false)) // already running: ignored
	hc.send(ipc.Msg{Type: ipc.TypeEnd, SessionID: "s1", Reason: protocol.EndedByTechnician})
	var ee session.EndError
	if cause := fr.nextEnd(t); !errors.As(cause, &ee) || ee.Reason != protocol.EndedByTechnician {
		t.Fatalf("ended by %v, want the technician's end", cause)
	}
	if m := hc.recvType(ipc.TypeState); m.State != protocol.SessionEnded || m.Reason != protocol.EndedByTechnician {
		t.Fatalf("state report %+v", m)
	}
	select {
	case c := <-fr.started:
		t.Errorf("a second start of a running session started %s again", c.Start.SessionID)
	default:
	}
	hc.stop()
}

// TestHelperDrop: told to drop a session (another desktop's helper takes
// it over), the helper ends it with ErrDropped, reports nothing of an end
// and confirms the drop; a later start with Resume reaches the session.
func TestHelperDrop(t *testing.T) {
	fr := newFakeRunner()
	hc := startHelper(t, serviceListener(t), Config{Desktop: "greeter", Logger: testLogger(t), RunSession: fr.run})
	hc.send(startMsg("s1", false))
	fr.nextStart(t)
	hc.recvType(ipc.TypeState)
	hc.send(ipc.Msg{Type: ipc.TypeDrop, SessionID: "s1"})
	if cause := fr.nextEnd(t); !errors.Is(cause, session.ErrDropped) {
		t.Fatalf("dropped with %v, want ErrDropped", cause)
	}
	if m := hc.recvType(ipc.TypeState); m.SessionID != "s1" || m.State != ipc.StateDropped {
		t.Fatalf("drop answered with %+v, want its confirmation", m)
	}
	hc.send(startMsg("s1", true))
	if cfg := fr.nextStart(t); !cfg.Resume {
		t.Fatalf("the session came back without Resume: %+v", cfg)
	}
	hc.stop()
}

// TestPrivilegedHelperShowsNoTray: a helper running as root, or on a
// login screen, shows no tray icon, hence no menu, and no tray dialog; its
// sessions are privileged.
func TestPrivilegedHelperShowsNoTray(t *testing.T) {
	fr := newFakeRunner()
	host := &trayHost{changed: make(chan struct{})}
	dialogs := traytest.New(tray.ErrCancelled)
	hc := startHelper(t, serviceListener(t), Config{Desktop: "x11:greeter::0", Logger: testLogger(t), RunSession: fr.run,
		Privileged: true, Deps: Deps{TrayHost: host, TrayDialogs: dialogs}})
	hc.send(ipc.Msg{Type: ipc.TypeStatus, ServerState: ipc.ServerConnected, Server: "https://tether.example"})
	hc.send(startMsg("s1", false))
	if cfg := fr.nextStart(t); !cfg.Privileged {
		t.Fatal("a privileged helper's session is not privileged")
	}
	hc.recvType(ipc.TypeState)
	hc.send(ipc.Msg{Type: ipc.TypeEnd, SessionID: "s1", Reason: protocol.EndedByTechnician})
	fr.nextEnd(t)
	hc.stop()
	host.mu.Lock()
	defer host.mu.Unlock()
	if host.click != nil || len(host.views) != 0 {
		t.Errorf("a privileged helper showed a tray icon (%d views)", len(host.views))
	}
	if c := dialogs.Calls(); len(c) != 0 {
		t.Errorf("a privileged helper showed tray dialogs: %q", c)
	}
}
