//go:build linux

package e2e

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
)

// The end user's session bar (agent/desktop): its title and the colour of
// its End session button.
const (
	sessionBarTitle = "Tether session bar"
	sessionBarEnd   = 0xc62828
)

// displayImage reads rectangle r of display's screen.
func displayImage(t testing.TB, display string, r image.Rectangle) *image.RGBA {
	t.Helper()
	c, err := xgb.NewConnDisplay(display)
	if err != nil {
		t.Fatalf("connecting to %s: %v", display, err)
	}
	defer c.Close()
	root := xproto.Setup(c).DefaultScreen(c).Root
	rep, err := xproto.GetImage(c, xproto.ImageFormatZPixmap, xproto.Drawable(root),
		int16(r.Min.X), int16(r.Min.Y), uint16(r.Dx()), uint16(r.Dy()), 0xffffffff).Reply()
	if err != nil {
		t.Fatalf("GetImage %v on %s: %v", r, display, err)
	}
	img := image.NewRGBA(r)
	if len(rep.Data) < 4*r.Dx()*r.Dy() {
		t.Fatalf("GetImage gave %d bytes for %v", len(rep.Data), r)
	}
	for i := 0; i < r.Dx()*r.Dy(); i++ {
		b := rep.Data[4*i : 4*i+4] // BGRX at depth 24
		img.Set(r.Min.X+i%r.Dx(), r.Min.Y+i/r.Dx(), color.RGBA{b[2], b[1], b[0], 0xff})
	}
	return img
}

// saveDisplay writes the endpoint's screen as PNG under e2e/out for
// reviewers.
func saveDisplay(t testing.TB, display, name string) {
	t.Helper()
	img := displayImage(t, display, image.Rect(0, 0, displayW, displayH))
	if err := os.MkdirAll("out", 0o755); err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	path := filepath.Join("out", name)
	f, err := os.Create(path)
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Errorf("screenshot: %v", err)
	}
	t.Logf("screenshot: e2e/%s", path)
}

// waitSessionBar waits for the session bar on display and returns its
// window and rectangle.
func waitSessionBar(t testing.TB, display string, timeout time.Duration) (string, image.Rectangle) {
	t.Helper()
	win := waitWindowNamed(t, display, sessionBarTitle, timeout)
	r := windowRect(t, display, win)
	return win, r
}

// barButton finds the session bar's button drawn in rgb and returns its
// centre on the screen.
func barButton(t testing.TB, display string, bar image.Rectangle, rgb uint32) (image.Point, bool) {
	t.Helper()
	img := displayImage(t, display, bar)
	var box image.Rectangle
	for y := bar.Min.Y; y < bar.Max.Y; y++ {
		for x := bar.Min.X; x < bar.Max.X; x++ {
			c := img.RGBAAt(x, y)
			if uint32(c.R)<<16|uint32(c.G)<<8|uint32(c.B) == rgb {
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	if box.Dx() < 10 || box.Dy() < 5 {
		return image.Point{}, false
	}
	return image.Pt((box.Min.X+box.Max.X)/2, (box.Min.Y+box.Max.Y)/2), true
}

// checkSessionBarPlace fails t unless the bar is a thin bar at the top
// edge, not over the middle of the screen.
func checkSessionBarPlace(t testing.TB, r image.Rectangle) {
	t.Helper()
	if r.Min.Y != 0 || r.Dy() > 60 {
		t.Errorf("the session bar is at %v: want a thin bar at the top edge", r)
	}
	if centre := image.Pt(displayW/2, displayH/2); centre.In(r) {
		t.Errorf("the session bar %v covers the centre of the screen", r)
	}
}
