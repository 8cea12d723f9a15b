//go:build linux

package e2e

// The video track end to end: a moving, photo-like picture on the
// endpoint's Xvfb reaches the viewer through its VP8 track (decoded by
// Chromium itself), while text beside it stays pixel-exact on the tile
// path.

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/tetherdesk/tether/internal/testenv"
)

// xPainter paints windows of pixels on a display with plain X requests.
type xPainter struct {
	conn   *xgb.Conn
	root   xproto.Window
	depth  byte
	visual xproto.Visualid
	maxReq int
}

func dialPainter(t testing.TB, display string) *xPainter {
	t.Helper()
	c, err := xgb.NewConnDisplay(display)
	if err != nil {
		t.Fatalf("connecting to %s: %v", display, err)
	}
	t.Cleanup(c.Close)
	setup := xproto.Setup(c)
	scr := setup.DefaultScreen(c)
	go func() { // errors of unchecked requests arrive as events
		for {
			if ev, err := c.WaitForEvent(); ev == nil && err == nil {
				return
			}
		}
	}()
	return &xPainter{conn: c, root: scr.Root, depth: scr.RootDepth, visual: scr.RootVisual, maxReq: int(setup.MaximumRequestLength) * 4}
}

// window maps an override-redirect window at r and returns a painter of it.
func (x *xPainter) window(t testing.TB, r image.Rectangle) func(rgba []byte) {
	t.Helper()
	wid, err := xproto.NewWindowId(x.conn)
	if err != nil {
		t.Fatal(err)
	}
	if err := xproto.CreateWindowChecked(x.conn, x.depth, wid, x.root, int16(r.Min.X), int16(r.Min.Y), uint16(r.Dx()), uint16(r.Dy()), 0,
		xproto.WindowClassInputOutput, x.visual, xproto.CwBackPixmap|xproto.CwOverrideRedirect, []uint32{xproto.BackPixmapNone, 1}).Check(); err != nil {
		t.Fatalf("creating a window: %v", err)
	}
	gc, err := xproto.NewGcontextId(x.conn)
	if err != nil {
		t.Fatal(err)
	}
	if err := xproto.CreateGCChecked(x.conn, gc, xproto.Drawable(wid), 0, nil).Check(); err != nil {
		t.Fatalf("creating a GC: %v", err)
	}
	if err := xproto.MapWindowChecked(x.conn, wid).Check(); err != nil {
		t.Fatalf("mapping a window: %v", err)
	}
	w, h := r.Dx(), r.Dy()
	bgrx := make([]byte, w*h*4)
	var mu sync.Mutex
	return func(rgba []byte) {
		mu.Lock()
		defer mu.Unlock()
		for i := 0; i < len(rgba); i += 4 {
			bgrx[i], bgrx[i+1], bgrx[i+2], bgrx[i+3] = rgba[i+2], rgba[i+1], rgba[i], 0
		}
		rows := max(1, (x.maxReq-64)/(w*4))
		for y := 0; y < h; y += rows {
			n := min(rows, h-y)
			xproto.PutImage(x.conn, xproto.ImageFormatZPixmap, xproto.Drawable(wid), gc, uint16(w), uint16(n), 0, int16(y), 0, x.depth, bgrx[y*w*4:(y+n)*w*4])
		}
		// A round trip: the picture is on the display when this returns.
		_, _ = xproto.GetInputFocus(x.conn).Reply()
	}
}

// movieFrames renders n frames of w x h photo-like motion (RGBA).
func movieFrames(w, h, n int) [][]byte {
	rng := rand.New(rand.NewPCG(7, 7))
	frames := make([][]byte, n)
	for i := range frames {
		f := make([]byte, w*h*4)
		for y := range h {
			for x := range w {
				fx, fy := float64(x+6*i), float64(y+4*i)
				o := (y*w + x) * 4
				f[o] = byte(min(255, max(0, 120+80*math.Sin(fx/17)+30*math.Sin(fy/5)+rng.Float64()*16)))
				f[o+1] = byte(min(255, max(0, 120+80*math.Sin(fy/13)+30*math.Cos(fx/7)+rng.Float64()*16)))
				f[o+2] = byte(min(255, max(0, 120+80*math.Sin((fx+fy)/21)+rng.Float64()*16)))
				f[o+3] = 255
			}
		}
		frames[i] = f
	}
	return frames
}

// textPicture is a text-like w x h picture: dark glyph-ish bars on white,
// lines lines of them (RGBA).
func textPicture(w, h, lines int) []byte {
	f := make([]byte, w*h*4)
	for i := range f {
		f[i] = 255
	}
	rng := rand.New(rand.NewPCG(3, 1))
	for l := range lines {
		y0 := 6 + 18*l
		for x0 := 6; x0+8 < w && y0+12 < h; x0 += 9 {
			gw, gh := 2+rng.IntN(6), 6+rng.IntN(6)
			c := [3]byte{20, 20, 20}
			if rng.IntN(7) == 0 {
				c = [3]byte{30, 60, 200} // a link
			}
			for y := y0 + 12 - gh; y < y0+12; y++ {
				for x := x0; x < x0+gw; x++ {
					o := (y*w + x) * 4
					f[o], f[o+1], f[o+2] = c[0], c[1], c[2]
				}
			}
		}
	}
	return f
}

// TestScreenShareVideo: acceptance 3 of the video track.
func TestScreenShareVideo(t *testing.T) {
	e := startShareEnvCapture(t, "")
	x := dialPainter(t, e.display)
	movie := image.Rect(64, 64, 384, 304)
	text := image.Rect(576, 64, 960, 320)
	paintText := x.window(t, text)
	paintMovie := x.window(t, movie)
	paintText(textPicture(text.Dx(), text.Dy(), 6))
	frames := movieFrames(movie.Dx(), movie.Dy(), 8)
	paintMovie(frames[0])

	stop := make(chan struct{})
	played := make(chan struct{})
	var shown int // the frame painted last, once played is closed
	halt := sync.OnceFunc(func() { close(stop); <-played })
	defer halt()
	go func() {
		defer close(played)
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				paintMovie(frames[i%len(frames)])
				shown = i % len(frames)
			}
		}
	}()

	tb := e.br.firstTab().on(t)
	s := e.startSession(t, false)
	tb.openViewer(e.s.url, s.ID)
	tb.waitLive(liveTimeout)

	// The movie goes to the video track: the viewer names its region and
	// draws frames from it, and Chromium's decoder decoded VP8 frames.
	want := fmt.Sprintf("%d,%d,%d,%d", 64, 64, 320, 256) // the movie's tiles (64 px)
	testenv.Eventually(t, paintTimeout, "the viewer to draw the movie from its video track", func() (bool, error) {
		st, err := evalJS[struct {
			Region string `json:"videoRegion"`
			Frames int    `json:"videoFrames"`
		}](tb, `({videoRegion: window.tetherStats.videoRegion, videoFrames: window.tetherStats.videoFrames})`)
		return err == nil && st.Region == want && st.Frames >= 10, fmt.Errorf("region %q (want %q), %d video frames drawn (%v)", st.Region, want, st.Frames, err)
	})
	dec, err := evalJS[struct {
		FramesDecoded int    `json:"framesDecoded"`
		Codec         string `json:"codec"`
	}](tb, `window.tetherDebug.videoDecoded()`)
	if err != nil || dec.FramesDecoded == 0 || dec.Codec != "video/VP8" {
		t.Fatalf("WebRTC stats of the video track: %+v (%v), want VP8 frames decoded", dec, err)
	}
	t.Logf("video: %d frames decoded (%s)", dec.FramesDecoded, dec.Codec)

	// The movie's pixels on the canvas are the movie's, within a lossy
	// codec's tolerance: the video is drawn where it belongs.
	movieError := func(frames ...[]byte) (float64, error) {
		px, err := evalJS[[]int](tb, fmt.Sprintf(`Array.from(document.getElementById("screen").getContext("2d").getImageData(%d, %d, %d, %d).data)`,
			movie.Min.X, movie.Min.Y, movie.Dx(), movie.Dy()))
		if err != nil {
			return 0, err
		}
		best := math.MaxFloat64 // over the frames: the canvas shows one of them
		for _, f := range frames {
			var sum float64
			for i := 0; i < len(f); i += 4 {
				for c := range 3 {
					sum += math.Abs(float64(px[i+c]) - float64(f[i+c]))
				}
			}
			best = min(best, sum/float64(len(f)/4*3))
		}
		return best, nil
	}
	checkMovie := func(frames ...[]byte) error {
		d, err := movieError(frames...)
		if err == nil && d > 20 {
			err = fmt.Errorf("the movie's area differs from the frames by %.1f on average", d)
		}
		return err
	}
	testenv.Eventually(t, paintTimeout, "the movie's area to show the movie", func() (bool, error) {
		err := checkMovie(frames...)
		return err == nil, err
	})

	// Text beside the playing movie changes and stays exact: tiles.
	textNow := textPicture(text.Dx(), text.Dy(), 12)
	paintText(textNow)
	testenv.Eventually(t, paintTimeout, "the text beside the movie to be pixel-exact", func() (bool, error) {
		px, err := evalJS[[]int](tb, fmt.Sprintf(`Array.from(document.getElementById("screen").getContext("2d").getImageData(%d, %d, %d, %d).data)`,
			text.Min.X, text.Min.Y, text.Dx(), text.Dy()))
		if err != nil {
			return false, err
		}
		for i := 0; i < len(textNow); i += 4 {
			for c := range 3 {
				if px[i+c] != int(textNow[i+c]) {
					p := i / 4
					return false, fmt.Errorf("pixel %d,%d is %v, want %v", text.Min.X+p%text.Dx(), text.Min.Y+p/text.Dx(), px[i:i+3], textNow[i:i+3])
				}
			}
		}
		return true, nil
	})
	if st, _ := tb.stats(); st.Errors != 0 {
		t.Errorf("viewer counted %d decode errors", st.Errors)
	}

	// Paused, the movie leaves the video track: its last frame comes as
	// tiles.
	halt()
	testenv.Eventually(t, paintTimeout, "the paused movie to leave the video track", func() (bool, error) {
		r, err := evalJS[string](tb, `window.tetherStats.videoRegion`)
		return err == nil && r == "", fmt.Errorf("video region %q (%v)", r, err)
	})
	testenv.Eventually(t, paintTimeout, "the paused movie's last frame on the canvas", func() (bool, error) {
		err := checkMovie(frames[shown])
		return err == nil, err
	})
	tb.screenshot("video.png")
}
