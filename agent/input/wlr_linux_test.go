//go:build cgo

package input

import (
	"context"
	"image/color"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/protocol"
)

// TestWLRInput: pointer and keys from the injector reach a Wayland client
// of a headless sway, at the right place.
func TestWLRInput(t *testing.T) {
	comp, err := testenv.StartSway(context.Background(), 640, 480, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(comp.Stop)
	testenv.Setenv(t, comp.Env())
	t.Setenv("DISPLAY", "")
	win, err := testenv.OpenWaylandWindow(comp.Socket(), color.RGBA{G: 0xff, A: 0xff})
	if err != nil {
		t.Fatal(err)
	}
	defer win.Close()
	inj, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer inj.Close()
	mon := protocol.Monitor{W: 640, H: 480, Primary: true}
	// sway announces the new virtual pointer and keyboard to the window,
	// which then asks for them: until it has, input is not for it.
	testenv.Eventually(t, 10*time.Second, "the window to have the pointer and keyboard", func() (bool, error) {
		if err := inj.Apply(protocol.InputEvent{T: EvMove, X: 100, Y: 200}, mon); err != nil {
			return false, err
		}
		ls := win.Events.Lines()
		return slices.Contains(ls, "pointer enter") && slices.Contains(ls, "focus"), nil
	})
	for _, ev := range []protocol.InputEvent{
		{T: EvMove, X: 100, Y: 200},
		{T: EvDown, X: 100, Y: 200, Button: ButtonLeft},
		{T: EvUp, X: 100, Y: 200, Button: ButtonLeft},
		{T: EvDown, X: 301, Y: 17, Button: ButtonRight},
		{T: EvUp, X: 301, Y: 17, Button: ButtonRight},
		{T: EvKey, Key: "KeyA", Down: true},
		{T: EvKey, Key: "KeyA"},
		{T: EvText, Text: "Z!"},
		{T: EvWheel, X: 10, Y: 10, DY: 2},
	} {
		if err := inj.Apply(ev, mon); err != nil {
			t.Fatalf("Apply(%+v): %v", ev, err)
		}
	}
	want := []string{
		"button 272 1 at 100,200", "button 272 0 at 100,200",
		"button 273 1 at 301,17", "button 273 0 at 301,17",
		"key 30 1", "key 30 0",
		"key 42 1", "key 44 1", "key 44 0", "key 42 0", // Z
		"key 42 1", "key 2 1", "key 2 0", "key 42 0", // !
		"axis 0 30",
	}
	testenv.Eventually(t, 10*time.Second, "the events at the window", func() (bool, error) {
		var got []string
		for _, l := range win.Events.Lines() {
			if l != "focus" && l != "pointer enter" {
				got = append(got, l)
			}
		}
		if len(got) < len(want) {
			return false, nil
		}
		if !slices.Equal(got, want) {
			t.Fatalf("the window received\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		return true, nil
	})
	// Characters the US keys cannot type go on F13 onwards, with a keymap
	// of the moment that gives them those characters.
	before := len(win.Keymaps())
	if err := inj.Apply(protocol.InputEvent{T: EvText, Text: "é✓é"}, mon); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "é and ✓ typed on spare keys", func() (bool, error) {
		ls := win.Events.Lines()
		n := 0
		for _, l := range ls {
			if l == "key 183 1" || l == "key 184 1" {
				n++
			}
		}
		return n == 3 && len(win.Keymaps()) >= before+2, nil
	})
	kms := win.Keymaps()
	if with := kms[len(kms)-2]; !strings.Contains(with, "eacute") || !strings.Contains(with, "U2713") {
		t.Errorf("the keymap the window had while é and ✓ were typed gives no eacute or U2713:\n%.2000s", with)
	}
	if after := kms[len(kms)-1]; strings.Contains(after, "U2713") {
		t.Error("the spare keys kept ✓ after the text was typed")
	}
}
