package session

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/shared/protocol"
)

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

// helperConfig is a helper on desktop with the harness's fakes.
func (h *harness) helperConfig(desktop string) HelperConfig {
	return HelperConfig{Desktop: desktop, Logger: testLogger(h.t),
		Deps: Deps{UI: h.ui, NewSource: h.src.new, NewEncoder: h.cfg.NewEncoder, NewInjector: h.cfg.NewInjector, SettingEngine: loopbackEngine()}}
}

// startHelper runs RunHelper with cfg, dialling ln, accepts its
// connection and reads its Ready. The cleanup stops the helper before
// closing the connection: a connection closed under a running helper is
// an error the helper reports.
func startHelper(t *testing.T, ln *ipc.Listener, cfg HelperConfig) *helperConn {
	t.Helper()
	cfg.SocketPath = ln.Path()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- RunHelper(ctx, cfg) }()
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
				t.Errorf("RunHelper = %v", err)
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

// TestHelperOverIPC: the service hands a session to the helper over a real
// socket; the helper reports its states back and ends it when told.
func TestHelperOverIPC(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: false, Mode: protocol.ModeActive}, unattendedPolicy())
	hc := startHelper(t, serviceListener(t), h.helperConfig("d1"))
	pol := unattendedPolicy()
	start := h.cfg.Start
	hc.send(ipc.Msg{Type: ipc.TypeStart, Start: &start, Server: h.cfg.Server, Policy: &pol})
	a := h.srv.accept()
	a.expectState(protocol.SessionConnecting, "")
	if m := hc.recv(); m.Type != ipc.TypeState || m.SessionID != "s1" || m.State != protocol.SessionConnecting {
		t.Fatalf("state report %+v", m)
	}
	hc.send(ipc.Msg{Type: ipc.TypeEnd, SessionID: "s1", Reason: protocol.EndedByTechnician})
	a.expectState(protocol.SessionEnded, protocol.EndedByTechnician)
	if m := hc.recv(); m.State != protocol.SessionEnded || m.Reason != protocol.EndedByTechnician {
		t.Fatalf("state report %+v", m)
	}
	hc.stop()
}
