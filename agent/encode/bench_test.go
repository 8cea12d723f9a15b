package encode

import (
	"image"
	"image/color"
	"math/rand/v2"
	"testing"
)

// BenchmarkEncode1080p measures one 1920x1080 frame: the first full frame
// (a new viewer), a typing-like change (a glyph in one tile) and a change
// of every pixel (a scrolled or switched screen). bytes/frame is the wire
// size of the messages.
func BenchmarkEncode1080p(b *testing.B) {
	const w, h = 1920, 1080
	a, c := desktop(w, h, 1), desktop(w, h, 2)
	// c differs from a everywhere, including the flat background.
	for i := 0; i < len(c.Pix); i += 4 {
		c.Pix[i] ^= 0x10
	}
	report := func(b *testing.B, bytes int) {
		b.ReportMetric(float64(bytes)/float64(b.N), "bytes/frame")
		b.SetBytes(w * h * 4)
	}
	b.Run("full", func(b *testing.B) {
		e := New(Config{})
		e.Encode(a, false)
		n := 0
		for b.Loop() {
			msgs, _ := e.Encode(a, true)
			n += size(msgs)
		}
		report(b, n)
	})
	// typing toggles a 6x10 glyph inside the text window; /damaged is
	// told where (as X DAMAGE would), so it compares one tile, not the
	// frame.
	glyph := image.Rect(400, 300, 406, 310)
	for _, damaged := range []bool{false, true} {
		name := "typing"
		if damaged {
			name = "typing/damaged"
		}
		b.Run(name, func(b *testing.B) {
			e := New(Config{})
			img := clone(a)
			e.Encode(img, false)
			dmg := []image.Rectangle{glyph}
			n, i := 0, 0
			for b.Loop() {
				i++
				col := color.RGBA{0, 0, 0, 255}
				if i%2 == 0 {
					col = color.RGBA{255, 255, 255, 255}
				}
				for y := glyph.Min.Y; y < glyph.Max.Y; y++ {
					for x := glyph.Min.X; x < glyph.Max.X; x++ {
						img.SetRGBA(x, y, col)
					}
				}
				var msgs [][]byte
				if damaged {
					msgs, _ = e.EncodeDamaged(img, false, dmg)
				} else {
					msgs, _ = e.Encode(img, false)
				}
				n += size(msgs)
			}
			report(b, n)
		})
	}
	b.Run("unchanged", func(b *testing.B) {
		e := New(Config{})
		e.Encode(a, false)
		for b.Loop() {
			e.Encode(a, false)
		}
		report(b, 0)
	})
	// scroll: the text window of a 1080p desktop scrolls one 14-pixel
	// line per frame, with and without move detection.
	for _, moves := range []bool{true, false} {
		name := "scroll"
		if !moves {
			name = "scroll/nomoves"
		}
		b.Run(name, func(b *testing.B) {
			e := New(Config{NoMoves: !moves})
			img := clone(a)
			e.Encode(img, false)
			win := image.Rect(w/10, h/10, w/2, h*3/4)
			rng := rand.New(rand.NewPCG(1, 2))
			n := 0
			for b.Loop() {
				b.StopTimer()
				scroll(img, win, -14, rng)
				b.StartTimer()
				msgs, _ := e.Encode(img, false)
				n += size(msgs)
			}
			report(b, n)
		})
	}
	b.Run("fullchange", func(b *testing.B) {
		e := New(Config{})
		e.Encode(a, false)
		n := 0
		frames := []*image.RGBA{c, a}
		i := 0
		for b.Loop() {
			msgs, _ := e.Encode(frames[i%2], false)
			i++
			n += size(msgs)
		}
		report(b, n)
	})
}

func size(msgs [][]byte) int {
	n := 0
	for _, m := range msgs {
		n += len(m)
	}
	return n
}
