package desktop

import (
	"context"
	"encoding/base64"
	"image"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/shape"
	"github.com/jezek/xgb/xproto"

	"github.com/tetherdesk/tether/shared/protocol"
)

// tkClipScript is another program on the display using the clipboard:
// "get" prints the clipboard's text (base64), "set B64" copies text.
const tkClipScript = `
fconfigure stdout -encoding utf-8 -buffering line
fconfigure stdin -encoding utf-8 -blocking 0
wm withdraw .
proc cmd {} {
	if {[gets stdin line] < 0} { if {[eof stdin]} { exit 0 }; return }
	set verb [lindex $line 0]
	if {$verb eq "get"} {
		if {[catch {clipboard get -type UTF8_STRING} t]} { puts "got none" } else { puts "got [binary encode base64 [encoding convertto utf-8 $t]]" }
	} elseif {$verb eq "set"} {
		clipboard clear
		clipboard append [encoding convertfrom utf-8 [binary decode base64 [lindex $line 1]]]
		# Tk's claim on the clipboard sits in Xlib's buffer until the event
		# loop flushes it; flush before saying done, or a claim made after
		# "set done" could land after it and lose to this stale one.
		update
		puts "set done"
	}
}
fileevent stdin readable cmd
puts ready
`

// TestX11Clipboard: text set through the helper's clipboard is what another
// X client pastes, and what that client copies is what the watcher
// reports (the text held before watching is not).
func TestX11Clipboard(t *testing.T) {
	xsrv.Setenv(t)
	tk := xsrv.Wish(t, tkClipScript)
	tk.WaitPrefix(t, 20*time.Second, "ready")
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	// Held before the session: never reported.
	tk.Send("set " + b64("old secret"))
	tk.WaitPrefix(t, 20*time.Second, "set done")

	cb, err := newX11Clipboard()
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	changes := make(chan string, 8)
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan error, 1)
	go func() { watched <- cb.Watch(ctx, func(s string) { changes <- s }) }()
	defer func() { cancel(); <-watched }()

	want := "ticket #4711 — Grüße ✓"
	if err := cb.Set(want); err != nil {
		t.Fatal(err)
	}
	// Tk learns that it lost the clipboard from an event it may handle
	// after our first question: ask until it pastes ours.
	deadline := time.Now().Add(20 * time.Second)
	for got := ""; got != "got "+b64(want); {
		if time.Now().After(deadline) {
			t.Fatalf("the other program pasted %q, want %q", got, "got "+b64(want))
		}
		tk.Send("get")
		got = tk.WaitPrefix(t, 20*time.Second, "got ")
	}

	tk.Send("set " + b64("copied on the endpoint"))
	select {
	case got := <-changes:
		if got != "copied on the endpoint" {
			t.Errorf("the watcher reported %q", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the watcher did not report the copy")
	}
	select {
	case got := <-changes:
		t.Errorf("reported %q as well", got)
	default:
	}
}

// TestX11Overlay: marks and the pointer ring are drawn in the overlay
// colour over the screen, the ring's middle stays clear, and the overlay
// takes no input (its input shape is empty).
func TestX11Overlay(t *testing.T) {
	xsrv.Setenv(t)
	xsrv.SolidRoot(t, "#000000")
	ov, err := newX11Overlay()
	if err != nil {
		t.Fatal(err)
	}
	defer ov.Close()
	mon := protocol.Monitor{W: 1280, H: 720, Primary: true}
	if err := ov.Mark(mon, []image.Point{{100, 100}, {300, 100}, {300, 200}}); err != nil {
		t.Fatal(err)
	}
	if err := ov.Pointer(mon, 600, 400, true); err != nil {
		t.Fatal(err)
	}

	c, err := xgb.NewConn()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	root := xproto.Setup(c).DefaultScreen(c).Root
	pixel := func(x, y int) uint32 {
		img, err := xproto.GetImage(c, xproto.ImageFormatZPixmap, xproto.Drawable(root), int16(x), int16(y), 1, 1, 0xffffffff).Reply()
		if err != nil || len(img.Data) < 3 {
			t.Fatalf("GetImage: %v", err)
		}
		return uint32(img.Data[2])<<16 | uint32(img.Data[1])<<8 | uint32(img.Data[0])
	}
	waitPixel := func(what string, x, y int, want uint32) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := pixel(x, y)
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s at %d,%d is #%06x, want #%06x", what, x, y, got, want)
			}
			time.Sleep(20 * time.Millisecond) // polling the screen, not synchronising
		}
	}
	waitPixel("the mark", 200, 100, OverlayRGB)
	waitPixel("the mark's corner", 300, 150, OverlayRGB)
	waitPixel("beside the mark", 200, 140, 0)
	waitPixel("the pointer ring", 600+9, 400, OverlayRGB)
	waitPixel("the ring's middle", 600, 400, 0)

	// Click-through: both windows have an empty input shape.
	q, err := xproto.QueryExtension(c, 5, "SHAPE").Reply()
	if err != nil || !q.Present {
		t.Fatal("no SHAPE")
	}
	c.ExtLock.Lock()
	c.Extensions["SHAPE"] = q.MajorOpcode
	c.ExtLock.Unlock()
	for _, w := range []xproto.Window{ov.ptr, ov.marks} {
		r, err := shape.GetRectangles(c, w, shape.SkInput).Reply()
		if err != nil {
			t.Fatal(err)
		}
		if r.RectanglesLen != 0 {
			t.Errorf("window %d takes input in %d rectangles", w, r.RectanglesLen)
		}
	}

	// Hidden pointer: the screen shows through.
	if err := ov.Pointer(mon, 0, 0, false); err != nil {
		t.Fatal(err)
	}
	waitPixel("the hidden ring", 600+9, 400, 0)
}
