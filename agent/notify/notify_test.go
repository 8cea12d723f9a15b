package notify

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/shared/protocol"
)

type fakeDisplay struct {
	mu     sync.Mutex
	desks  []Desk
	shown  []string // "key id postpone-count"
	closed []string
	open   map[string]ipc.Notification // key/id → what is on screen
}

func (d *fakeDisplay) Desks() []Desk {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.desks)
}

func (d *fakeDisplay) Show(key string, n ipc.Notification) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.shown = append(d.shown, key+" "+n.ID)
	d.open[key+"/"+n.ID] = n
	return nil
}

func (d *fakeDisplay) Close(key, id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = append(d.closed, key+" "+id)
	delete(d.open, key+"/"+id)
}

func (d *fakeDisplay) onScreen(key, id string) (ipc.Notification, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.open[key+"/"+id]
	return n, ok
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func kinds(evs []protocol.NotificationEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

// TestJournalAcrossRestarts: delivered once, shown, postponed, back after
// the interval even across a restart, never shown twice, answered once;
// sequence numbers only rise.
func TestJournalAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{t: time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)}
	disp := &fakeDisplay{desks: []Desk{{Key: "x11:1", User: "ana", Active: true}, {Key: "x11:2", User: "bob"}}, open: map[string]ipc.Notification{}}
	open := func() *Manager {
		m, err := Open(Config{StateDir: dir, Display: disp, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := open()
	n := protocol.AgentNotification{ID: "n1", Version: 1, NotificationContent: protocol.NotificationContent{Title: "Restart",
		Message: "tonight", Audience: protocol.AudienceConsole, Buttons: []protocol.NotificationButton{{Label: "OK", Value: "ok"}},
		Deferral: &protocol.NotificationDeferral{MaxPostpones: 1, IntervalsS: []int64{60, 600}}}, Expires: clk.Now().Add(time.Hour)}
	m.Receive([]protocol.AgentNotification{n})
	m.tick()
	v, ok := disp.onScreen("x11:1", "n1")
	if !ok || len(v.Postpone) != 2 || v.PostponesLeft != 1 {
		t.Fatalf("on the active desktop: %+v %v (shown %v)", v, ok, disp.shown)
	}
	if _, ok := disp.onScreen("x11:2", "n1"); ok {
		t.Fatal("shown to another desktop than the console user's")
	}
	m.Result("x11:1", "ana", ipc.NotifyResult{ID: "n1", Version: 1, Kind: protocol.NotifyEventShown})
	// Another user's desktop, which it is not on, cannot answer it.
	m.Result("x11:2", "bob", ipc.NotifyResult{ID: "n1", Version: 1, Kind: protocol.NotifyEventDismissed})
	if _, ok := disp.onScreen("x11:1", "n1"); !ok {
		t.Fatal("another desktop's answer took it down")
	}
	// A postpone by an interval not offered is refused.
	m.Result("x11:1", "ana", ipc.NotifyResult{ID: "n1", Version: 1, Kind: protocol.NotifyEventPostponed, IntervalS: 5})
	m.Result("x11:1", "ana", ipc.NotifyResult{ID: "n1", Version: 1, Kind: protocol.NotifyEventPostponed, IntervalS: 60})
	if _, ok := disp.onScreen("x11:1", "n1"); ok {
		t.Fatal("still on screen after postponing")
	}
	evs := m.Outbox()
	if got := kinds(evs); !slices.Equal(got, []string{"delivered", "shown", "postponed"}) || evs[2].Count != 1 || evs[2].IntervalS != 60 || evs[1].User != "ana" {
		t.Fatalf("events %+v", evs)
	}
	m.Sent(evs[:2])

	// The agent restarts during the postponement.
	m = open()
	clk.Add(59 * time.Second)
	m.tick()
	if len(disp.open) != 0 {
		t.Fatalf("back before the interval: %v", disp.open)
	}
	// The server, not having heard, hands it again: reported, not shown.
	m.Receive([]protocol.AgentNotification{n})
	clk.Add(time.Second)
	m.tick()
	v, ok = disp.onScreen("x11:1", "n1")
	if !ok || len(v.Postpone) != 0 {
		t.Fatalf("after the interval: %+v %v; no postpone left", v, ok)
	}
	m.tick()
	if c := len(slices.DeleteFunc(slices.Clone(disp.shown), func(s string) bool { return s != "x11:1 n1" })); c != 2 {
		t.Fatalf("shown %d times in all, want 2: %v", c, disp.shown)
	}
	m.Result("x11:1", "ana", ipc.NotifyResult{ID: "n1", Version: 1, Kind: protocol.NotifyEventPressed, Value: "ok"})
	m.Result("x11:1", "ana", ipc.NotifyResult{ID: "n1", Version: 1, Kind: protocol.NotifyEventPressed, Value: "ok"}) // twice: once
	evs = m.Outbox()
	if got := kinds(evs); !slices.Equal(got, []string{"postponed", "delivered", "pressed"}) || evs[2].Value != "ok" {
		t.Fatalf("events after restart %+v", evs)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq <= evs[i-1].Seq {
			t.Fatalf("sequence went back: %+v", evs)
		}
	}
	m.Sent(evs)
	m = open()
	m.Receive([]protocol.AgentNotification{n})
	m.tick()
	if _, ok := disp.onScreen("x11:1", "n1"); ok {
		t.Fatal("an answered notification showed again after a restart")
	}
	if evs2 := m.Outbox(); len(evs2) != 1 || evs2[0].Seq <= evs[2].Seq {
		t.Fatalf("after restart %+v", evs2)
	}
}

// TestEveryUserAndExpiry: audience all shows on every desktop; one answer
// takes it down everywhere; an unanswered one expires and says so.
func TestEveryUserAndExpiry(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)}
	disp := &fakeDisplay{desks: []Desk{{Key: "a", Active: true}, {Key: "b"}}, open: map[string]ipc.Notification{}}
	m, err := Open(Config{StateDir: t.TempDir(), Display: disp, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	all := protocol.AgentNotification{ID: "all", Version: 1, NotificationContent: protocol.NotificationContent{Title: "VPN", Message: "Monday",
		Audience: protocol.AudienceAll}, Expires: clk.Now().Add(time.Hour)}
	later := protocol.AgentNotification{ID: "later", Version: 1, NotificationContent: protocol.NotificationContent{Title: "x", Message: "y"},
		Expires: clk.Now().Add(time.Minute)}
	m.Receive([]protocol.AgentNotification{all, later})
	m.tick()
	_, onA := disp.onScreen("a", "all")
	_, onB := disp.onScreen("b", "all")
	if !onA || !onB {
		t.Fatalf("every user: %v %v", onA, onB)
	}
	m.Result("b", "bob", ipc.NotifyResult{ID: "all", Version: 1, Kind: protocol.NotifyEventDismissed})
	if _, ok := disp.onScreen("a", "all"); ok {
		t.Fatal("still up on a after b dismissed it")
	}
	clk.Add(time.Minute)
	m.tick()
	if _, ok := disp.onScreen("a", "later"); ok {
		t.Fatal("still up after expiry")
	}
	if got := kinds(m.Outbox()); !slices.Equal(got, []string{"delivered", "delivered", "dismissed", "expired"}) {
		t.Fatalf("events %v", got)
	}
}

// TestWithdraw: a cancelled notification goes from the screen and stays
// gone; the withdrawal is acknowledged once, also for one not held.
func TestWithdraw(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)}
	disp := &fakeDisplay{desks: []Desk{{Key: "a", Active: true}}, open: map[string]ipc.Notification{}}
	m, err := Open(Config{StateDir: t.TempDir(), Display: disp, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	m.Receive([]protocol.AgentNotification{{ID: "n1", Version: 2, NotificationContent: protocol.NotificationContent{Title: "x", Message: "y"},
		Expires: clk.Now().Add(time.Hour)}})
	m.tick()
	if _, ok := disp.onScreen("a", "n1"); !ok {
		t.Fatal("not shown")
	}
	m.Withdraw([]string{"n1", "unknown"})
	m.Withdraw([]string{"n1"}) // asked again before the answer landed
	if _, ok := disp.onScreen("a", "n1"); ok {
		t.Fatal("still on screen after the withdrawal")
	}
	m.tick()
	if _, ok := disp.onScreen("a", "n1"); ok {
		t.Fatal("back on screen after the withdrawal")
	}
	evs := m.Outbox()
	if got := kinds(evs); !slices.Equal(got, []string{"delivered", "cancelled", "cancelled"}) || evs[1].Version != 2 || evs[2].ID != "unknown" {
		t.Fatalf("events %+v", evs)
	}
}

// TestFailedWindow: a window that fails is tried again; after three in a
// row the notification is reported failed, with the helper's reason.
func TestFailedWindow(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)}
	disp := &fakeDisplay{desks: []Desk{{Key: "a", Active: true}}, open: map[string]ipc.Notification{}}
	m, err := Open(Config{StateDir: t.TempDir(), Display: disp, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	m.Receive([]protocol.AgentNotification{{ID: "n1", Version: 1, NotificationContent: protocol.NotificationContent{Title: "x", Message: "y"},
		Expires: clk.Now().Add(time.Hour)}})
	for i := range maxFailures {
		m.tick()
		if _, ok := disp.onScreen("a", "n1"); !ok {
			t.Fatalf("not shown (try %d)", i+1)
		}
		delete(disp.open, "a/n1")
		m.Result("a", "ana", ipc.NotifyResult{ID: "n1", Version: 1, Kind: protocol.NotifyEventFailed, Error: "wish: no display"})
	}
	m.tick()
	if _, ok := disp.onScreen("a", "n1"); ok {
		t.Fatal("shown again after three failures")
	}
	evs := m.Outbox()
	if got := kinds(evs); !slices.Equal(got, []string{"delivered", "failed"}) || evs[1].Error != "wish: no display" {
		t.Fatalf("events %+v", evs)
	}
}
