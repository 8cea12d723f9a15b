//go:build cgo

package input

import (
	"context"
	"fmt"
	"image/color"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/capture"
	"github.com/tetherdesk/tether/agent/remotedesktop"
	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/protocol"
)

// TestMutterInput: pointer and keys through GNOME's remote-desktop API
// reach a Wayland client at the right place.
func TestMutterInput(t *testing.T) {
	g, err := testenv.StartMutter(context.Background(), 800, 600, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	testenv.Setenv(t, g.Env())
	win, err := testenv.OpenWaylandWindow(g.Socket(), color.RGBA{G: 0xff, A: 0xff})
	if err != nil {
		t.Fatal(err)
	}
	defer win.Close()
	shared := remotedesktop.NewShared(func() (remotedesktop.Session, error) {
		return remotedesktop.Open(context.Background(), remotedesktop.PortalConfig{})
	})
	// As in a session, the screen is being captured: GNOME places the
	// pointer on a stream that is streaming.
	src, err := capture.Open(capture.Config{RemoteDesktop: shared})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Capture(0); err != nil {
		t.Fatal(err)
	}
	inj, err := Open(Config{RemoteDesktop: shared})
	if err != nil {
		t.Fatal(err)
	}
	defer inj.Close()
	mon := protocol.Monitor{W: 800, H: 600, Primary: true}
	apply := func(evs ...protocol.InputEvent) {
		t.Helper()
		for _, ev := range evs {
			if err := inj.Apply(ev, mon); err != nil {
				t.Fatalf("Apply(%+v): %v", ev, err)
			}
		}
	}
	apply(protocol.InputEvent{T: EvMove, X: 100, Y: 200},
		protocol.InputEvent{T: EvDown, X: 100, Y: 200, Button: ButtonLeft},
		protocol.InputEvent{T: EvUp, X: 100, Y: 200, Button: ButtonLeft},
		protocol.InputEvent{T: EvDown, X: 301, Y: 17, Button: ButtonRight},
		protocol.InputEvent{T: EvUp, X: 301, Y: 17, Button: ButtonRight})
	// The click gave the window the keyboard.
	testenv.Eventually(t, 10*time.Second, "keyboard focus on the window", func() (bool, error) {
		return slices.Contains(win.Events.Lines(), "focus"), nil
	})
	apply(protocol.InputEvent{T: EvKey, Key: "KeyA", Down: true},
		protocol.InputEvent{T: EvKey, Key: "KeyA"},
		protocol.InputEvent{T: EvText, Text: "z"})
	want := []string{
		"button 272 1 at 100,200", "button 272 0 at 100,200",
		"button 273 1 at 301,17", "button 273 0 at 301,17",
		"key 30 1", "key 30 0",
		"key 44 1", "key 44 0",
	}
	testenv.Eventually(t, 10*time.Second, "the events at the window", func() (bool, error) {
		var got []string
		for _, l := range win.Events.Lines() {
			// The injector's tap of Shift, which makes GNOME add its
			// virtual keyboard, may reach the window first.
			if l != "focus" && l != "pointer enter" && !(len(got) == 0 && strings.HasPrefix(l, "key 42 ")) {
				got = append(got, l)
			}
		}
		if len(got) < len(want) {
			return false, fmt.Errorf("the window received %q; mutter said:\n%s", got, g.Proc.Stderr.String())
		}
		if !slices.Equal(got, want) {
			t.Fatalf("the window received\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		return true, nil
	})
}
