package capture

import (
	"context"
	"image/color"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
)

// startSway starts a headless sway with a full-screen window painted c and
// points this process's Wayland clients at it.
func startSway(t *testing.T, c color.RGBA) (*testenv.Compositor, *testenv.WaylandWindow) {
	t.Helper()
	comp, err := testenv.StartSway(context.Background(), 640, 480, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(comp.Stop)
	testenv.Setenv(t, comp.Env())
	win, err := testenv.OpenWaylandWindow(comp.Socket(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { win.Close() })
	return comp, win
}

func TestWLRCapture(t *testing.T) {
	red := color.RGBA{R: 0xd0, G: 0x20, B: 0x30, A: 0xff}
	_, win := startSway(t, red)
	s, err := Open(Config{Method: MethodWLR})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mons, err := s.Monitors()
	if err != nil || len(mons) != 1 || mons[0].W != 640 || mons[0].H != 480 || !mons[0].Primary {
		t.Fatalf("Monitors() = %+v, %v; want one primary 640x480", mons, err)
	}
	colourAt := func(want color.RGBA) func() (bool, error) {
		return func() (bool, error) {
			if _, any := s.(DamageSource).Damaged(0); !any {
				return false, nil
			}
			img, err := s.Capture(0)
			if err != nil {
				return false, err
			}
			return img.RGBAAt(320, 240) == want && img.RGBAAt(5, 5) == want, nil
		}
	}
	testenv.Eventually(t, 10*time.Second, "the window's colour in the capture", colourAt(red))
	// Nothing changes: no damage, so nothing to capture.
	if rects, any := s.(DamageSource).Damaged(0); any {
		// A frame or two may still be in flight after the first; it settles.
		testenv.Eventually(t, 5*time.Second, "no damage on an idle screen", func() (bool, error) {
			if _, any := s.(DamageSource).Damaged(0); any {
				_, err := s.Capture(0)
				return false, err
			}
			return true, nil
		})
		_ = rects
	}
	blue := color.RGBA{R: 0x10, G: 0x40, B: 0xe0, A: 0xff}
	if err := win.Fill(blue); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.(ChangeNotifier).Changed():
	case <-time.After(10 * time.Second):
		t.Fatal("no change notified after the window was repainted")
	}
	testenv.Eventually(t, 10*time.Second, "the new colour in the capture", colourAt(blue))
}
