//go:build !s390x && !ppc64le

package capture

import (
	"errors"
	"image"
	"slices"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/tetherdesk/tether/agent/internal/xtest"
)

// BenchmarkCapture1080p grabs one full 1920x1080 frame from a private Xvfb
// on each capture path. p50-ms is the median of the individual captures
// (the figure); ns/op is their mean.
func BenchmarkCapture1080p(b *testing.B) {
	start1080p(b)

	for _, m := range []struct {
		name   string
		method Method
	}{
		{"portable", MethodPortable},
		{"x11shm", MethodX11SHM},
		{"x11getimage", MethodX11},
	} {
		b.Run(m.name, func(b *testing.B) {
			src, err := Open(Config{Method: m.method})
			if err != nil {
				b.Fatalf("Open(%s): %v", m.method, err)
			}
			defer src.Close()
			if _, err := src.Capture(0); err != nil { // connect, allocate
				b.Fatal(err)
			}
			var times []time.Duration
			for b.Loop() {
				t0 := time.Now()
				img, err := src.Capture(0)
				if err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(t0))
				if img.Rect.Dx() != 1920 || img.Rect.Dy() != 1080 {
					b.Fatalf("captured %v", img.Rect)
				}
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2])/1e6, "p50-ms")
			b.SetBytes(1920 * 1080 * 4)
		})
	}
}

func start1080p(b *testing.B) *xtest.Server {
	srv, err := xtest.Start(xtest.Options{Width: 1920, Height: 1080, Depth: 24})
	if errors.Is(err, xtest.ErrNoXvfb) {
		b.Skip("Xvfb is not installed")
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	srv.Setenv(b)
	srv.SolidRoot(b, "#336699")
	return srv
}

// BenchmarkCaptureTyping1080p: another client draws a 6x10 "glyph" on the
// root, then the source captures the frame that shows it. /damaged asks
// Damaged first and so fetches only the glyph; /full captures it all.
func BenchmarkCaptureTyping1080p(b *testing.B) {
	start1080p(b)
	c, err := xgb.NewConn()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	root := xproto.Setup(c).DefaultScreen(c).Root
	gc, _ := xproto.NewGcontextId(c)
	xproto.CreateGC(c, gc, xproto.Drawable(root), 0, nil)
	glyph := image.Rect(400, 300, 406, 310)
	i := 0
	typeGlyph := func() {
		i++
		xproto.ChangeGC(c, gc, xproto.GcForeground, []uint32{uint32(i%2) * 0xffffff})
		xproto.PolyFillRectangle(c, xproto.Drawable(root), gc, []xproto.Rectangle{{X: int16(glyph.Min.X), Y: int16(glyph.Min.Y), Width: 6, Height: 10}})
		xproto.GetInputFocus(c).Reply() // drawn
	}
	for _, damaged := range []bool{true, false} {
		name := "x11shm/damaged"
		if !damaged {
			name = "x11shm/full"
		}
		b.Run(name, func(b *testing.B) {
			src, err := Open(Config{Method: MethodX11SHM})
			if err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			ds := src.(DamageSource)
			src.Capture(0)
			var times []time.Duration
			for b.Loop() {
				b.StopTimer()
				typeGlyph()
				b.StartTimer()
				t0 := time.Now()
				if damaged {
					for { // the damage event is on its way
						if _, any := ds.Damaged(0); any {
							break
						}
					}
				}
				img, err := src.Capture(0)
				if err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(t0))
				if want := uint8(i%2) * 0xff; img.Pix[img.PixOffset(glyph.Min.X, glyph.Min.Y)] != want {
					b.Fatalf("glyph not captured")
				}
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2])/1e6, "p50-ms")
		})
	}
}
