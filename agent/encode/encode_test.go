package encode

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math/rand/v2"
	"testing"

	"github.com/tetherdesk/tether/shared/screen"
)

// viewer applies screen messages to a picture, as viewer.js does, and
// checks the stream's structure.
type viewer struct {
	t       testing.TB
	img     *image.RGBA
	seq     uint32
	tiles   []screen.Tile // of the last frame
	copies  []screen.Copy // of the last frame
	encs    map[byte]int  // tiles per encoding over the viewer's life
	sizes   int
	lossy   *image.RGBA // marks pixels last painted by a JPEG tile (alpha 255)
	pending bool        // inside a frame
	halves  int         // half-resolution tiles seen
	video   image.Rectangle
	videos  int // video messages seen
}

func newViewer(t testing.TB) *viewer {
	return &viewer{t: t, encs: map[byte]int{}}
}

func (v *viewer) apply(msgs [][]byte) {
	v.t.Helper()
	v.tiles = v.tiles[:0]
	v.copies = v.copies[:0]
	var before, lossyBefore *image.RGBA
	for i, b := range msgs {
		if len(b) > screen.MaxMessage {
			v.t.Fatalf("message %d: %d bytes > MaxMessage", i, len(b))
		}
		m, err := screen.Decode(b)
		if err != nil {
			v.t.Fatalf("message %d: %v", i, err)
		}
		if i == 0 {
			if m.Seq <= v.seq && v.seq != 0 {
				v.t.Fatalf("sequence went from %d to %d", v.seq, m.Seq)
			}
			v.seq = m.Seq
		} else if m.Seq != v.seq {
			v.t.Fatalf("message %d: seq %d within frame %d", i, m.Seq, v.seq)
		}
		last := i == len(msgs)-1
		if (m.Kind == screen.KindFrameEnd) != last {
			v.t.Fatalf("message %d of %d is kind %d", i, len(msgs), m.Kind)
		}
		switch m.Kind {
		case screen.KindSize:
			if i != 0 {
				v.t.Fatalf("size message at %d", i)
			}
			v.sizes++
			r := image.Rect(0, 0, int(m.W), int(m.H))
			v.img = image.NewRGBA(r)
			v.lossy = image.NewRGBA(r)
		case screen.KindVideo:
			if v.img == nil || len(v.tiles) > 0 || len(v.copies) > 0 {
				v.t.Fatal("video message before size or after a copy or tile")
			}
			v.videos++
			v.video = image.Rect(int(m.X), int(m.Y), int(m.X)+int(m.W), int(m.Y)+int(m.H))
			if !v.video.In(v.img.Rect) {
				v.t.Fatalf("video %v outside %v", v.video, v.img.Rect)
			}
		case screen.KindCopy:
			if v.img == nil || len(v.tiles) > 0 {
				v.t.Fatal("copy before size or after a tile")
			}
			if len(v.copies) == 0 { // every copy reads the picture before the first
				before, lossyBefore = clone(v.img), clone(v.lossy)
			}
			v.copies = append(v.copies, m.Copy)
			c := m.Copy
			src := image.Rect(int(c.SX), int(c.SY), int(c.SX)+int(c.W), int(c.SY)+int(c.H))
			dst := image.Rect(int(c.DX), int(c.DY), int(c.DX)+int(c.W), int(c.DY)+int(c.H))
			if !src.In(v.img.Rect) || !dst.In(v.img.Rect) {
				v.t.Fatalf("copy %+v outside %v", c, v.img.Rect)
			}
			draw.Draw(v.img, dst, before, src.Min, draw.Src)
			draw.Draw(v.lossy, dst, lossyBefore, src.Min, draw.Src)
		case screen.KindTile:
			if v.img == nil {
				v.t.Fatal("tile before size")
			}
			if r := image.Rect(int(m.Tile.X), int(m.Tile.Y), int(m.Tile.X+m.Tile.W), int(m.Tile.Y+m.Tile.H)); r.Overlaps(v.video) && v.sizes > 0 && !full(msgs) {
				v.t.Fatalf("tile %v inside the video region %v", r, v.video)
			}
			v.tiles = append(v.tiles, m.Tile)
			v.encs[m.Tile.Enc]++
			v.paint(m.Tile)
		}
	}
	// The video track draws over its region all along: neither exact
	// nor compared until tiles paint it again.
	if !v.video.Empty() {
		draw.Draw(v.lossy, v.video, image.NewUniform(color.RGBA{A: videoMark}), image.Point{}, draw.Src)
	}
}

// videoMark marks pixels the video track drew in viewer.lossy.
const videoMark = 64

// full reports whether msgs is a full frame (starts with its size).
func full(msgs [][]byte) bool { return len(msgs) > 0 && msgs[0][0] == screen.KindSize }

func (v *viewer) paint(tl screen.Tile) {
	v.t.Helper()
	r := image.Rect(int(tl.X), int(tl.Y), int(tl.X)+int(tl.W), int(tl.Y)+int(tl.H))
	if !r.In(v.img.Rect) {
		v.t.Fatalf("tile %v outside %v", r, v.img.Rect)
	}
	var src image.Image
	switch tl.Enc {
	case screen.EncSolid:
		src = image.NewUniform(color.RGBA{tl.Payload[0], tl.Payload[1], tl.Payload[2], 255})
	case screen.EncIndexed:
		im, err := screen.DecodeIndexed(tl.Payload, r.Dx(), r.Dy())
		if err != nil {
			v.t.Fatalf("tile %v: indexed: %v", r, err)
		}
		src = im
	case screen.EncJPEG:
		im, err := jpeg.Decode(bytes.NewReader(tl.Payload))
		if err != nil {
			v.t.Fatalf("tile %v: jpeg: %v", r, err)
		}
		src = im
	case screen.EncJPEGHalf:
		im, err := jpeg.Decode(bytes.NewReader(tl.Payload))
		if err != nil {
			v.t.Fatalf("tile %v: jpeg: %v", r, err)
		}
		if want := image.Pt((r.Dx()+1)/2, (r.Dy()+1)/2); im.Bounds().Size() != want {
			v.t.Fatalf("half tile %v: payload is %v, want %v", r, im.Bounds().Size(), want)
		}
		v.halves++
		// Scaled up (nearest), as a browser would (smoothly).
		up := image.NewRGBA(image.Rectangle{Max: r.Size()})
		for y := range r.Dy() {
			for x := range r.Dx() {
				up.Set(x, y, im.At(im.Bounds().Min.X+x/2, im.Bounds().Min.Y+y/2))
			}
		}
		src = up
	}
	if tl.Enc != screen.EncSolid && src.Bounds().Size() != r.Size() {
		v.t.Fatalf("tile %v: payload is %v", r, src.Bounds())
	}
	draw.Draw(v.img, r, src, src.Bounds().Min, draw.Src)
	mark := color.RGBA{}
	switch tl.Enc {
	case screen.EncJPEG:
		mark = color.RGBA{A: 255}
	case screen.EncJPEGHalf:
		mark = color.RGBA{A: 128} // not compared: half the resolution
	}
	draw.Draw(v.lossy, r, image.NewUniform(mark), image.Point{}, draw.Src)
}

// check compares the viewer's picture with want: exact where the last
// tile was lossless, within a tolerance where it was JPEG.
func (v *viewer) check(want *image.RGBA) {
	v.t.Helper()
	if v.img == nil || v.img.Rect.Size() != want.Rect.Size() {
		v.t.Fatalf("viewer picture %v, want size %v", v.img.Rect, want.Rect.Size())
	}
	var sum, n, far int
	for y := 0; y < want.Rect.Dy(); y++ {
		for x := 0; x < want.Rect.Dx(); x++ {
			got := v.img.RGBAAt(x, y)
			w := want.RGBAAt(want.Rect.Min.X+x, want.Rect.Min.Y+y)
			switch v.lossy.RGBAAt(x, y).A {
			case 128:
				continue
			case videoMark:
				if !v.video.Empty() {
					continue
				}
				v.t.Fatalf("pixel %d,%d: video ended and no tile painted it again", x, y)
			}
			if v.lossy.RGBAAt(x, y).A == 0 {
				if got.R != w.R || got.G != w.G || got.B != w.B {
					v.t.Fatalf("lossless pixel %d,%d = %v, want %v", x, y, got, w)
				}
				continue
			}
			for _, d := range []int{int(got.R) - int(w.R), int(got.G) - int(w.G), int(got.B) - int(w.B)} {
				d = max(d, -d)
				sum += d
				n++
				if d > 48 {
					far++
				}
			}
		}
	}
	if n > 0 {
		// JPEG (4:2:0) smears sharp colour edges, so bound the mean error
		// and the share of channels that are far off, not the worst one.
		if mean, farShare := float64(sum)/float64(n), float64(far)/float64(n); mean > 6 || farShare > 0.01 {
			v.t.Fatalf("JPEG error: mean %.2f, %.2f%% of channels off by more than 48", mean, 100*farShare)
		}
	}
}

// desktop draws a synthetic screen: a flat background, a "window" of
// text-like stripes and a photo-like gradient with noise.
func desktop(w, h int, seed uint64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Rect, image.NewUniform(color.RGBA{0x20, 0x40, 0x80, 255}), image.Point{}, draw.Src)
	// Text-like window: white with black and blue glyph-ish marks.
	win := image.Rect(w/10, h/10, w/2, h*3/4)
	draw.Draw(img, win, image.NewUniform(color.White), image.Point{}, draw.Src)
	rng := rand.New(rand.NewPCG(seed, 1))
	for y := win.Min.Y + 4; y+10 < win.Max.Y; y += 14 {
		for x := win.Min.X + 4; x+6 < win.Max.X; x += 7 {
			if rng.IntN(5) == 0 {
				continue
			}
			c := color.RGBA{0, 0, 0, 255}
			if rng.IntN(8) == 0 {
				c = color.RGBA{0, 0, 200, 255}
			}
			for gy := 0; gy < 9; gy++ {
				for gx := 0; gx < 5; gx++ {
					if rng.IntN(2) == 0 {
						img.SetRGBA(x+gx, y+gy, c)
					}
				}
			}
		}
	}
	// Photo-like area: smooth gradient plus a little noise.
	ph := image.Rect(w*11/20, h/5, w*19/20, h*9/10)
	for y := ph.Min.Y; y < ph.Max.Y; y++ {
		for x := ph.Min.X; x < ph.Max.X; x++ {
			n := uint8(rng.IntN(8))
			img.SetRGBA(x, y, color.RGBA{uint8(x*255/w) + n, uint8(y*255/h) + n, uint8((x+y)*255/(w+h)) + n, 255})
		}
	}
	return img
}

func clone(img *image.RGBA) *image.RGBA {
	c := image.NewRGBA(img.Rect)
	copy(c.Pix, img.Pix)
	return c
}

func tileCount(w, h, ts int) int { return ((w + ts - 1) / ts) * ((h + ts - 1) / ts) }

// covered checks that the last frame's tiles lie on the ts grid, do not
// overlap and cover exactly want pixels.
func (v *viewer) covered(ts, want int) {
	v.t.Helper()
	area := 0
	for i, a := range v.tiles {
		ra := image.Rect(int(a.X), int(a.Y), int(a.X)+int(a.W), int(a.Y)+int(a.H))
		if ra.Min.X%ts != 0 || ra.Min.Y%ts != 0 {
			v.t.Fatalf("tile %v off the %d-pixel grid", ra, ts)
		}
		for _, b := range v.tiles[i+1:] {
			if rb := image.Rect(int(b.X), int(b.Y), int(b.X)+int(b.W), int(b.Y)+int(b.H)); ra.Overlaps(rb) {
				v.t.Fatalf("tiles %v and %v overlap", ra, rb)
			}
		}
		area += ra.Dx() * ra.Dy()
	}
	if area != want {
		v.t.Fatalf("tiles cover %d pixels, want %d", area, want)
	}
}

func TestFirstFrameUnchangedAndChange(t *testing.T) {
	const w, h = 1000, 700 // edge tiles are smaller than 64
	e := New(Config{})
	v := newViewer(t)
	img := desktop(w, h, 1)

	msgs, err := e.Encode(img, false)
	if err != nil {
		t.Fatal(err)
	}
	v.apply(msgs)
	v.covered(64, w*h)
	// Rows of up to 16 tiles go as one image: 16 + 16 - 1 = ... at most
	// two per tile row of a 1000-pixel frame.
	if rows := (h + 63) / 64; len(v.tiles) > 2*rows*2 || len(v.tiles) < rows {
		t.Fatalf("first frame: %d tiles for %d tile rows", len(v.tiles), rows)
	}
	if m, _ := screen.Decode(msgs[0]); m.Kind != screen.KindSize || m.W != w || m.H != h {
		t.Fatalf("first message %+v, want size %dx%d", m, w, h)
	}
	v.check(img)
	for _, enc := range []byte{screen.EncSolid, screen.EncIndexed, screen.EncJPEG} {
		if v.encs[enc] == 0 {
			t.Errorf("no tile with encoding %d in %v", enc, v.encs)
		}
	}

	msgs, err = e.Encode(clone(img), false)
	if err != nil || msgs != nil {
		t.Fatalf("unchanged frame: %d messages, %v; want none", len(msgs), err)
	}

	// One pixel in tile (3,2) changes: exactly that pixel is sent.
	img.SetRGBA(3*64+10, 2*64+5, color.RGBA{255, 0, 0, 255})
	msgs, err = e.Encode(img, false)
	if err != nil {
		t.Fatal(err)
	}
	v.apply(msgs)
	if len(msgs) != 2 || len(v.tiles) != 1 {
		t.Fatalf("one changed tile: %d messages, tiles %+v", len(msgs), v.tiles)
	}
	if tl := v.tiles[0]; tl.X != 3*64+10 || tl.Y != 2*64+5 || tl.W != 1 || tl.H != 1 {
		t.Fatalf("changed tile %+v, want 202,133 1x1", tl)
	}
	v.check(img)

	// Two pixels far apart in one tile: their bounds.
	img.SetRGBA(3*64+2, 2*64+40, color.RGBA{0, 255, 0, 255})
	img.SetRGBA(3*64+50, 2*64+9, color.RGBA{0, 255, 0, 255})
	msgs, _ = e.Encode(img, false)
	v.apply(msgs)
	if len(v.tiles) != 1 || v.tiles[0].X != 3*64+2 || v.tiles[0].Y != 2*64+9 || v.tiles[0].W != 49 || v.tiles[0].H != 32 {
		t.Fatalf("two changed pixels: %+v, want 194,137 49x32", v.tiles)
	}
	v.check(img)

	// A change in the bottom-right edge tile.
	img.SetRGBA(w-1, h-1, color.RGBA{1, 2, 3, 255})
	msgs, _ = e.Encode(img, false)
	v.apply(msgs)
	if len(v.tiles) != 1 || v.tiles[0].X != w-1 || v.tiles[0].Y != h-1 || v.tiles[0].W != 1 || v.tiles[0].H != 1 {
		t.Fatalf("edge tile: %+v", v.tiles)
	}
	v.check(img)

	// full=true: the size again (for a viewer that joined late), then
	// every tile.
	msgs, _ = e.Encode(img, true)
	v.apply(msgs)
	v.covered(64, w*h)
	if len(msgs) != len(v.tiles)+2 {
		t.Fatalf("full frame: %d messages, %d tiles", len(msgs), len(v.tiles))
	}
	if v.sizes != 2 { // the first frame's and this one's
		t.Fatalf("%d size messages so far, want 2", v.sizes)
	}
	v.check(img)
}

func TestRandomEdits(t *testing.T) {
	const w, h = 517, 333
	for _, cfg := range []Config{{}, {TileSize: 32, JPEGQuality: 90, Workers: 1}, {TileSize: 100, Workers: 3}, {MaxRunTiles: 1, NoMoves: true}} {
		t.Run(fmt.Sprintf("%+v", cfg), func(t *testing.T) {
			e := New(cfg)
			v := newViewer(t)
			img := desktop(w, h, 2)
			msgs, _ := e.Encode(img, false)
			v.apply(msgs)
			v.check(img)
			rng := rand.New(rand.NewPCG(3, 4))
			for i := 0; i < 30; i++ {
				r := image.Rect(rng.IntN(w), rng.IntN(h), rng.IntN(w), rng.IntN(h)).Canon()
				c := color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
				draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
				msgs, err := e.Encode(img, false)
				if err != nil {
					t.Fatal(err)
				}
				if r.Empty() && msgs != nil {
					t.Fatalf("empty edit produced %d messages", len(msgs))
				}
				if msgs != nil {
					v.apply(msgs)
				}
				// Every tile sent overlaps the edit.
				for _, tl := range v.tiles {
					tr := image.Rect(int(tl.X), int(tl.Y), int(tl.X+tl.W), int(tl.Y+tl.H))
					if !tr.Overlaps(r) {
						t.Fatalf("tile %v sent for edit %v", tr, r)
					}
				}
				v.check(img)
			}
		})
	}
}

func TestSizeChange(t *testing.T) {
	e := New(Config{})
	v := newViewer(t)
	for i, sz := range []image.Point{{200, 100}, {200, 100}, {300, 150}, {64, 64}, {1, 1}} {
		img := desktop(sz.X, sz.Y, 5)
		msgs, err := e.Encode(img, false)
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if msgs != nil {
				t.Fatalf("same frame again: %d messages", len(msgs))
			}
			continue
		}
		m, _ := screen.Decode(msgs[0])
		if m.Kind != screen.KindSize || int(m.W) != sz.X || int(m.H) != sz.Y {
			t.Fatalf("frame %d: first message %+v, want size %v", i, m, sz)
		}
		v.apply(msgs)
		v.covered(64, sz.X*sz.Y)
		v.check(img)
	}
}

// A sub-image (Rect not at 0,0, Stride wider than the picture) encodes
// like a copy of it.
func TestSubImage(t *testing.T) {
	big := desktop(400, 300, 6)
	sub := big.SubImage(image.Rect(37, 21, 337, 221)).(*image.RGBA)
	v := newViewer(t)
	msgs, err := New(Config{}).Encode(sub, false)
	if err != nil {
		t.Fatal(err)
	}
	v.apply(msgs)
	v.check(sub)
}

// Tiles whose message would exceed the limit are split until they fit:
// with the real limit (256 KiB) that takes noise at quality 100 in the
// largest tiles; a lowered limit exercises the split on ordinary content.
func TestMessageBound(t *testing.T) {
	noise := image.NewRGBA(image.Rect(0, 0, 600, 600))
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(rng.IntN(256))
	}
	for _, tc := range []struct {
		name  string
		img   *image.RGBA
		cfg   Config
		limit int
		check bool
	}{
		{"noise q100 big tiles", noise, Config{TileSize: 1000, JPEGQuality: 100}, screen.MaxMessage, false},
		{"desktop 4 KiB limit", desktop(800, 600, 11), Config{TileSize: 256}, 4 << 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := New(tc.cfg)
			e.limit = tc.limit
			msgs, err := e.Encode(tc.img, false)
			if err != nil {
				t.Fatal(err)
			}
			for i, m := range msgs {
				if len(m) > tc.limit {
					t.Fatalf("message %d: %d bytes > %d", i, len(m), tc.limit)
				}
			}
			v := newViewer(t)
			v.apply(msgs)
			if tc.check {
				if len(v.tiles) <= tileCount(800, 600, 256) {
					t.Fatalf("nothing was split: %d tiles", len(v.tiles))
				}
				v.check(tc.img)
			}
		})
	}
}

func TestSetQuality(t *testing.T) {
	img := desktop(256, 256, 9)
	size := func(q int) int {
		e := New(Config{})
		e.SetQuality(q)
		msgs, _ := e.Encode(img, false)
		n := 0
		for _, m := range msgs {
			n += len(m)
		}
		return n
	}
	if lo, hi := size(10), size(95); lo >= hi {
		t.Fatalf("quality 10 gives %d bytes, quality 95 %d", lo, hi)
	}
}

func TestBadFrames(t *testing.T) {
	e := New(Config{})
	for _, tc := range []struct {
		name string
		img  *image.RGBA
	}{
		{"nil", nil},
		{"empty", image.NewRGBA(image.Rect(0, 0, 0, 10))},
		{"too wide", &image.RGBA{Rect: image.Rect(0, 0, 70000, 1), Stride: 280000, Pix: make([]byte, 280000)}},
		{"short pixels", &image.RGBA{Rect: image.Rect(0, 0, 10, 10), Stride: 40, Pix: make([]byte, 50)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.Encode(tc.img, false); !errors.Is(err, ErrBadFrame) {
				t.Fatalf("err = %v, want ErrBadFrame", err)
			}
		})
	}
}

func TestColourTable(t *testing.T) {
	var tb colourTable
	for round := 0; round < 4; round++ {
		tb.reset()
		tb.limit = []int{MaxPaletteColours, MaxRunColours}[round%2]
		for i := 0; i < tb.limit; i++ {
			c := uint32(i*977 + round)
			idx, ok := tb.lookup(c)
			if !ok || int(idx) != i {
				t.Fatalf("round %d: add %d: %d %v", round, i, idx, ok)
			}
			if idx2, _ := tb.lookup(c); idx2 != idx {
				t.Fatalf("lookup again: %d, want %d", idx2, idx)
			}
		}
		if _, ok := tb.lookup(0xffffff); ok {
			t.Fatalf("colour %d accepted with a limit of %d", tb.limit+1, tb.limit)
		}
	}
}

// Steady state: an unchanged frame allocates nothing.
func TestUnchangedFrameAllocs(t *testing.T) {
	img := desktop(1920, 1080, 10)
	e := New(Config{})
	if _, err := e.Encode(img, false); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(5, func() { _, _ = e.Encode(img, false) }); n != 0 {
		t.Fatalf("unchanged frame: %v allocations", n)
	}
}

// scroll moves the pixels of r by dy rows (negative: up, as text scrolls
// when lines are added at the bottom) and fills the rows exposed with new
// text-like marks from rng, or a fixed pattern if rng is nil.
func scroll(img *image.RGBA, r image.Rectangle, dy int, rng *rand.Rand) {
	old := clone(img)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		sy := y - dy
		row := img.Pix[img.PixOffset(r.Min.X, y):][:r.Dx()*4]
		if sy < r.Min.Y || sy >= r.Max.Y {
			for x := 0; x < r.Dx(); x++ {
				c := color.RGBA{255, 255, 255, 255}
				switch {
				case rng == nil: // two colours, every row its own
					if ((x*31+y*17)^(y*y))%7 == 0 {
						c = color.RGBA{0, 0, 0, 255}
					}
				case rng.IntN(4) == 0:
					c = color.RGBA{0, 0, 0, 255}
				}
				row[x*4], row[x*4+1], row[x*4+2], row[x*4+3] = c.R, c.G, c.B, 255
			}
			continue
		}
		copy(row, old.Pix[old.PixOffset(r.Min.X, sy):][:r.Dx()*4])
	}
}

// TestScrollSendsCopies: scrolled content goes as copies of what the
// viewer has, plus the rows exposed; the picture stays exact.
func TestScrollSendsCopies(t *testing.T) {
	const w, h = 1000, 700
	win := image.Rect(w/10, h/10, w/2, h*3/4) // desktop's text window
	// A window that stays put in front of the scrolling one.
	notice := image.Rect(w/5, h/3, w/3, h/2)
	for _, tc := range []struct {
		dy     int
		notice bool
	}{{-14, false}, {-1, false}, {-37, false}, {14, false}, {-200, false}, {-14, true}} {
		dy := tc.dy
		t.Run(fmt.Sprint(dy, tc.notice), func(t *testing.T) {
			e, plain := New(Config{}), New(Config{NoMoves: true})
			v := newViewer(t)
			img := desktop(w, h, 7)
			msgs, _ := e.Encode(img, false)
			v.apply(msgs)
			_, _ = plain.Encode(img, false)
			rng := rand.New(rand.NewPCG(8, 9))
			maxCopies := 2
			if tc.notice {
				maxCopies = 6
				draw.Draw(img, notice, image.NewUniform(color.RGBA{200, 200, 0, 255}), image.Point{}, draw.Src)
				msgs, _ := e.Encode(img, false)
				v.apply(msgs)
				_, _ = plain.Encode(img, false)
			}
			for i := range 5 {
				scroll(img, win, dy, rng)
				if tc.notice {
					draw.Draw(img, notice, image.NewUniform(color.RGBA{200, 200, 0, 255}), image.Point{}, draw.Src)
				}
				msgs, err := e.Encode(img, false)
				if err != nil {
					t.Fatal(err)
				}
				v.apply(msgs)
				v.check(img)
				if len(v.copies) == 0 || len(v.copies) > maxCopies {
					t.Fatalf("step %d: %d copies for a scroll of %d rows in one window; want 1 to %d", i, len(v.copies), dy, maxCopies)
				}
				for _, c := range v.copies {
					if int(c.DY)-int(c.SY) != dy || c.SX != c.DX {
						t.Fatalf("step %d: copy %+v for a scroll of %d rows", i, c, dy)
					}
				}
				without, _ := plain.Encode(img, false)
				// Small scrolls expose little: far fewer bytes. A big one
				// exposes much, and still saves.
				got, base := size(msgs), size(without)
				if dy > -100 && got*2 > base || got >= base {
					t.Fatalf("step %d: %d bytes with copies, %d without", i, got, base)
				}
			}
		})
	}
}

// TestMovesRandom: random scrolls of random parts, mixed with random
// edits, keep the viewer's picture exact (EncodeDamaged too).
func TestMovesRandom(t *testing.T) {
	const w, h = 640, 480
	for _, cfg := range []Config{{}, {TileSize: 32, Workers: 1}, {MaxRunTiles: 3}} {
		t.Run(fmt.Sprintf("%+v", cfg), func(t *testing.T) {
			e := New(cfg)
			v := newViewer(t)
			img := desktop(w, h, 3)
			msgs, _ := e.Encode(img, false)
			v.apply(msgs)
			rng := rand.New(rand.NewPCG(5, 6))
			copies := 0
			for i := 0; i < 60; i++ {
				// Left of the photo: JPEG's error on sharp edges moved
				// into it is not what this test is about.
				r := image.Rect(rng.IntN(w/2), rng.IntN(h), rng.IntN(w/2), rng.IntN(h)).Canon()
				if rng.IntN(3) == 0 {
					c := color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
					draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
				} else if r.Dy() > 2 {
					scroll(img, r, rng.IntN(r.Dy()-1)-r.Dy()/2, nil)
				}
				var err error
				if i%2 == 0 {
					msgs, err = e.Encode(img, false)
				} else {
					msgs, err = e.EncodeDamaged(img, false, []image.Rectangle{r})
				}
				if err != nil {
					t.Fatal(err)
				}
				if msgs != nil {
					v.apply(msgs)
					copies += len(v.copies)
				}
				v.check(img)
			}
			if copies == 0 {
				t.Fatal("60 random scrolls and not one copy")
			}
		})
	}
}

// TestRunsKeepTextLossless: a row of dirty tiles across text and a photo
// goes as few images, the text ones lossless.
func TestRunsKeepTextLossless(t *testing.T) {
	const w, h = 1000, 700
	e := New(Config{})
	v := newViewer(t)
	img := desktop(w, h, 4)
	msgs, _ := e.Encode(img, false)
	v.apply(msgs)
	// Change a pixel in the top and bottom rows of every tile of one tile
	// row (so the changed bounds are the whole row) that crosses the
	// text window and the photo.
	for x := 0; x < w; x += 64 {
		img.SetRGBA(x, 3*64, color.RGBA{0, 0, 0, 255})
		img.SetRGBA(x+5, 3*64+63, color.RGBA{0, 0, 0, 255})
	}
	msgs, _ = e.Encode(img, false)
	v.apply(msgs)
	v.check(img) // exact wherever the last tile was indexed or solid
	if n := len(v.tiles); n > 5 {
		t.Fatalf("%d images for one row of 16 dirty tiles; want a few", n)
	}
	if v.encs[screen.EncJPEG] == 0 || v.encs[screen.EncIndexed] == 0 {
		t.Fatalf("encodings %v: want the photo as JPEG and the text indexed", v.encs)
	}
}

// TestHintMovesWindow: a window dragged across the desktop goes as one
// copy when the capture source hints at the move; a hint that does not
// hold is ignored. The picture stays exact either way.
func TestHintMovesWindow(t *testing.T) {
	const w, h = 1000, 700
	bg := color.RGBA{0x20, 0x40, 0x80, 255}
	win := image.Rect(100, 70, 500, 525) // desktop's text window
	for _, tc := range []struct {
		name     string
		d        image.Point
		hint     bool
		lie      bool // hint at a move that did not happen
		wantCopy bool
	}{
		{"right and down", image.Pt(37, 23), true, false, true},
		{"left and up", image.Pt(-41, -9), true, false, true},
		{"partly off the frame", image.Pt(-130, 0), true, false, true},
		{"no hint", image.Pt(37, 23), false, false, false},
		{"false hint", image.Pt(37, 23), true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, plain := New(Config{}), New(Config{NoMoves: true})
			v := newViewer(t)
			img := desktop(w, h, 7)
			msgs, _ := e.Encode(img, false)
			v.apply(msgs)
			_, _ = plain.Encode(img, false)
			for i := range 4 {
				from := win.Add(tc.d.Mul(i))
				to := from.Add(tc.d)
				old := clone(img)
				if !tc.lie {
					draw.Draw(img, from, image.NewUniform(bg), image.Point{}, draw.Src)
					draw.Draw(img, to, old, from.Min, draw.Src)
				} else {
					draw.Draw(img, to, image.NewUniform(color.RGBA{uint8(i), 2, 3, 255}), image.Point{}, draw.Src)
				}
				if tc.hint {
					e.Hint(from, to.Min)
				}
				msgs, err := e.Encode(img, false)
				if err != nil {
					t.Fatal(err)
				}
				v.apply(msgs)
				v.check(img)
				without, _ := plain.Encode(img, false)
				got := false
				for _, c := range v.copies {
					if int(c.DX)-int(c.SX) == tc.d.X && int(c.DY)-int(c.SY) == tc.d.Y {
						got = true
					}
				}
				want := tc.wantCopy && to.Intersect(image.Rect(0, 0, w, h)).Dx() >= minMoveRows
				if got != want {
					t.Fatalf("step %d: copies %+v, want one moving %v: %v", i, v.copies, tc.d, tc.wantCopy)
				}
				// Mostly off the frame, the copy saves less.
				ratio := 3
				if !to.In(image.Rect(0, 0, w, h)) {
					ratio = 1
				}
				if want && size(msgs)*ratio > size(without) {
					t.Fatalf("step %d: %d bytes with the hint, %d without", i, size(msgs), size(without))
				}
			}
		})
	}
}

// TestHalfResolution: with SetHalf, photo-like parts go as half-resolution
// JPEG close to the 2x2 means of the frame; text stays lossless.
func TestHalfResolution(t *testing.T) {
	const w, h = 1000, 700
	e := New(Config{})
	e.SetHalf(true)
	if !e.Half() {
		t.Fatal("Half() false after SetHalf(true)")
	}
	v := newViewer(t)
	img := desktop(w, h, 12)
	msgs, err := e.Encode(img, false)
	if err != nil {
		t.Fatal(err)
	}
	v.apply(msgs)
	v.check(img) // exact where lossless; half tiles are skipped
	if v.halves == 0 || v.encs[screen.EncJPEG] != 0 || v.encs[screen.EncIndexed] == 0 {
		t.Fatalf("encodings %v, %d half tiles: want the photo at half resolution, no full JPEG, text indexed", v.encs, v.halves)
	}
	// The half tiles are the frame's 2x2 means, give or take JPEG.
	for _, tl := range v.tiles {
		if tl.Enc != screen.EncJPEGHalf {
			continue
		}
		r := image.Rect(int(tl.X), int(tl.Y), int(tl.X)+int(tl.W), int(tl.Y)+int(tl.H))
		var want image.RGBA
		halve(&want, img.SubImage(r).(*image.RGBA))
		got, _ := jpeg.Decode(bytes.NewReader(tl.Payload))
		var sum, n int
		for y := range want.Rect.Dy() {
			for x := range want.Rect.Dx() {
				gr, gg, gb, _ := got.At(x, y).RGBA()
				wc := want.RGBAAt(x, y)
				for _, d := range []int{int(gr>>8) - int(wc.R), int(gg>>8) - int(wc.G), int(gb>>8) - int(wc.B)} {
					sum += max(d, -d)
					n++
				}
			}
		}
		if mean := float64(sum) / float64(n); mean > 6 {
			t.Fatalf("half tile %v: mean error %.1f against the 2x2 means", r, mean)
		}
	}
	e.SetHalf(false)
	msgs, _ = e.Encode(img, true)
	v.apply(msgs)
	if v.encs[screen.EncJPEG] == 0 {
		t.Fatal("SetHalf(false): no full-resolution JPEG")
	}
}
