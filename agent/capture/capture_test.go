package capture

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/internal/xtest"
	"github.com/tetherdesk/tether/shared/protocol"
)

var xsrv *xtest.Server

func TestMain(m *testing.M) {
	os.Exit(xtest.Main(m, xtest.Options{Width: 1280, Height: 720, Depth: 24}, &xsrv))
}

// waitCapture captures monitor 0 until ok accepts the picture or the
// deadline passes.
func waitCapture(t *testing.T, src Source, ok func(*image.RGBA) error) *image.RGBA {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		img, err := src.Capture(0)
		if err != nil {
			t.Fatalf("Capture: %v", err)
		}
		err = ok(img)
		if err == nil {
			return img
		}
		if time.Now().After(deadline) {
			t.Fatalf("captured picture never matched: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// methods are the capture paths the tests run on; each must work on Xvfb.
var methods = []Method{MethodAuto, MethodPortable, MethodX11SHM, MethodX11}

// forEachMethod runs f in a subtest per capture path, with DISPLAY set and
// TETHER_CAPTURE naming the path, so New picks it.
func forEachMethod(t *testing.T, f func(t *testing.T)) {
	for _, m := range methods {
		name := string(m)
		if m == MethodAuto {
			name = "auto"
		}
		t.Run(name, func(t *testing.T) {
			xsrv.Setenv(t)
			t.Setenv(EnvMethod, string(m))
			f(t)
		})
	}
}

func allColour(c color.RGBA) func(*image.RGBA) error {
	return func(img *image.RGBA) error {
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y += 7 {
			for x := b.Min.X; x < b.Max.X; x += 5 {
				if got := img.RGBAAt(x, y); got != c {
					return fmt.Errorf("pixel %d,%d = %v, want %v", x, y, got, c)
				}
			}
		}
		return nil
	}
}

func TestMonitorsAndSolidRoot(t *testing.T) { forEachMethod(t, testMonitorsAndSolidRoot) }

func testMonitorsAndSolidRoot(t *testing.T) {
	src, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer src.Close()

	ms, err := src.Monitors()
	if err != nil {
		t.Fatalf("Monitors: %v", err)
	}
	want := []protocol.Monitor{{X: 0, Y: 0, W: 1280, H: 720, Primary: true}}
	if fmt.Sprint(ms) != fmt.Sprint(want) {
		t.Fatalf("Monitors = %+v, want %+v", ms, want)
	}

	for _, tc := range []struct {
		name string
		hex  string
		c    color.RGBA
	}{
		{"red", "#ff0000", color.RGBA{255, 0, 0, 255}},
		{"blue", "#0000ff", color.RGBA{0, 0, 255, 255}},
		{"grey", "#336699", color.RGBA{0x33, 0x66, 0x99, 255}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			xsrv.SolidRoot(t, tc.hex)
			img := waitCapture(t, src, allColour(tc.c))
			if img.Rect != image.Rect(0, 0, 1280, 720) {
				t.Fatalf("Rect = %v", img.Rect)
			}
		})
	}
}

// A Tk window paints shapes at known places; the capture shows them there.
func TestCaptureShapes(t *testing.T) { forEachMethod(t, testCaptureShapes) }

func testCaptureShapes(t *testing.T) {
	src, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer src.Close()
	xsrv.SolidRoot(t, "#000000")

	c := xsrv.Wish(t, `
wm overrideredirect . 1
wm geometry . 1280x720+0+0
canvas .c -width 1280 -height 720 -highlightthickness 0 -borderwidth 0 -background #00ff00
pack .c
.c create rectangle 100 50 300 150 -fill #ff0000 -outline ""
.c create rectangle 1000 600 1280 720 -fill #0000ff -outline ""
update
puts ready
flush stdout
`)
	c.WaitPrefix(t, 20*time.Second, "ready")

	probes := []struct {
		x, y int
		c    color.RGBA
	}{
		{0, 0, color.RGBA{0, 255, 0, 255}},
		{100, 50, color.RGBA{255, 0, 0, 255}},
		{299, 149, color.RGBA{255, 0, 0, 255}},
		{300, 150, color.RGBA{0, 255, 0, 255}},
		{99, 50, color.RGBA{0, 255, 0, 255}},
		{1000, 600, color.RGBA{0, 0, 255, 255}},
		{1279, 719, color.RGBA{0, 0, 255, 255}},
		{640, 360, color.RGBA{0, 255, 0, 255}},
	}
	waitCapture(t, src, func(img *image.RGBA) error {
		for _, p := range probes {
			if got := img.RGBAAt(p.x, p.y); got != p.c {
				return fmt.Errorf("pixel %d,%d = %v, want %v", p.x, p.y, got, p.c)
			}
		}
		return nil
	})
}

func TestCaptureBadMonitor(t *testing.T) { forEachMethod(t, testCaptureBadMonitor) }

func testCaptureBadMonitor(t *testing.T) {
	src, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, i := range []int{-1, 1, 99} {
		if _, err := src.Capture(i); !errors.Is(err, ErrNoMonitor) {
			t.Errorf("Capture(%d) = %v, want ErrNoMonitor", i, err)
		}
	}
	src.Close()
	if _, err := src.Capture(0); !errors.Is(err, ErrClosed) {
		t.Errorf("Capture after Close = %v, want ErrClosed", err)
	}
}

func TestNewWithoutDisplay(t *testing.T) {
	forEachMethod(t, func(t *testing.T) {
		t.Setenv("DISPLAY", ":65000") // nothing listens there
		if src, err := New(); err == nil {
			src.Close()
			t.Fatal("New succeeded without a reachable display")
		}
	})
}

func TestUnknownMethod(t *testing.T) {
	t.Setenv(EnvMethod, "vnc")
	if src, err := New(); !errors.Is(err, ErrUnknownMethod) {
		if src != nil {
			src.Close()
		}
		t.Fatalf("New with %s=vnc: %v, want ErrUnknownMethod", EnvMethod, err)
	}
}

func TestMonitorsFromRects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rs     []image.Rectangle
		origin image.Point
		want   []protocol.Monitor
	}{
		{"one", []image.Rectangle{image.Rect(0, 0, 800, 600)}, image.Point{},
			[]protocol.Monitor{{W: 800, H: 600, Primary: true}}},
		{"left of primary", []image.Rectangle{image.Rect(0, 0, 800, 600), image.Rect(-1024, 0, 0, 768)}, image.Point{},
			[]protocol.Monitor{{W: 800, H: 600, Primary: true}, {X: -1024, W: 1024, H: 768}}},
		{"offset origin", []image.Rectangle{image.Rect(0, 0, 800, 600), image.Rect(-1024, 0, 0, 768)}, image.Pt(1024, 0),
			[]protocol.Monitor{{X: 1024, W: 800, H: 600, Primary: true}, {X: 0, W: 1024, H: 768}}},
		{"none at origin", []image.Rectangle{image.Rect(10, 0, 810, 600)}, image.Point{},
			[]protocol.Monitor{{X: 10, W: 800, H: 600, Primary: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := monitorsFromRects(tc.rs, tc.origin)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRebase(t *testing.T) {
	img := image.NewRGBA(image.Rect(100, 50, 110, 60))
	img.SetRGBA(100, 50, color.RGBA{1, 2, 3, 255})
	img = rebase(img)
	if img.Rect != image.Rect(0, 0, 10, 10) || img.RGBAAt(0, 0) != (color.RGBA{1, 2, 3, 255}) {
		t.Fatalf("rebase: %v %v", img.Rect, img.RGBAAt(0, 0))
	}
}

func TestCursorPosition(t *testing.T) { forEachMethod(t, testCursorPosition) }

func testCursorPosition(t *testing.T) {
	src, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	cs, ok := src.(interface {
		Cursor(int) (int, int, bool)
	})
	if !ok {
		t.Fatal("the X11 source does not report the pointer position")
	}
	cmd := exec.Command("xdotool", "mousemove", "321", "123")
	cmd.Env = xsrv.Env()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("xdotool unavailable: %v %s", err, out)
	}
	if x, y, on := cs.Cursor(0); !on || x != 321 || y != 123 {
		t.Fatalf("Cursor(0) = %d, %d, %v; want 321, 123, true", x, y, on)
	}
	if _, _, on := cs.Cursor(7); on {
		t.Fatal("Cursor on a missing monitor reported a position")
	}
}
