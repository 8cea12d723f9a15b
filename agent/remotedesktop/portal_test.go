//go:build linux && cgo

package remotedesktop_test

import (
	"context"
	"errors"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/tetherdesk/tether/agent/capture"
	"github.com/tetherdesk/tether/agent/input"
	"github.com/tetherdesk/tether/agent/remotedesktop"
	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/protocol"
)

// endUser is the person at a GNOME test desktop: it sees the screen and
// clicks and types, through GNOME's own remote-desktop API.
type endUser struct {
	t    *testing.T
	src  capture.Source
	sess remotedesktop.Session
}

func newEndUser(t *testing.T) *endUser {
	sh := remotedesktop.NewShared(func() (remotedesktop.Session, error) { return remotedesktop.OpenMutter(context.Background()) })
	src, err := capture.Open(capture.Config{Method: capture.MethodMutter, RemoteDesktop: sh})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	sess, release, err := sh.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return &endUser{t: t, src: src, sess: sess}
}

// portalBlue is the colour of the dialog's suggested button (Share).
var portalBlue = color.RGBA{R: 0x35, G: 0x84, B: 0xe4, A: 0xff}

// shareButton waits for the portal's dialog and returns its Share
// button's bounds on the screen.
func (u *endUser) shareButton() image.Rectangle {
	u.t.Helper()
	var r image.Rectangle
	testenv.Eventually(u.t, 20*time.Second, "the portal's dialog on the screen", func() (bool, error) {
		var err error
		r, err = u.blue()
		return r.Dx() > 30 && r.Dy() > 20, err
	})
	return r
}

// gone waits until no dialog is on the screen, so that the next one is
// not mistaken for the last.
func (u *endUser) gone() {
	u.t.Helper()
	testenv.Eventually(u.t, 20*time.Second, "the portal's dialog gone", func() (bool, error) {
		r, err := u.blue()
		return r.Empty(), err
	})
}

// blue is where the screen shows the dialog's blue.
func (u *endUser) blue() (image.Rectangle, error) {
	img, err := u.src.Capture(0)
	if err != nil {
		return image.Rectangle{}, err
	}
	var r image.Rectangle
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if near(img.RGBAAt(x, y), portalBlue) {
				r = r.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return r, nil
}

func near(a, b color.RGBA) bool {
	d := func(x, y uint8) int {
		if x > y {
			return int(x - y)
		}
		return int(y - x)
	}
	return d(a.R, b.R) < 12 && d(a.G, b.G) < 12 && d(a.B, b.B) < 12
}

func (u *endUser) key(code uint32) {
	u.t.Helper()
	if err := errors.Join(u.sess.KeyboardKeycode(code, true), u.sess.KeyboardKeycode(code, false)); err != nil {
		u.t.Fatal(err)
	}
}

// click presses and releases the left button at p.
func (u *endUser) click(p image.Point) {
	u.t.Helper()
	const btnLeft = 0x110
	if err := errors.Join(u.sess.PointerMotionAbsolute(0, float64(p.X), float64(p.Y)),
		u.sess.PointerButton(btnLeft, true), u.sess.PointerButton(btnLeft, false)); err != nil {
		u.t.Fatal(err)
	}
}

// allowInteraction turns on the dialog's "Allow remote interaction"
// switch from the keyboard, as an end user without a mouse would: the
// monitor list has the focus, the switch's row is next, then the switch.
// It waits for the switch to show on (the blue of its track).
func (u *endUser) allowInteraction(share image.Rectangle) {
	u.t.Helper()
	const keyTab, keySpace = 15, 57
	u.key(keyTab)
	u.key(keyTab)
	u.key(keySpace)
	// The switch sits at the dialog's right edge, below the monitor list.
	track := image.Rect(share.Min.X, share.Max.Y+150, share.Max.X, share.Max.Y+230)
	testenv.Eventually(u.t, 10*time.Second, "the remote-interaction switch on", func() (bool, error) {
		img, err := u.src.Capture(0)
		if err != nil {
			return false, err
		}
		n := 0
		for y := track.Min.Y; y < track.Max.Y; y++ {
			for x := track.Min.X; x < track.Max.X; x++ {
				if near(img.RGBAAt(x, y), portalBlue) {
					n++
				}
			}
		}
		return n > 100, nil
	})
}

func centre(r image.Rectangle) image.Point { return image.Pt((r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2) }

// TestPortal: sessions through the desktop portal on GNOME (real
// xdg-desktop-portal and xdg-desktop-portal-gnome), answered in the
// desktop's own dialog by the end user at the keyboard and mouse:
// declined (Escape), allowed to see only (Share), and allowed to see and
// control (the switch, then Share). The allowed sessions' streams are read
// from the portal's PipeWire remote and show the window on the desktop;
// the controlled one's click and key reach it, and the see-only one
// refuses input. Where the portal can remember an answer (RemoteDesktop
// version 2), the next session starts without the dialog; where it
// cannot (Debian 12's), the dialog comes again.
func TestPortal(t *testing.T) {
	g, err := testenv.StartMutter(context.Background(), 800, 600, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	if err := g.StartPortals(context.Background(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	testenv.Setenv(t, g.Env())
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range g.Procs() {
				t.Logf("--- %s:\n%s", p.Name, p.Stderr.String())
			}
		}
	})
	red := color.RGBA{R: 0xd0, G: 0x20, B: 0x30, A: 0xff}
	win, err := testenv.OpenWaylandWindow(g.Socket(), red)
	if err != nil {
		t.Fatal(err)
	}
	defer win.Close()
	user := newEndUser(t)
	tokenFile := filepath.Join(t.TempDir(), "state", "tether", "portal-restore-token")
	type result struct {
		s   remotedesktop.Session
		err error
	}
	open := func() chan result {
		ch := make(chan result, 1)
		go func() {
			s, err := remotedesktop.OpenPortal(context.Background(), remotedesktop.PortalConfig{TokenFile: tokenFile, Answer: 30 * time.Second})
			ch <- result{s, err}
		}()
		return ch
	}
	wait := func(ch chan result) result {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(40 * time.Second):
			t.Fatal("OpenPortal did not return")
		}
		return result{}
	}
	// sees reads the session's stream, as the agent does, until it shows
	// the window; it returns the session's input, or its error.
	sees := func(s remotedesktop.Session) (input.Injector, error) {
		t.Helper()
		sh := remotedesktop.NewShared(func() (remotedesktop.Session, error) { return s, nil })
		src, err := capture.Open(capture.Config{Method: capture.MethodPortal, RemoteDesktop: sh})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { src.Close() })
		testenv.Eventually(t, 20*time.Second, "the window in the portal's stream", func() (bool, error) {
			img, err := src.Capture(0)
			if err != nil {
				return false, err
			}
			return img.RGBAAt(400, 300) == red && img.RGBAAt(5, 5) == red, nil
		})
		inj, err := input.Open(input.Config{RemoteDesktop: sh})
		if err == nil {
			t.Cleanup(func() { inj.Close() })
		}
		return inj, err
	}

	// Declined: Escape in the dialog.
	ch := open()
	user.shareButton()
	const keyEsc = 1
	user.key(keyEsc)
	if r := wait(ch); !errors.Is(r.err, remotedesktop.ErrDeclined) {
		t.Fatalf("after Escape in the dialog OpenPortal = %v, %v; want ErrDeclined", r.s, r.err)
	}
	if _, err := os.Stat(tokenFile); err == nil {
		t.Error("a declined session left a restore token")
	}
	user.gone()

	// Allowed to see, not to control: Share with the switch left off.
	ch = open()
	user.click(centre(user.shareButton()))
	r := wait(ch)
	if r.err != nil {
		t.Fatalf("after Share OpenPortal: %v", r.err)
	}
	if r.s.Kind() != remotedesktop.KindPortal || r.s.Interactive() {
		t.Errorf("a see-only session: Kind %v, Interactive %v; want portal, false", r.s.Kind(), r.s.Interactive())
	}
	if st := r.s.Streams(); len(st) != 1 || st[0].W != 800 || st[0].H != 600 {
		t.Errorf("streams %+v; want one 800x600", st)
	}
	if _, err := sees(r.s); !errors.Is(err, input.ErrViewOnly) {
		t.Errorf("input on a see-only session: %v; want ErrViewOnly", err)
	}
	r.s.Close()
	user.gone()

	// Allowed to see and control.
	ch = open()
	share := user.shareButton()
	user.allowInteraction(share)
	user.click(centre(share))
	r = wait(ch)
	if r.err != nil {
		t.Fatalf("after the switch and Share OpenPortal: %v", r.err)
	}
	if !r.s.Interactive() {
		t.Error("the end user allowed remote interaction; the session says it is not interactive")
	}
	inj, err := sees(r.s)
	if err != nil {
		t.Fatalf("input on an allowed session: %v", err)
	}
	mon := protocol.Monitor{W: 800, H: 600, Primary: true}
	for _, ev := range []protocol.InputEvent{
		{T: input.EvDown, X: 123, Y: 234, Button: input.ButtonLeft},
		{T: input.EvUp, X: 123, Y: 234, Button: input.ButtonLeft},
		{T: input.EvKey, Key: "KeyQ", Down: true},
		{T: input.EvKey, Key: "KeyQ"},
	} {
		if err := inj.Apply(ev, mon); err != nil {
			t.Fatalf("Apply(%+v): %v", ev, err)
		}
	}
	testenv.Eventually(t, 10*time.Second, "the click and the key at the window", func() (bool, error) {
		l := win.Events.Lines()
		return slices.Contains(l, "button 272 1 at 123,234") && slices.Contains(l, "button 272 0 at 123,234") &&
			slices.Contains(l, "key 16 1") && slices.Contains(l, "key 16 0"), nil
	})
	inj.Close()
	r.s.Close()
	user.gone()

	// Remembered where the portal can remember.
	version := portalVersion(t)
	b, err := os.ReadFile(tokenFile)
	if version < 2 {
		if err == nil {
			t.Errorf("RemoteDesktop version %d cannot restore, yet a token was kept: %q", version, b)
		}
		ch = open()
		user.shareButton() // the dialog again
		user.key(keyEsc)
		if r := wait(ch); !errors.Is(r.err, remotedesktop.ErrDeclined) {
			t.Fatalf("the second dialog, declined: %v, %v", r.s, r.err)
		}
		return
	}
	if err != nil {
		t.Fatalf("RemoteDesktop version %d: no restore token kept: %v", version, err)
	}
	if fi, err := os.Stat(tokenFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the token file's mode: %v, %v; want 0600", fi, err)
	}
	r = wait(open())
	if r.err != nil {
		t.Fatalf("the remembered session: %v", r.err)
	}
	r.s.Close()
}

// portalVersion is the version of the portal's RemoteDesktop interface.
func portalVersion(t *testing.T) uint32 {
	t.Helper()
	bus, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	v, err := bus.Object("org.freedesktop.portal.Desktop", "/org/freedesktop/portal/desktop").GetProperty("org.freedesktop.portal.RemoteDesktop.version")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := v.Value().(uint32)
	return n
}
