//go:build linux

package e2e

// Wayland desktops, end to end: the agent on a real compositor, the viewer
// in headless Chromium, a Wayland client of ours on the endpoint that
// paints a known colour and records the input it receives.

import (
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/protocol"
)

// waylandColour is what the test window paints.
var waylandColour = color.RGBA{R: 0x20, G: 0xa0, B: 0x60, A: 0xff}

// waylandSession runs one unattended session on the agent of e, whose
// desktop shows win: the viewer shows the window's colour, says which
// desktop it is, and a click and a key reach the window; then the
// technician ends the session and both sides see it ended.
func waylandSession(t *testing.T, e *shareEnv, win *testenv.WaylandWindow, wantCapture, wantWords string) {
	// The end user's "End session?" question is a window of its own on
	// the endpoint (zenity: the session bar needs X, and these desktops
	// have no Xwayland), which the compositor may place under the
	// technician's clicks. This test is about the screen and input: the
	// end user may not end the session here, so no question is asked.
	doc := map[string]any{"screenshare": map[string]any{"unattended_allowed": true, "acceptance_timeout_s": 30, "user_may_end": false}}
	if err := e.s.api.do(http.MethodPut, "/api/v1/policies/global", "", doc, nil); err != nil {
		t.Fatalf("PUT /api/v1/policies/global: %v", err)
	}
	e.a.waitLogged("the policy without End session", func() bool {
		for _, rec := range e.a.logRecords() {
			if v, ok := rec["version"].(float64); ok && rec["msg"] == "policy received" && v >= 3 {
				return true
			}
		}
		return false
	})
	tb := e.br.firstTab().on(t)
	s := e.startSession(t, false)
	tb.openViewer(e.s.url, s.ID)
	st := tb.waitLive(liveTimeout)
	rgb := [3]int{int(waylandColour.R), int(waylandColour.G), int(waylandColour.B)}
	tb.waitPixels(paintTimeout, []pixelWant{
		{"the window's colour at the centre", displayW / 2, displayH / 2, rgb},
		{"the window's colour near a corner", 20, 20, rgb},
		{"the window's colour near the far corner", displayW - 20, displayH - 20, rgb},
	})
	if got := e.a.captureMethods(s.ID); len(got) == 0 || got[len(got)-1] != wantCapture {
		t.Errorf("the helper captured with %v, want %s", got, wantCapture)
	}
	tb.waitStats(paintTimeout, "the viewer to name the desktop", func(v viewerStats) bool { return v.Capture == wantCapture })
	if words, err := evalJS[string](tb, `document.getElementById("desktop").textContent`); err != nil || words != wantWords {
		t.Errorf("the toolbar names the desktop %q (%v), want %q", words, err, wantWords)
	}
	r := tb.canvasRect()
	if r.W != displayW || r.H != displayH {
		t.Errorf("canvas is %dx%d, want the output's %dx%d", r.W, r.H, displayW, displayH)
	}

	control(t, e.tech1, s.ID, protocol.ControlRequestOp, st.ViewerID)
	waitHolder(t, st.ViewerID, tb)
	tb.mouse(r, chromedp.MouseMoved, 200, 150, input.MouseButtonNone, 0)
	tb.mouse(r, chromedp.MousePressed, 200, 150, input.MouseButtonLeft, 1)
	tb.mouse(r, chromedp.MouseReleased, 200, 150, input.MouseButtonLeft, 0)
	waitWindowEvent(t, win, "a left press at 200,150", func(l string) bool { return nearButton(l, "button 272 1", 200, 150) })
	waitWindowEvent(t, win, "a left release at 200,150", func(l string) bool { return nearButton(l, "button 272 0", 200, 150) })
	tb.mouse(r, chromedp.MouseMoved, 900, 500, input.MouseButtonNone, 0)
	tb.mouse(r, chromedp.MousePressed, 900, 500, input.MouseButtonRight, 2)
	tb.mouse(r, chromedp.MouseReleased, 900, 500, input.MouseButtonRight, 0)
	waitWindowEvent(t, win, "a right press at 900,500", func(l string) bool { return nearButton(l, "button 273 1", 900, 500) })
	focusCanvas(t, tb)
	tb.do("type a", chromedp.KeyEvent("a"))
	waitWindowEvent(t, win, "the A key down", func(l string) bool { return l == "key 30 1" })
	waitWindowEvent(t, win, "the A key up", func(l string) bool { return l == "key 30 0" })
	tb.screenshot("viewer-wayland.png")

	// The technician ends the session: the viewer and the server agree.
	if err := e.tech1.do(http.MethodPost, "/api/v1/sessions/"+url.PathEscape(s.ID)+"/end", "", struct{}{}, nil); err != nil {
		t.Fatalf("ending the session: %v", err)
	}
	e.waitEnded(t, s.ID, liveTimeout, protocol.EndedByTechnician)
	tb.waitStats(liveTimeout, "the viewer to show the session ended", func(v viewerStats) bool { return v.State == "ended" })
}

// nearButton matches a window's "button B S at X,Y" line within 2 pixels.
func nearButton(l, prefix string, x, y int) bool {
	var gx, gy int
	rest, ok := strings.CutPrefix(l, prefix+" at ")
	if !ok {
		return false
	}
	if _, err := fmt.Sscanf(rest, "%d,%d", &gx, &gy); err != nil {
		return false
	}
	return abs(gx-x) <= 2 && abs(gy-y) <= 2
}

// waitWindowEvent waits for a line of the test window's events.
func waitWindowEvent(t testing.TB, win *testenv.WaylandWindow, what string, match func(string) bool) {
	t.Helper()
	testenv.Eventually(t, inputTimeout, what+" at the Wayland window", func() (bool, error) {
		ls := win.Events.Lines()
		for _, l := range ls {
			if match(l) {
				return true, nil
			}
		}
		return false, fmt.Errorf("the window received %q", ls)
	})
}

// fullScreenWindow opens the test window on the compositor at socket and
// checks that it covers the output.
func fullScreenWindow(t *testing.T, socket string) *testenv.WaylandWindow {
	t.Helper()
	win, err := testenv.OpenWaylandWindow(socket, waylandColour)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { win.Close() })
	if w, h := win.Size(); w != displayW || h != displayH {
		t.Fatalf("the test window is %dx%d, want full screen %dx%d", w, h, displayW, displayH)
	}
	return win
}

// TestWaylandSway: a headless sway (wlroots), captured with screencopy and
// driven with the virtual pointer and keyboard.
func TestWaylandSway(t *testing.T) {
	comp, err := testenv.StartSway(context.Background(), displayW, displayH, startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(comp.Stop)
	win := fullScreenWindow(t, comp.Socket())
	e := startShareEnvOn(t, append(comp.Env(), "DISPLAY="))
	waylandSession(t, e, win, "wlr", "Wayland (wlroots)")
}

// TestWaylandMutter: a headless GNOME compositor (mutter) on a bus,
// PipeWire and WirePlumber of its own, captured and driven through GNOME's
// remote-desktop API: an unattended session that goes live with nothing
// asked on the endpoint (the API has no dialog; the session helper runs as
// the desktop's user on its bus).
func TestWaylandMutter(t *testing.T) {
	g, err := testenv.StartMutter(context.Background(), displayW, displayH, startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	win := fullScreenWindow(t, g.Socket())
	e := startShareEnvOn(t, append(g.Env(), "DISPLAY="))
	waylandSession(t, e, win, "mutter", "Wayland (GNOME)")
	// Nothing was asked on the endpoint; the end user was told, through
	// the desktop's notifications (no session bar: it needs X).
	shown := g.Notifications.Shown()
	if !slices.ContainsFunc(shown, func(n string) bool { return strings.Contains(n, "is connected to this computer for remote support") }) {
		t.Errorf("the desktop showed the notifications %q, none saying a technician is connected", shown)
	}
}

// TestWaylandLoginScreen: GNOME's login screen on Wayland is a GNOME
// compositor of the display manager's account (GDM's greeter runs
// gnome-shell, which is mutter, as Debian-gdm) on that account's own bus.
// The service marks the desktop a login screen and its helper runs as
// that account with --login-screen, where nobody is there to accept: an
// unattended session shows it and drives it through GNOME's
// remote-desktop API, with no dialog. Here mutter stands in for the
// greeter's gnome-shell (gnome-shell itself is not installed).
func TestWaylandLoginScreen(t *testing.T) {
	g, err := testenv.StartMutter(context.Background(), displayW, displayH, startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	win := fullScreenWindow(t, g.Socket())
	env := append(g.Env(), "DISPLAY=")
	uid, gid := desktopUser()
	desks := filepath.Join(t.TempDir(), "desktops.json")
	b, err := json.Marshal(map[string]any{"active": "gdm-greeter", "desktops": []map[string]any{
		{"key": "gdm-greeter", "wayland": envOf(env, "WAYLAND_DISPLAY"), "runtime_dir": envOf(env, "XDG_RUNTIME_DIR"),
			"dbus": envOf(env, "DBUS_SESSION_BUS_ADDRESS"), "uid": uid, "gid": gid, "user": "Debian-gdm", "greeter": true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(desks, b, 0o600); err != nil {
		t.Fatal(err)
	}
	e := startShareEnvOn(t, append(env, "TETHER_DESKTOPS_FILE="+desks, "HOME="+userDir(t)))
	waylandSession(t, e, win, "mutter", "Wayland (GNOME)")
	if !slices.ContainsFunc(e.a.logRecords(), func(rec map[string]any) bool {
		return rec["msg"] == "session helper started" && rec["greeter"] == true && rec["user"] == "Debian-gdm"
	}) {
		t.Error("no helper started for the login screen as the display manager's account")
	}
}
