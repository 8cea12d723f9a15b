//go:build !s390x && !ppc64le

package capture

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/encode"
)

// paintScript is a full-screen Tk canvas with colourful shapes and text;
// "rect x0 y0 x1 y1 colour" on stdin adds a rectangle and prints "painted".
const paintScript = `
wm overrideredirect . 1
wm geometry . 1280x720+0+0
canvas .c -width 1280 -height 720 -highlightthickness 0 -borderwidth 0 -background #102030
pack .c
for {set i 0} {$i < 64} {incr i} {
	set x [expr {($i % 16) * 80}]
	set y [expr {($i / 16) * 60}]
	.c create rectangle $x $y [expr {$x+70}] [expr {$y+50}] -fill [format #%02x%02x%02x [expr {$i*4}] [expr {255-$i*3}] [expr {($i*37)%256}]] -outline ""
}
.c create text 640 500 -text "The quick brown fox 0123456789" -fill #fefe01 -font {Helvetica 24}
.c create oval 900 300 1200 450 -fill #ff00ff -outline #00ffff -width 3
proc cmd {} {
	if {[gets stdin line] < 0} { exit }
	if {[lindex $line 0] eq "rect"} {
		lassign $line _ x0 y0 x1 y1 col
		.c create rectangle $x0 $y0 $x1 $y1 -fill $col -outline ""
		update
		puts painted
		flush stdout
	}
}
fileevent stdin readable cmd
update
puts ready
flush stdout
`

func open(t *testing.T, m Method) Source {
	t.Helper()
	src, err := Open(Config{Method: m})
	if err != nil {
		t.Fatalf("Open(%q): %v", m, err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func methodOf(src Source) Method {
	if m, ok := src.(interface{ Method() Method }); ok {
		return m.Method()
	}
	return "?"
}

func TestMethodSelection(t *testing.T) {
	xsrv.Setenv(t)
	for _, tc := range []struct{ ask, want Method }{
		{MethodAuto, MethodX11SHM}, // a local Xvfb shares memory
		{MethodX11SHM, MethodX11SHM},
		{MethodX11, MethodX11}, // shared memory forced off: GetImage on the socket
		{MethodPortable, MethodPortable},
	} {
		if got := methodOf(open(t, tc.ask)); got != tc.want {
			t.Errorf("Open(%q) uses %q, want %q", tc.ask, got, tc.want)
		}
	}
}

func TestLocalDisplay(t *testing.T) {
	for _, tc := range []struct {
		display string
		local   bool
	}{
		{":0", true}, {":12.0", true}, {"unix:3", true}, {"/tmp/launch-x/org.xquartz:0", true},
		{"localhost:10.0", false}, {"10.0.0.5:0", false}, {"host.example:1", false},
	} {
		t.Setenv("DISPLAY", tc.display)
		if got := localDisplay(); got != tc.local {
			t.Errorf("localDisplay(%q) = %v, want %v", tc.display, got, tc.local)
		}
	}
}

// The fast paths see exactly the pixels the portable path sees.
func TestPathsAgree(t *testing.T) {
	xsrv.Setenv(t)
	c := xsrv.Wish(t, paintScript)
	c.WaitPrefix(t, 20*time.Second, "ready")
	portable := open(t, MethodPortable)
	// Wait until the screen is painted and stable.
	var want []byte
	waitCapture(t, portable, func(img *image.RGBA) error {
		if got := img.RGBAAt(1000, 375); got != (color.RGBA{255, 0, 255, 255}) {
			return fmt.Errorf("oval not painted yet: %v", got)
		}
		if !bytes.Equal(img.Pix, want) {
			want = bytes.Clone(img.Pix)
			return fmt.Errorf("screen still changing")
		}
		return nil
	})
	for _, m := range []Method{MethodX11SHM, MethodX11} {
		src := open(t, m)
		for i := range 2 { // the second capture reuses the buffers
			img, err := src.Capture(0)
			if err != nil {
				t.Fatal(err)
			}
			if img.Rect != image.Rect(0, 0, 1280, 720) || img.Stride != 1280*4 {
				t.Fatalf("%s: Rect %v stride %d", m, img.Rect, img.Stride)
			}
			if !bytes.Equal(img.Pix, want) {
				for p := 0; p < len(want); p += 4 {
					if !bytes.Equal(img.Pix[p:p+4], want[p:p+4]) {
						t.Fatalf("%s capture %d: pixel %d,%d = %x, portable %x", m, i, p/4%1280, p/4/1280, img.Pix[p:p+4], want[p:p+4])
					}
				}
			}
		}
	}
}

// settle captures until the damage source reports no change for a while.
func settle(t *testing.T, src Source) {
	t.Helper()
	ds := src.(DamageSource)
	deadline := time.Now().Add(15 * time.Second)
	quiet := 0
	for quiet < 5 {
		if time.Now().After(deadline) {
			t.Fatal("the screen never stopped changing")
		}
		if _, any := ds.Damaged(0); any {
			quiet = 0
			if _, err := src.Capture(0); err != nil {
				t.Fatal(err)
			}
		} else {
			quiet++
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDamage(t *testing.T) {
	for _, m := range []Method{MethodX11SHM, MethodX11} {
		t.Run(string(m), func(t *testing.T) { testDamage(t, m) })
	}
}

func testDamage(t *testing.T, m Method) {
	xsrv.Setenv(t)
	c := xsrv.Wish(t, paintScript)
	c.WaitPrefix(t, 20*time.Second, "ready")
	src := open(t, m)
	ds, ok := src.(DamageSource)
	if !ok {
		t.Fatalf("the %s source does not report damage", m)
	}
	full := []image.Rectangle{image.Rect(0, 0, 1280, 720)}
	// Never captured: everything counts as changed.
	if rs, any := ds.Damaged(0); !any || fmt.Sprint(rs) != fmt.Sprint(full) {
		t.Fatalf("Damaged before the first capture = %v, %v; want %v, true", rs, any, full)
	}
	if rs, any := ds.Damaged(5); !any || rs != nil {
		t.Fatalf("Damaged(5) = %v, %v; want nil, true", rs, any)
	}
	settle(t, src)

	// Idle: nothing, again and again.
	for range 10 {
		if rs, any := ds.Damaged(0); any {
			t.Fatalf("idle screen reported damage %v", rs)
		}
		time.Sleep(20 * time.Millisecond)
	}

	for i, r := range []image.Rectangle{image.Rect(200, 100, 250, 140), image.Rect(1200, 650, 1280, 720)} {
		col := []string{"#ff0000", "#00ff00"}[i]
		if err := c.Send(fmt.Sprintf("rect %d %d %d %d %s", r.Min.X, r.Min.Y, r.Max.X, r.Max.Y, col)); err != nil {
			t.Fatal(err)
		}
		c.WaitPrefix(t, 10*time.Second, "painted")
		var union image.Rectangle
		deadline := time.Now().Add(10 * time.Second)
		for !r.In(union) {
			if time.Now().After(deadline) {
				t.Fatalf("damage %v never covered the painted %v", union, r)
			}
			rs, _ := ds.Damaged(0)
			for _, d := range rs {
				union = union.Union(d)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Tk redraws a little around an item; not much more.
		if !union.In(r.Inset(-4)) {
			t.Errorf("damage %v reaches far beyond the painted %v", union, r)
		}
		img, err := src.Capture(0)
		if err != nil {
			t.Fatal(err)
		}
		want := color.RGBA{255, 0, 0, 255}
		if i == 1 {
			want = color.RGBA{0, 255, 0, 255}
		}
		if got := img.RGBAAt(r.Min.X+5, r.Min.Y+5); got != want {
			t.Errorf("pixel in the painted rectangle = %v, want %v", got, want)
		}
		// Only the damage was fetched, and the picture is whole.
		if g := src.(*x11Source).grabbed; g <= 0 || g > 1280*720/4 {
			t.Errorf("grabbed %d pixels for damage %v", g, union)
		}
		fresh, err := open(t, m).Capture(0)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(img.Pix, fresh.Pix) {
			t.Fatal("partial capture differs from a full one")
		}
		// The capture took the damage: quiet again.
		settle(t, src)
		if rs, any := ds.Damaged(0); any {
			t.Fatalf("damage %v after capturing the change", rs)
		}
	}
}

// covered waits until Damaged(0) reports rectangles covering r.
func covered(t *testing.T, ds DamageSource, r image.Rectangle) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var union image.Rectangle
		rs, _ := ds.Damaged(0)
		for _, d := range rs {
			union = union.Union(d)
		}
		if r.In(union) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("damage %v never covered %v", union, r)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Damage that arrives after Damaged answered is not lost by the capture
// that follows: the caller was not told about it, so it is reported next.
func TestDamageArrivingAfterDamaged(t *testing.T) {
	xsrv.Setenv(t)
	c := xsrv.Wish(t, paintScript)
	c.WaitPrefix(t, 20*time.Second, "ready")
	src := open(t, MethodX11SHM)
	s := src.(*x11Source)
	settle(t, src)

	a, b := image.Rect(10, 600, 60, 650), image.Rect(700, 600, 760, 650)
	c.Send(fmt.Sprintf("rect %d %d %d %d #ff0000", a.Min.X, a.Min.Y, a.Max.X, a.Max.Y))
	c.WaitPrefix(t, 10*time.Second, "painted")
	covered(t, s, a) // the caller now knows about a, not b
	c.Send(fmt.Sprintf("rect %d %d %d %d #00ff00", b.Min.X, b.Min.Y, b.Max.X, b.Max.Y))
	c.WaitPrefix(t, 10*time.Second, "painted")
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Fetched (as a Damaged call for another monitor would) but not told.
		s.fetchDamage()
		var union image.Rectangle
		d := s.pending[0]
		for _, r := range d.rects[d.told:] {
			union = union.Union(r)
		}
		if b.In(union) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("damage for %v never fetched", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	img, err := src.Capture(0)
	if err != nil {
		t.Fatal(err)
	}
	if got := img.RGBAAt(a.Min.X+1, a.Min.Y+1); got != (color.RGBA{255, 0, 0, 255}) {
		t.Fatalf("a not captured: %v", got)
	}
	rs, any := s.Damaged(0)
	if !any {
		t.Fatal("the damage of b was lost")
	}
	var union image.Rectangle
	for _, r := range rs {
		union = union.Union(r)
	}
	if !b.In(union) {
		t.Fatalf("damage %v does not cover b %v", union, b)
	}
	if img, err = src.Capture(0); err != nil {
		t.Fatal(err)
	}
	if got := img.RGBAAt(b.Min.X+1, b.Min.Y+1); got != (color.RGBA{0, 255, 0, 255}) {
		t.Fatalf("b not captured: %v", got)
	}
}

func TestAfterCapture(t *testing.T) {
	r := func(i int) image.Rectangle { return image.Rect(i, i, i+1, i+1) }
	for _, tc := range []struct {
		name string
		in   *monDamage
		want monDamage
	}{
		{"none", nil, monDamage{}},
		{"not asked", &monDamage{rects: []image.Rectangle{r(1)}}, monDamage{}},
		{"all told", &monDamage{rects: []image.Rectangle{r(1), r(2)}, asked: true, told: 2}, monDamage{}},
		{"later rects kept", &monDamage{rects: []image.Rectangle{r(1), r(2)}, asked: true, told: 1}, monDamage{rects: []image.Rectangle{r(2)}}},
		{"overflow after told", &monDamage{rects: []image.Rectangle{r(1)}, all: true, asked: true, told: 1}, monDamage{all: true}},
		{"overflow told", &monDamage{all: true, asked: true, toldAll: true}, monDamage{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.afterCapture()
			if fmt.Sprint(got.rects) != fmt.Sprint(tc.want.rects) || got.all != tc.want.all || got.asked || got.told != 0 {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// The session loop's use of damage (skip when nothing changed, else
// capture and EncodeDamaged) sends what a full compare (Encode) sends,
// while the screen changes under it.
func TestDamagedEncodingMatchesEncode(t *testing.T) {
	xsrv.Setenv(t)
	c := xsrv.Wish(t, paintScript)
	c.WaitPrefix(t, 20*time.Second, "ready")
	src := open(t, MethodX11SHM)
	ds := src.(DamageSource)
	withDamage, plain := encode.New(encode.Config{}), encode.New(encode.Config{})
	rng := rand.New(rand.NewPCG(5, 6))
	frames, skipped := 0, 0
	for i := 0; i < 200; i++ {
		if i < 150 && i%3 == 0 {
			x, y := rng.IntN(1200), rng.IntN(650)
			c.Send(fmt.Sprintf("rect %d %d %d %d #%06x", x, y, x+1+rng.IntN(80), y+1+rng.IntN(70), rng.IntN(1<<24)))
		}
		rects, any := ds.Damaged(0)
		if !any {
			skipped++
			time.Sleep(2 * time.Millisecond)
			continue
		}
		img, err := src.Capture(0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := withDamage.EncodeDamaged(img, false, rects)
		if err != nil {
			t.Fatal(err)
		}
		want, err := plain.Encode(img, false)
		if err != nil {
			t.Fatal(err)
		}
		frames++
		if len(got) != len(want) {
			t.Fatalf("frame %d: %d messages with damage, %d without", i, len(got), len(want))
		}
		for j := range got {
			if !bytes.Equal(got[j], want[j]) {
				t.Fatalf("frame %d: message %d differs", i, j)
			}
		}
	}
	t.Logf("%d frames encoded, %d skipped as undamaged", frames, skipped)
	// Once quiet, the picture built from partial captures is the screen.
	settle(t, src)
	img, err := src.Capture(0)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := open(t, MethodX11).Capture(0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img.Pix, fresh.Pix) {
		t.Fatal("the damage-driven picture differs from the screen")
	}
	if skipped == 0 {
		t.Error("no frame was ever skipped")
	}
}

// moveScript shows a 300x200 window at 100,100; "move x y" moves it and
// prints "moved", "paint" repaints it and prints "painted".
const moveScript = `
wm overrideredirect . 1
wm geometry . 300x200+100+100
canvas .c -width 300 -height 200 -highlightthickness 0 -borderwidth 0 -background #c0ffee
pack .c
.c create text 150 100 -text "drag me" -font {Helvetica 20}
proc cmd {} {
	if {[gets stdin line] < 0} { exit }
	switch [lindex $line 0] {
		move { wm geometry . +[lindex $line 1]+[lindex $line 2]; update; puts moved }
		paint { .c configure -background #ff8800; update; puts painted }
	}
	flush stdout
}
fileevent stdin readable cmd
update
puts ready
flush stdout
`

// TestWindowMoves: a top-level window moved by its client is reported by
// Moved, once, with where it was and where it went; a change on the screen
// wakes Changed.
func TestWindowMoves(t *testing.T) {
	xsrv.Setenv(t)
	c := xsrv.Wish(t, moveScript)
	c.WaitPrefix(t, 20*time.Second, "ready")
	src := open(t, MethodAuto)
	ms, ok := src.(MoveSource)
	if !ok {
		t.Fatalf("the %s source does not report window moves", methodOf(src))
	}
	cn, ok := src.(ChangeNotifier)
	if !ok || cn.Changed() == nil {
		t.Fatalf("the %s source does not announce changes", methodOf(src))
	}
	if _, err := src.Capture(0); err != nil {
		t.Fatal(err)
	}
	for _, mv := range ms.Moved(0) {
		t.Logf("left from before: %+v", mv)
	}
	if err := c.Send("move 400 250"); err != nil {
		t.Fatal(err)
	}
	c.WaitPrefix(t, 10*time.Second, "moved")
	want := Move{From: image.Rect(100, 100, 400, 300), To: image.Pt(400, 250)}
	var got []Move
	deadline := time.Now().Add(10 * time.Second)
	for len(got) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the move was never reported")
		}
		got = ms.Moved(0)
	}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("Moved = %+v, want [%+v]", got, want)
	}
	if again := ms.Moved(0); len(again) != 0 {
		t.Fatalf("the move was reported twice: %+v", again)
	}

	// Changed: drained and the damage taken (as the stream loop does:
	// Damaged, then Capture), then a repaint wakes it.
	select {
	case <-cn.Changed():
	default:
	}
	src.(DamageSource).Damaged(0)
	if _, err := src.Capture(0); err != nil {
		t.Fatal(err)
	}
	if err := c.Send("paint"); err != nil {
		t.Fatal(err)
	}
	c.WaitPrefix(t, 10*time.Second, "painted")
	select {
	case <-cn.Changed():
	case <-time.After(10 * time.Second):
		t.Fatal("a repaint did not wake Changed")
	}
}
