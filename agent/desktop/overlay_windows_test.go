package desktop

import (
	"fmt"
	"image"
	"testing"
	"time"
	"unsafe"

	"github.com/lxn/win"
	"golang.org/x/sys/windows"

	"github.com/tetherdesk/tether/agent/internal/winui"
	"github.com/tetherdesk/tether/shared/protocol"
)

var procOverlayTestWindowFromPoint = windows.NewLazySystemDLL("user32.dll").NewProc("WindowFromPoint")

// overlayTestWindowAt is WindowFromPoint. lxn/win's passes the POINT as
// two arguments, which is wrong on 64-bit Windows: there the 8-byte
// struct travels in one register.
func overlayTestWindowAt(x, y int32) win.HWND {
	if unsafe.Sizeof(uintptr(0)) == 8 {
		r, _, _ := procOverlayTestWindowFromPoint.Call(uintptr(uint32(x)) | uintptr(uint32(y))<<32)
		return win.HWND(r)
	}
	r, _, _ := procOverlayTestWindowFromPoint.Call(uintptr(x), uintptr(y))
	return win.HWND(r)
}

// TestWindowsOverlay: over a black window of the test's own, marks and
// the pointer ring show on the screen in the overlay colour, the ring's
// middle stays clear, a hidden ring and faded marks let the screen show
// through, only the last maxMarks marks stay, marks on another monitor
// replace the others, and the overlay takes no input: the window under a
// mark is the test's, and a click there reaches it. The overlay never
// becomes the foreground window.
func TestWindowsOverlay(t *testing.T) {
	sw, sh := win.GetSystemMetrics(win.SM_CXSCREEN), win.GetSystemMetrics(win.SM_CYSCREEN)

	// The known background, on a thread of its own like any other app.
	bt, err := winui.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer bt.Close()
	clicks := make(chan image.Point, 8)
	var bg win.HWND
	var berr error
	if err := bt.Do(func() {
		bg, berr = bt.Create(winui.WindowConfig{
			Class: "TetherOverlayTestBackground", Title: "overlay test background",
			Style: win.WS_POPUP | win.WS_VISIBLE, W: sw, H: sh,
			Background: winui.SolidBrush(0),
			Proc: func(h win.HWND, msg uint32, wp, lp uintptr) (uintptr, bool) {
				if msg == win.WM_LBUTTONDOWN {
					select {
					case clicks <- image.Pt(int(int16(lp&0xffff)), int(int16(lp>>16&0xffff))):
					default:
					}
				}
				return 0, false
			},
		})
	}); err != nil || berr != nil {
		t.Fatal(err, berr)
	}

	pixel := func(x, y int) uint32 {
		dc := win.GetDC(0)
		defer win.ReleaseDC(0, dc)
		c := uint32(win.GetPixel(dc, int32(x), int32(y)))
		return c&0xff<<16 | c&0xff00 | c>>16&0xff
	}
	waitUntil := func(what string, d time.Duration, cond func() (bool, string)) {
		t.Helper()
		deadline := time.Now().Add(d)
		for {
			ok, got := cond()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: %s", what, got)
			}
			time.Sleep(20 * time.Millisecond) // polling the screen, not synchronising
		}
	}
	// waitScreen waits for every pixel to be as wanted at once, in 5 reads
	// in a row: the screen may be read mid-update, and a see-through pixel
	// counts only while what should be drawn is (a mark fading later must
	// not pass for a working colour key).
	type px struct {
		what string
		x, y int
		want uint32
	}
	waitScreen := func(pxs ...px) {
		t.Helper()
		same, first := 0, ""
		waitUntil(pxs[0].what, 10*time.Second, func() (bool, string) {
			for _, p := range pxs {
				if got := pixel(p.x, p.y); got != p.want {
					same = 0
					msg := fmt.Sprintf("%s: %d,%d is #%06x, want #%06x", p.what, p.x, p.y, got, p.want)
					if first == "" {
						first = msg
					}
					if msg != first {
						msg += " (at first, " + first + ")"
					}
					return false, msg
				}
			}
			same++
			return same >= 5, "not steady"
		})
	}
	waitScreen(px{"the black background", 200, 100, 0}, px{"the black background", 609, 400, 0})

	ov, err := newWinOverlay()
	if err != nil {
		t.Fatal(err)
	}
	defer ov.Close()
	mon := protocol.Monitor{W: int(sw), H: int(sh), Primary: true}
	marked := time.Now()
	if err := ov.Mark(mon, []image.Point{{100, 100}, {300, 100}, {300, 200}}); err != nil {
		t.Fatal(err)
	}
	if err := ov.Pointer(mon, 600, 400, true); err != nil {
		t.Fatal(err)
	}
	waitScreen(
		px{"the mark", 200, 100, OverlayRGB},
		px{"the mark's corner", 300, 150, OverlayRGB},
		px{"beside the mark", 200, 140, 0},
		px{"the pointer ring", 600 + 9, 400, OverlayRGB},
		px{"the ring's middle", 600, 400, 0})
	if fg := win.GetForegroundWindow(); fg == ov.ptr || fg == ov.marks {
		t.Error("the overlay became the foreground window")
	}

	// Click-through: the window under a mark and under the ring is the
	// background, and a real click on a mark reaches it.
	for _, p := range []image.Point{{200, 100}, {609, 400}} {
		if h := overlayTestWindowAt(int32(p.X), int32(p.Y)); h != bg {
			t.Errorf("WindowFromPoint(%v) is %#x, not the background %#x (overlay: pointer %#x, marks %#x)", p, h, bg, ov.ptr, ov.marks)
		}
	}
	abs := func(v, size int32) int32 { return (v*65536 + size - 1) / size }
	in := []win.MOUSE_INPUT{
		{Type: win.INPUT_MOUSE, Mi: win.MOUSEINPUT{Dx: abs(200, sw), Dy: abs(100, sh), DwFlags: win.MOUSEEVENTF_MOVE | win.MOUSEEVENTF_ABSOLUTE}},
		{Type: win.INPUT_MOUSE, Mi: win.MOUSEINPUT{DwFlags: win.MOUSEEVENTF_LEFTDOWN}},
		{Type: win.INPUT_MOUSE, Mi: win.MOUSEINPUT{DwFlags: win.MOUSEEVENTF_LEFTUP}},
	}
	if n := win.SendInput(uint32(len(in)), unsafe.Pointer(&in[0]), int32(unsafe.Sizeof(in[0]))); n != uint32(len(in)) {
		t.Fatalf("SendInput sent %d of %d inputs: %v", n, len(in), windows.GetLastError())
	}
	select {
	case p := <-clicks:
		if p != image.Pt(200, 100) {
			t.Errorf("the background got the click at %v, want (200,100)", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a click on the mark did not reach the window below")
	}
	if fg := win.GetForegroundWindow(); fg == ov.ptr || fg == ov.marks {
		t.Error("the click activated the overlay")
	}

	// Hidden pointer: the screen shows through.
	if err := ov.Pointer(mon, 0, 0, false); err != nil {
		t.Fatal(err)
	}
	waitScreen(px{"the hidden ring", 600 + 9, 400, 0}, px{"the mark beside the hidden ring", 200, 100, OverlayRGB})

	// The mark fades after markLife, not before.
	waitUntil("the mark to fade", markLife+10*time.Second, func() (bool, string) {
		got := pixel(200, 100)
		return got == 0, fmt.Sprintf("200,100 is still #%06x", got)
	})
	if d := time.Since(marked); d < markLife {
		t.Errorf("the mark faded after %s, before %s", d, markLife)
	}
	if win.IsWindowVisible(ov.marks) {
		t.Error("the marks window stays shown with no marks")
	}

	// Only the last maxMarks marks stay.
	for i := range maxMarks + 1 {
		y := 300 + 10*i
		if err := ov.Mark(mon, []image.Point{{700, y}, {800, y}}); err != nil {
			t.Fatal(err)
		}
	}
	waitScreen(
		px{"the newest mark", 750, 300 + 10*maxMarks, OverlayRGB},
		px{"the second mark", 750, 310, OverlayRGB},
		px{"the mark past maxMarks", 750, 300, 0})

	// A monitor elsewhere in the virtual screen: its coordinates are
	// offset, and its marks replace the others (this one would show at
	// 200,200 if they were kept and drawn in the moved window).
	if err := ov.Mark(mon, []image.Point{{50, 150}, {150, 150}}); err != nil {
		t.Fatal(err)
	}
	waitScreen(px{"a mark to be replaced", 100, 150, OverlayRGB})
	mon2 := protocol.Monitor{X: 100, Y: 50, W: 400, H: 300}
	if err := ov.Pointer(mon2, 10, 10, true); err != nil {
		t.Fatal(err)
	}
	if err := ov.Mark(mon2, []image.Point{{10, 200}, {50, 200}}); err != nil {
		t.Fatal(err)
	}
	waitScreen(
		px{"the ring on the second monitor", 110 + 9, 60, OverlayRGB},
		px{"the ring's middle on the second monitor", 110, 60, 0},
		px{"the mark on the second monitor", 130, 250, OverlayRGB},
		px{"a first monitor's mark", 750, 310, 0},
		px{"a first monitor's mark, had it been kept", 200, 200, 0})

	// Close takes everything off the screen; it and the methods after it
	// are no-ops.
	if err := ov.Close(); err != nil {
		t.Fatal(err)
	}
	waitScreen(px{"the ring after Close", 110 + 9, 60, 0}, px{"the mark after Close", 130, 250, 0})
	if winui.IsWindow(ov.ptr) || winui.IsWindow(ov.marks) {
		t.Error("Close left the overlay's windows")
	}
	if err := ov.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := ov.Mark(mon, []image.Point{{1, 1}}); err != nil {
		t.Errorf("Mark after Close: %v", err)
	}
	if err := ov.Pointer(mon, 1, 1, true); err != nil {
		t.Errorf("Pointer after Close: %v", err)
	}
}
