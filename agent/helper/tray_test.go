package helper

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/agent/tray"
	"github.com/tetherdesk/tether/agent/tray/traytest"
)

// trayHost is a tray host that is always there and records what it shows.
type trayHost struct {
	mu      sync.Mutex
	click   func(string)
	views   []tray.View
	changed chan struct{}
}

func (h *trayHost) Available(context.Context) error { return nil }
func (h *trayHost) Start(click func(string)) error {
	h.mu.Lock()
	h.click = click
	h.mu.Unlock()
	return nil
}
func (h *trayHost) Show(v tray.View) {
	h.mu.Lock()
	h.views = append(h.views, v)
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}
func (h *trayHost) Stop() {}

// waitView waits until the last view shown satisfies cond and returns the
// click function.
func (h *trayHost) waitView(t *testing.T, what string, cond func(tray.View) bool) func(string) {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		ch, click := h.changed, h.click
		ok := len(h.views) > 0 && cond(h.views[len(h.views)-1])
		h.mu.Unlock()
		if ok {
			return click
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("the tray never showed %s", what)
		}
	}
}

func menuEntry(v tray.View, id string) tray.Entry {
	for _, e := range v.Entries {
		if e.ID == id {
			return e
		}
	}
	return tray.Entry{}
}

// TestHelperTrayCode: the tray's connection code goes from the helper to
// the service over a real socket and the service's answers come back: a
// wrong code gets Try Again with the code formatted, the right one a
// notice. The server state the service reports reaches the tray's menu.
func TestHelperTrayCode(t *testing.T) {
	ln := serviceListener(t)
	host := &trayHost{changed: make(chan struct{})}
	dialogs := traytest.New(tray.ErrCancelled)

	hc := startHelper(t, ln, Config{Desktop: "d1", Version: "9.9.9", Logger: testLogger(t),
		Deps: Deps{TrayHost: host, TrayDialogs: dialogs}})

	// Until the service says the server answers, the entry is disabled.
	host.waitView(t, "the disconnected icon", func(v tray.View) bool { return v.Icon == tray.IconDisconnected })
	hc.send(ipc.Msg{Type: ipc.TypeStatus, ServerState: ipc.ServerConnected, Server: "https://tether.example"})
	click := host.waitView(t, "the entry enabled", func(v tray.View) bool {
		return v.Icon == tray.IconIdle && menuEntry(v, tray.SlotCode).Enabled
	})
	click(tray.ActionCode)

	if c := dialogs.WaitCall(t, 1, wait); c != "entry " {
		t.Fatalf("first dialog %q", c)
	}
	dialogs.Entries <- "111 222 333"
	m := hc.recvType(ipc.TypeCode)
	if m.Code != "111222333" || m.ReqID == "" {
		t.Fatalf("code message %+v", m)
	}
	host.waitView(t, "the code being checked", func(v tray.View) bool {
		return menuEntry(v, tray.SlotCode).Label == "Checking Connection Code…"
	})
	hc.send(ipc.Msg{Type: ipc.TypeCodeResult, ReqID: m.ReqID, CodeResult: &ipc.CodeResult{Outcome: ipc.CodeWrong}})
	if c := dialogs.WaitCall(t, 2, wait); !strings.HasPrefix(c, "retry That code is not valid") {
		t.Fatalf("after a wrong code: %q", c)
	}
	dialogs.Retries <- true
	if c := dialogs.WaitCall(t, 3, wait); c != "entry 111-222-333" {
		t.Fatalf("Try Again opened %q", c)
	}
	dialogs.Entries <- "123-456-789"
	m = hc.recvType(ipc.TypeCode)
	if m.Code != "123456789" {
		t.Fatalf("second code message %+v", m)
	}
	res := ipc.CodeResult{Outcome: ipc.CodeAccepted, SessionID: "s1", Technician: "brooke", Mode: "active", Attended: true}
	hc.send(ipc.Msg{Type: ipc.TypeCodeResult, ReqID: m.ReqID, CodeResult: &res})
	if c := dialogs.WaitCall(t, 4, wait); !strings.HasPrefix(c, "notify Code accepted: brooke will connect") {
		t.Fatalf("after the right code: %q", c)
	}
	host.waitView(t, "the notice in the menu", func(v tray.View) bool {
		return strings.Contains(menuEntry(v, "notice.0").Label, "Code accepted: brooke") && menuEntry(v, tray.SlotCode).Enabled
	})

	// The service loses the server: the icon says so.
	hc.send(ipc.Msg{Type: ipc.TypeStatus, ServerState: ipc.ServerDisconnected})
	host.waitView(t, "the disconnected icon again", func(v tray.View) bool {
		return v.Icon == tray.IconDisconnected && !menuEntry(v, tray.SlotCode).Enabled
	})
}
