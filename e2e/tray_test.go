//go:build linux

package e2e

// Issue 6, the tray: a technician starts a broker session through the API;
// the end user enters the code from the tray's "Enter Connection Code…"
// (the real fyne.io/systray item, clicked over D-Bus the way a panel does,
// and the real zenity entry, typed into with xdotool). A wrong code gets
// the Try Again dialog and starts nothing; the right one starts the
// session through the normal screenshare.start path. The icon follows:
// ready, live, and not connected once the server is gone; End Session in
// the tray ends the session as the user.
//
// The desktop's panel is played by the test: a private D-Bus session bus
// (dbus-daemon) on which the test owns org.kde.StatusNotifierWatcher.

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/tetherdesk/tether/agent/tray"
	"github.com/tetherdesk/tether/agent/tray/traytest"
	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

const watcherName = "org.kde.StatusNotifierWatcher"

// panel is a desktop panel that shows tray icons: it owns the
// StatusNotifierWatcher name on a private session bus and reads and clicks
// the registered items' menus.
type panel struct {
	t     *testing.T
	addr  string // DBUS_SESSION_BUS_ADDRESS
	conn  *dbus.Conn
	items chan string
}

// RegisterStatusNotifierItem is the watcher's method items call.
func (p *panel) RegisterStatusNotifierItem(sender dbus.Sender, _ string) *dbus.Error {
	select {
	case p.items <- string(sender):
	default:
	}
	return nil
}

func startPanel(t *testing.T) *panel {
	t.Helper()
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		t.Fatalf("dbus-daemon is not installed (scripts/deps.sh installs it): %v", err)
	}
	var (
		bus  *testenv.Proc
		addr string
		err  error
	)
	if asDesktopUser() {
		bus, addr = startSharedBus(t)
	} else {
		bus, addr, err = testenv.StartSessionBus(t.TempDir(), startTimeout)
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { bus.Stop(time.Second) })
	p := &panel{t: t, items: make(chan string, 4), addr: addr}
	if p.conn, err = dbus.Connect(p.addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.conn.Close() })
	if err := p.conn.Export(p, "/StatusNotifierWatcher", watcherName); err != nil {
		t.Fatal(err)
	}
	if reply, err := p.conn.RequestName(watcherName, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("owning %s: %v %v", watcherName, reply, err)
	}
	return p
}

// startSharedBus starts a private session bus that both the test (the
// panel, as root) and the agent's session helper (the tray icon, as
// desktopUser) may use (testenv.SharedBusConfig), its
// socket in a directory desktopUser can reach, and returns it with its
// address once it listens.
func startSharedBus(t *testing.T) (*testenv.Proc, string) {
	t.Helper()
	dir := userDir(t)
	sock := filepath.Join(dir, "bus")
	conf := filepath.Join(t.TempDir(), "bus.conf")
	if err := os.WriteFile(conf, []byte(testenv.SharedBusConfig(sock)), 0o600); err != nil {
		t.Fatal(err)
	}
	bus := startCmd(t, "dbus-daemon", exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--nopidfile"))
	addr := "unix:path=" + sock
	testenv.Eventually(t, startTimeout, "the session bus to listen", func() (bool, error) {
		if bus.Exited() {
			t.Fatalf("dbus-daemon exited; stderr:\n%s", bus.stderr)
		}
		c, err := dbus.Connect(addr)
		if err != nil {
			return false, err
		}
		c.Close()
		return true, nil
	})
	return bus.Proc, addr
}

// waitItem waits for a tray icon to register and returns its bus name.
func (p *panel) waitItem(timeout time.Duration) string {
	p.t.Helper()
	select {
	case it := <-p.items:
		return it
	case <-time.After(timeout):
		p.t.Fatal("no tray icon registered with the panel")
	}
	return ""
}

// menuNode is a dbusmenu layout node.
type menuNode struct {
	ID       int32
	Props    map[string]dbus.Variant
	Children []dbus.Variant
}

// menuEntry is a visible menu entry as the panel draws it.
type menuEntry struct {
	id      int32
	label   string
	enabled bool
}

// menu reads the item's visible entries (submenus flattened, separators
// left out).
func (p *panel) menu(item string) ([]menuEntry, error) {
	var (
		rev  uint32
		root menuNode
	)
	err := p.conn.Object(item, "/StatusNotifierItem/menu").Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{}).
		Store(&rev, &root)
	if err != nil {
		return nil, err
	}
	var out []menuEntry
	var walk func(n menuNode)
	walk = func(n menuNode) {
		for _, c := range n.Children {
			var ch menuNode
			if dbus.Store([]any{c.Value()}, &ch) != nil {
				continue
			}
			if v, ok := ch.Props["visible"]; ok && v.Value() == false {
				continue
			}
			if v, ok := ch.Props["type"]; ok && v.Value() == "separator" {
				continue
			}
			e := menuEntry{id: ch.ID, enabled: true}
			e.label, _ = ch.Props["label"].Value().(string)
			if v, ok := ch.Props["enabled"]; ok {
				e.enabled, _ = v.Value().(bool)
			}
			out = append(out, e)
			walk(ch)
		}
	}
	walk(root)
	return out, nil
}

// waitEntry waits until the menu has an entry whose label starts with
// prefix, with the given enabled state, and returns it.
func (p *panel) waitEntry(item, prefix string, enabled bool, timeout time.Duration) menuEntry {
	p.t.Helper()
	var found menuEntry
	testenv.Eventually(p.t, timeout, fmt.Sprintf("the tray menu to offer %q (enabled %v)", prefix, enabled), func() (bool, error) {
		es, err := p.menu(item)
		if err != nil {
			return false, err
		}
		for _, e := range es {
			if strings.HasPrefix(e.label, prefix) && e.enabled == enabled {
				found = e
				return true, nil
			}
		}
		return false, fmt.Errorf("menu %v", es)
	})
	return found
}

// click clicks an entry as a panel does.
func (p *panel) click(item string, e menuEntry) {
	p.t.Helper()
	err := p.conn.Object(item, "/StatusNotifierItem/menu").Call("com.canonical.dbusmenu.Event", 0, e.id, "clicked", dbus.MakeVariant(""), uint32(0)).Err
	if err != nil {
		p.t.Fatalf("clicking %q: %v", e.label, err)
	}
}

// tooltip reads the icon's tooltip title.
func (p *panel) tooltip(item string) (string, error) {
	tip, err := traytest.ReadTooltip(p.conn, item)
	return tip.Title, err
}

func (p *panel) waitTooltip(item, prefix string, timeout time.Duration) {
	p.t.Helper()
	testenv.Eventually(p.t, timeout, "the tray tooltip "+prefix, func() (bool, error) {
		tip, err := p.tooltip(item)
		return err == nil && strings.HasPrefix(tip, prefix), fmt.Errorf("tooltip %q (%v)", tip, err)
	})
}

// waitWindow waits for a window whose name is title and returns its id.
// A search that fails (a window vanished under xdotool while it looked, as
// the previous dialog closes) is tried again.
func waitWindow(t *testing.T, display, title string, timeout time.Duration) string {
	t.Helper()
	var win string
	testenv.Eventually(t, timeout, "a window named "+title, func() (bool, error) {
		// Only mapped windows: keys sent to one not yet mapped are lost.
		out, err := xdotool(t, display, 10*time.Second, "search", "--onlyvisible", "--name", "^"+title+"$")
		if err != nil || out == "" {
			return false, fmt.Errorf("xdotool search: %q %v", out, err)
		}
		win = strings.Fields(out)[0]
		return true, nil
	})
	return win
}

// typeCode focuses the code entry, replaces its text with code and presses
// Return, with real key events.
func typeCode(t *testing.T, display, win, code string) {
	t.Helper()
	for _, args := range [][]string{{"windowfocus", "--sync", win}, {"key", "ctrl+a"}, {"type", "--delay", "30", code}, {"key", "Return"}} {
		if out, err := xdotool(t, display, 10*time.Second, args...); err != nil {
			t.Fatalf("xdotool %v: %v %s", args, err, out)
		}
	}
}

func TestTrayConnectionCode(t *testing.T) {
	s := startServer(t)
	requireSessionsAPI(t, s)
	display := startXvfb(t)
	p := startPanel(t)
	// NO_AT_BRIDGE keeps GTK (zenity) from looking for an accessibility
	// bus on the private session bus.
	a := startAgentEnv(t, s, s.enrollmentToken(), t.TempDir(), "DISPLAY="+display,
		"DBUS_SESSION_BUS_ADDRESS="+p.addr, "NO_AT_BRIDGE=1")
	ep := waitEndpoint(t, s.api, hostname(t))
	(&shareEnv{s: s}).putPolicy(t, 30)
	const tech, techPassword = "tracy", "correct horse battery tracy"
	if err := s.api.do(http.MethodPost, "/api/v1/users", "", protocol.CreateUserRequest{Name: tech, Password: techPassword,
		Roles: []string{perm.RoleScreenShareAgent}}, nil); err != nil {
		t.Fatal(err)
	}
	techAPI := s.userClient(tech, techPassword)

	item := p.waitItem(startTimeout)
	p.waitTooltip(item, "Tether: ready", startTimeout)
	var code protocol.ConnectionCode
	if err := techAPI.do(http.MethodPost, "/api/v1/codes", "", nil, &code); err != nil {
		t.Fatalf("issue a code: %v", err)
	}
	sessions := func() []protocol.Session {
		var list struct{ Sessions []protocol.Session }
		if err := s.api.do(http.MethodGet, "/api/v1/sessions", "", nil, &list); err != nil {
			t.Fatal(err)
		}
		return list.Sessions
	}

	// A wrong code: the Try Again dialog, and nothing starts.
	p.click(item, p.waitEntry(item, "Enter Connection Code…", true, startTimeout))
	entry := waitWindow(t, display, tray.CodeEntryTitle, startTimeout)
	wrong := []byte(strings.ReplaceAll(code.Code, "-", ""))
	wrong[8] = '0' + (wrong[8]-'0'+1)%10
	typeCode(t, display, entry, string(wrong))
	retry := waitWindow(t, display, tray.CodeResultTitle, actionTimeout)
	a.waitLogged("the wrong code's answer", func() bool {
		return slices.ContainsFunc(a.logRecords(), func(r map[string]any) bool {
			return r["msg"] == "connection code answered" && r["outcome"] == "wrong"
		})
	})
	if n := len(sessions()); n != 0 {
		t.Errorf("a wrong code started %d session(s)", n)
	}
	p.waitEntry(item, "Enter Connection Code…", false, startTimeout) // disabled while its dialog is open

	// Try Again: the entry comes back; the right code starts the session.
	answerPrompt(t, display, retry, "Return")
	entry = waitWindow(t, display, tray.CodeEntryTitle, startTimeout)
	typeCode(t, display, entry, code.Code)
	var id string
	a.waitLogged("the right code's answer", func() bool {
		for _, r := range a.logRecords() {
			if r["msg"] == "connection code entered from the tray" && r["outcome"] == "accepted" {
				id, _ = r["session_id"].(string)
				return true
			}
		}
		return false
	})
	t.Cleanup(func() {
		_ = s.api.do(http.MethodPost, "/api/v1/sessions/"+url.PathEscape(id)+"/end", "", struct{}{}, nil)
	})
	answerPrompt(t, display, waitPrompt(t, display, liveTimeout), "Return") // the attended prompt, as for any session
	var sess protocol.Session
	testenv.Eventually(t, liveTimeout, "the broker session to be accepted", func() (bool, error) {
		err := s.api.do(http.MethodGet, "/api/v1/sessions/"+url.PathEscape(id), "", nil, &sess)
		return err == nil && (sess.State == protocol.SessionConnecting || sess.State == protocol.SessionActive),
			fmt.Errorf("state %q (%v)", sess.State, err)
	})
	if sess.Technician != tech || sess.EndpointID != ep.ID {
		t.Errorf("the session: technician %q on %q, want %q on %q", sess.Technician, sess.EndpointID, tech, ep.ID)
	}

	// The tray shows the live session; its End Session (as the session
	// bar's) ends it as the user.
	p.waitTooltip(item, "Tether: "+tech+" is connected", startTimeout)
	if es, err := p.menu(item); err != nil || !slices.ContainsFunc(es, func(e menuEntry) bool {
		return (strings.HasPrefix(e.label, "Connecting session: "+tech+" — ") || strings.HasPrefix(e.label, "Live session: "+tech+" — ")) && !e.enabled
	}) {
		t.Errorf("no session line in the tray menu: %v (%v)", es, err)
	}
	end := p.waitEntry(item, "End Session", true, startTimeout)
	waitNoPrompt(t, display)
	p.click(item, end)
	testenv.Eventually(t, startTimeout, "the session to end by the user", func() (bool, error) {
		err := s.api.do(http.MethodGet, "/api/v1/sessions/"+url.PathEscape(id), "", nil, &sess)
		return err == nil && sess.State == protocol.SessionEnded, fmt.Errorf("state %q (%v)", sess.State, err)
	})
	if sess.Reason != protocol.EndedByUser {
		t.Errorf("ended %q, want %q", sess.Reason, protocol.EndedByUser)
	}
	p.waitTooltip(item, "Tether: ready", startTimeout)
	es, err := p.menu(item)
	if err != nil || !slices.ContainsFunc(es, func(e menuEntry) bool { return strings.HasSuffix(e.label, "You ended the session with "+tech+".") }) {
		t.Errorf("the end is not among the recent notifications: %v (%v)", es, err)
	}

	// The server goes away: the icon says so, and codes cannot be entered.
	s.stop()
	p.waitTooltip(item, "Tether: not connected", actionTimeout)
	p.waitEntry(item, "Enter Connection Code…", false, startTimeout)

	// Connection codes never reach a log.
	digits := strings.ReplaceAll(code.Code, "-", "")
	for _, l := range a.proc.stderr.Lines() {
		if strings.Contains(l, digits) || strings.Contains(l, code.Code) || strings.Contains(l, string(wrong)) {
			t.Errorf("the agent logged a connection code: %s", l)
		}
	}
}
