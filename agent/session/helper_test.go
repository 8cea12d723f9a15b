package session

import (
	"context"
	"os"
	"path/filepath"
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

// TestHelperOverIPC: the service hands a session to the helper over a real
// socket; the helper reports its states back and ends it when told.
func TestHelperOverIPC(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: false, Mode: protocol.ModeActive}, unattendedPolicy())
	ln := serviceListener(t)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunHelper(ctx, HelperConfig{SocketPath: ln.Path(), Desktop: "d1", Logger: testLogger(t),
			Deps: Deps{UI: h.ui, NewSource: h.src.new, NewEncoder: h.cfg.NewEncoder, NewInjector: h.cfg.NewInjector, SettingEngine: loopbackEngine()}})
	}()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	recv := func() ipc.Msg {
		t.Helper()
		type res struct {
			m   ipc.Msg
			err error
		}
		ch := make(chan res, 1)
		go func() { m, err := conn.Recv(); ch <- res{m, err} }()
		select {
		case r := <-ch:
			if r.err != nil {
				t.Fatal(r.err)
			}
			return r.m
		case <-time.After(wait):
			t.Fatal("no message from the helper")
			return ipc.Msg{}
		}
	}
	if m := recv(); m.Type != ipc.TypeReady || m.Desktop != "d1" {
		t.Fatalf("first message %+v", m)
	}
	pol := unattendedPolicy()
	start := h.cfg.Start
	if err := conn.Send(ipc.Msg{Type: ipc.TypeStart, Start: &start, Server: h.cfg.Server, Policy: &pol}); err != nil {
		t.Fatal(err)
	}
	a := h.srv.accept()
	a.expectState(protocol.SessionConnecting, "")
	if m := recv(); m.Type != ipc.TypeState || m.SessionID != "s1" || m.State != protocol.SessionConnecting {
		t.Fatalf("state report %+v", m)
	}
	if err := conn.Send(ipc.Msg{Type: ipc.TypeEnd, SessionID: "s1", Reason: protocol.EndedByTechnician}); err != nil {
		t.Fatal(err)
	}
	a.expectState(protocol.SessionEnded, protocol.EndedByTechnician)
	if m := recv(); m.State != protocol.SessionEnded || m.Reason != protocol.EndedByTechnician {
		t.Fatalf("state report %+v", m)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunHelper = %v", err)
		}
	case <-time.After(wait):
		t.Fatal("helper did not stop")
	}
}
