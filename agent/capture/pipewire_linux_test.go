//go:build cgo

package capture

import (
	"context"
	"image/color"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/remotedesktop"
	"github.com/tetherdesk/tether/internal/testenv"
)

// openMutter opens a capture source on the test desktop through GNOME's
// API, closed when the test ends.
func openMutter(t *testing.T) Source {
	t.Helper()
	shared := remotedesktop.NewShared(func() (remotedesktop.Session, error) {
		return remotedesktop.Open(context.Background(), remotedesktop.PortalConfig{})
	})
	s, err := Open(Config{Method: MethodMutter, RemoteDesktop: shared})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestMutterCapture: GNOME's screen-cast API, read from PipeWire, shows a
// Wayland client's window and its changes, with damage.
func TestMutterCapture(t *testing.T) {
	g, err := testenv.StartMutter(context.Background(), 800, 600, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	testenv.Setenv(t, g.Env())
	red := color.RGBA{R: 0xd0, G: 0x20, B: 0x30, A: 0xff}
	win, err := testenv.OpenWaylandWindow(g.Socket(), red)
	if err != nil {
		t.Fatal(err)
	}
	defer win.Close()
	s := openMutter(t)
	mons, err := s.Monitors()
	if err != nil || len(mons) != 1 || mons[0].W != 800 || mons[0].H != 600 || !mons[0].Primary {
		t.Fatalf("Monitors() = %+v, %v; want one primary 800x600", mons, err)
	}
	colourAt := func(want color.RGBA) func() (bool, error) {
		return func() (bool, error) {
			img, err := s.Capture(0)
			if err != nil {
				return false, err
			}
			got := img.RGBAAt(400, 300)
			return got == want && img.RGBAAt(5, 5) == want, nil
		}
	}
	testenv.Eventually(t, 20*time.Second, "the window's colour in the capture", colourAt(red))
	blue := color.RGBA{R: 0x10, G: 0x40, B: 0xe0, A: 0xff}
	if err := win.Fill(blue); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the new colour in the capture", func() (bool, error) {
		if _, any := s.(DamageSource).Damaged(0); !any {
			return false, nil
		}
		return colourAt(blue)()
	})
}

// TestMutterMonitors: each of GNOME's monitors is a stream and a monitor
// of the source, laid out as GNOME lays them out, the primary first.
func TestMutterMonitors(t *testing.T) {
	g, err := testenv.StartMutterMonitors(context.Background(), []string{"800x600", "640x480"}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	testenv.Setenv(t, g.Env())
	s := openMutter(t)
	mons, err := s.Monitors()
	if err != nil || len(mons) != 2 {
		t.Fatalf("Monitors() = %+v, %v; want two", mons, err)
	}
	sizes := map[[2]int]bool{{mons[0].W, mons[0].H}: true, {mons[1].W, mons[1].H}: true}
	if !sizes[[2]int{800, 600}] || !sizes[[2]int{640, 480}] || !mons[0].Primary || mons[1].Primary {
		t.Errorf("Monitors() = %+v; want 800x600 and 640x480, the first primary", mons)
	}
	if a, b := mons[0], mons[1]; a.X == b.X && a.Y == b.Y {
		t.Errorf("both monitors at %d,%d", a.X, a.Y)
	}
	for i, m := range mons {
		img, err := s.Capture(i)
		if err != nil || img.Rect.Dx() != m.W || img.Rect.Dy() != m.H {
			t.Errorf("Capture(%d): %v, %v; want %dx%d", i, img.Rect, err, m.W, m.H)
		}
	}
}
