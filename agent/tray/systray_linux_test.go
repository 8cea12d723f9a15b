package tray

import (
	"context"
	"errors"
	"image/color"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/agent/tray/traytest"
	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/protocol"
)

// startSessionBus runs a private D-Bus session bus and returns its address.
func startSessionBus(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		t.Skip("dbus-daemon is not installed (scripts/deps.sh test installs it)")
	}
	p, addr, err := testenv.StartSessionBus(t.TempDir(), wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(time.Second) })
	return addr
}

// watcher is a StatusNotifierWatcher, as a desktop's panel runs it.
type watcher struct{ items chan string }

func (w *watcher) RegisterStatusNotifierItem(sender dbus.Sender, path string) *dbus.Error {
	w.items <- string(sender)
	return nil
}

// menuItem is a dbusmenu layout node.
type menuItem struct {
	ID       int32
	Props    map[string]dbus.Variant
	Children []dbus.Variant
}

// flatItem is one menu item as a panel would draw it.
type flatItem struct {
	id      int32
	label   string
	enabled bool
	visible bool
	sep     bool
	depth   int
}

func flatten(m menuItem, depth int, out *[]flatItem) {
	for _, c := range m.Children {
		var ch menuItem
		if err := dbus.Store([]any{c.Value()}, &ch); err != nil {
			continue
		}
		fi := flatItem{id: ch.ID, enabled: true, visible: true, depth: depth}
		if v, ok := ch.Props["label"]; ok {
			fi.label, _ = v.Value().(string)
		}
		if v, ok := ch.Props["enabled"]; ok {
			fi.enabled, _ = v.Value().(bool)
		}
		if v, ok := ch.Props["visible"]; ok {
			fi.visible, _ = v.Value().(bool)
		}
		if v, ok := ch.Props["type"]; ok {
			fi.sep = v.Value() == "separator"
		}
		*out = append(*out, fi)
		flatten(ch, depth+1, out)
	}
}

// menuOf reads the item's whole menu.
func menuOf(conn *dbus.Conn, item string) ([]flatItem, error) {
	var (
		rev    uint32
		layout menuItem
	)
	err := conn.Object(item, "/StatusNotifierItem/menu").Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{}).
		Store(&rev, &layout)
	if err != nil {
		return nil, err
	}
	var out []flatItem
	flatten(layout, 0, &out)
	return out, nil
}

// visibleLabels lists the visible items' labels ("-" for separators),
// indented by depth.
func visibleLabels(items []flatItem) []string {
	var out []string
	for _, it := range items {
		switch {
		case it.sep:
			out = append(out, "-")
		case it.visible:
			out = append(out, strings.Repeat("  ", it.depth)+it.label)
		}
	}
	return out
}

// waitMenu waits until the item's visible menu is want.
func waitMenu(t *testing.T, conn *dbus.Conn, item string, want []string) []flatItem {
	t.Helper()
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		items, err := menuOf(conn, item)
		if err == nil && slices.Equal(visibleLabels(items), want) {
			return items
		}
		if time.Now().After(deadline) {
			t.Fatalf("menu %q (%v), want %q", visibleLabels(items), err, want)
		}
		<-tick.C
	}
}

func find(items []flatItem, label string) flatItem {
	for _, it := range items {
		if it.label == label && it.visible {
			return it
		}
	}
	return flatItem{}
}

// systrayUsed: fyne.io/systray keeps one tray per process.
var systrayUsed bool

// TestSystrayHost: the real fyne.io/systray host on a private session bus
// with a fake panel (StatusNotifierWatcher): no host before the watcher
// exists, then the icon registers, its menu is the model's (hidden slots
// invisible, disabled entries disabled), a click on an entry reaches the
// tray with its action, the tooltip and icon follow the state.
func TestSystrayHost(t *testing.T) {
	if systrayUsed {
		t.Skip("fyne.io/systray runs once per process (-count > 1)")
	}
	systrayUsed = true
	addr := startSessionBus(t)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
	ctx := context.Background()
	host := NewSystrayHost(nil)
	if err := host.Available(ctx); !errors.Is(err, ErrNoHost) {
		t.Fatalf("Available without a panel = %v, want ErrNoHost", err)
	}

	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w := &watcher{items: make(chan string, 4)}
	if err := conn.Export(w, "/StatusNotifierWatcher", watcherName); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName(watcherName, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("owning %s: %v %v", watcherName, reply, err)
	}
	if err := host.Available(ctx); err != nil {
		t.Fatalf("Available with a panel = %v", err)
	}

	clicks := make(chan string, 4)
	if err := host.Start(func(a string) { clicks <- a }); err != nil {
		t.Fatal(err)
	}
	defer host.Stop()
	live := State{Server: ipc.ServerConnected, Sessions: []Session{{ID: "s1", Technician: "brooke", Mode: protocol.ModeActive,
		State: protocol.SessionActive, MayEnd: true, Endable: true}},
		Notices: []Notice{{At: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), Text: "brooke is connected"}}}
	host.Show(View{Icon: IconFor(live), Tooltip: Tooltip(live), Entries: Menu(live)})

	var item string
	select {
	case item = <-w.items:
	case <-time.After(wait):
		t.Fatal("the tray icon never registered with the panel")
	}
	items := waitMenu(t, conn, item, []string{
		"Connected to the support server", "-",
		"Enter Connection Code…", "Live session: brooke — Active (view and control)", "End Session", "-",
		"Recent Notifications", "  10:00  brooke is connected", "About Tether"})
	if it := find(items, "Enter Connection Code…"); it.enabled {
		t.Error("Enter Connection Code… enabled during a session")
	}
	if it := find(items, "Connected to the support server"); it.enabled {
		t.Error("the status line is enabled")
	}

	obj := conn.Object(item, "/StatusNotifierItem/menu")
	click := func(label string) {
		t.Helper()
		it := find(items, label)
		if it.id == 0 {
			t.Fatalf("no item %q", label)
		}
		if err := obj.Call("com.canonical.dbusmenu.Event", 0, it.id, "clicked", dbus.MakeVariant(""), uint32(0)).Err; err != nil {
			t.Fatal(err)
		}
	}
	click("Connected to the support server") // an information line does nothing
	click("End Session")
	select {
	case a := <-clicks:
		if a != "end:s1" {
			t.Fatalf("End Session clicked %q", a)
		}
	case <-time.After(wait):
		t.Fatal("the click on End Session never reached the tray")
	}

	sni := conn.Object(item, "/StatusNotifierItem")
	if tip, err := traytest.ReadTooltip(conn, item); err != nil || tip.Title != Tooltip(live) {
		t.Errorf("tooltip %+v (%v), want %q", tip, err, Tooltip(live))
	}
	checkIcon(t, sni, colourLive)

	idle := State{Server: ipc.ServerConnected}
	host.Show(View{Icon: IconFor(idle), Tooltip: Tooltip(idle), Entries: Menu(idle)})
	items = waitMenu(t, conn, item, []string{
		"Connected to the support server", "-", "Enter Connection Code…", "-", "Recent Notifications (none)", "About Tether"})
	if it := find(items, "Enter Connection Code…"); !it.enabled {
		t.Error("Enter Connection Code… disabled while idle")
	}
	click("Enter Connection Code…")
	select {
	case a := <-clicks:
		if a != ActionCode {
			t.Fatalf("Enter Connection Code… clicked %q", a)
		}
	case <-time.After(wait):
		t.Fatal("the click on Enter Connection Code… never reached the tray")
	}
	checkIcon(t, sni, colourIdle)
}

// checkIcon reads the icon's pixels and checks the disc's colour.
func checkIcon(t *testing.T, sni dbus.BusObject, want color.NRGBA) {
	t.Helper()
	v, err := sni.GetProperty("org.kde.StatusNotifierItem.IconPixmap")
	if err != nil {
		t.Fatal(err)
	}
	var px []struct {
		W, H int32
		Pix  []byte
	}
	if err := dbus.Store([]any{v.Value()}, &px); err != nil || len(px) != 1 || px[0].W != iconSize {
		t.Fatalf("icon %v (%v)", len(px), err)
	}
	i := (10*iconSize + 26) * 4 // ARGB, the same point as TestIcons
	got := color.NRGBA{px[0].Pix[i+1], px[0].Pix[i+2], px[0].Pix[i+3], px[0].Pix[i]}
	if got != want {
		t.Errorf("icon pixel %v, want %v", got, want)
	}
}
