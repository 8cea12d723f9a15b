package encode

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"testing"
	"time"
)

// film paints frame i of a photo-like moving picture into r of img.
func film(img *image.RGBA, r image.Rectangle, i int) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			fx, fy := float64(x+5*i), float64(y+3*i)
			img.SetRGBA(x, y, color.RGBA{
				uint8(128 + 90*math.Sin(fx/9) + 30*math.Sin(fy/3)),
				uint8(128 + 90*math.Sin(fy/11) + 30*math.Cos(fx/4)),
				uint8(128 + 90*math.Sin((fx+fy)/13)), 255})
		}
	}
}

// encodeInto encodes img and applies the messages to v.
func encodeInto(t *testing.T, e *Encoder, v *viewer, img *image.RGBA, full bool) [][]byte {
	t.Helper()
	msgs, err := e.Encode(img, full)
	if err != nil {
		t.Fatal(err)
	}
	if msgs != nil {
		v.apply(msgs)
	}
	return msgs
}

// videoClock is a clock the test moves.
type videoClock struct{ t time.Time }

func (c *videoClock) now() time.Time                 { return c.t }
func (c *videoClock) step(d time.Duration) time.Time { c.t = c.t.Add(d); return c.t }

func TestVideoRegion(t *testing.T) {
	const w, h = 640, 384
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Rect, image.NewUniform(color.White), image.Point{}, draw.Src)
	movie := image.Rect(64, 64, 320, 256) // 4x3 tiles
	text := image.Rect(400, 64, 600, 300)
	clk := &videoClock{t: time.Unix(1e6, 0)}
	e := New(Config{})
	e.clock = clk.now
	e.SetVideo(true)
	v := newViewer(t)
	typed := 0
	typeAt := func() {
		// A glyph-ish mark in the text area, beside the movie.
		x := text.Min.X + 8*(typed%20)
		y := text.Min.Y + 16*(typed/20)
		draw.Draw(img, image.Rect(x, y, x+6, y+10), image.NewUniform(color.Black), image.Point{}, draw.Src)
		typed++
	}
	frame := func(i int) [][]byte { return encodeInto(t, e, v, img, i == 0) }
	frame(0)
	var region image.Rectangle
	for i := 1; i <= 10; i++ {
		clk.step(40 * time.Millisecond)
		film(img, movie, i)
		typeAt()
		frame(i)
		v.check(img)
		if r, _ := e.Video(); !r.Empty() && region.Empty() {
			region = r
			if i <= videoBurst {
				t.Errorf("video began at frame %d, before %d photo-like updates", i, videoBurst)
			}
		}
	}
	if region != movie {
		t.Fatalf("video region %v, want the movie's tiles %v", region, movie)
	}
	if v.video != movie || v.videos != 1 {
		t.Fatalf("viewer has video %v after %d messages, want %v after 1", v.video, v.videos, movie)
	}
	// A viewer joining gets a full frame that names the region.
	v2 := newViewer(t)
	msgs, err := e.Encode(img, true)
	if err != nil {
		t.Fatal(err)
	}
	v2.apply(msgs)
	if v2.video != movie {
		t.Fatalf("a full frame gave a new viewer video %v, want %v", v2.video, movie)
	}
	v.apply(msgs)
	// While it plays, the text beside it goes on as tiles, and nothing
	// inside it does (the test viewer fails on a tile inside).
	for i := 11; i <= 20; i++ {
		clk.step(40 * time.Millisecond)
		film(img, movie, i)
		typeAt()
		msgs := frame(i)
		if len(v.tiles) == 0 {
			t.Fatalf("frame %d: no tile for the typed text (%d messages)", i, len(msgs))
		}
		if _, changed := e.Video(); !changed {
			t.Fatalf("frame %d: the movie changed and Video says it did not", i)
		}
		v.check(img)
	}
	// Paused: after videoQuiet the region ends and its tiles come whole,
	// also where frames keep coming without damage to say nothing changed
	// (a polling capture).
	if e.VideoDue() {
		t.Fatal("VideoDue while the movie plays")
	}
	clk.step(videoQuiet / 2)
	frame(21)
	if _, changed := e.Video(); changed || e.VideoDue() {
		t.Fatalf("an unchanged frame: Video says changed %v, VideoDue %v", changed, e.VideoDue())
	}
	clk.step(videoQuiet/2 + time.Millisecond)
	if !e.VideoDue() {
		t.Fatal("VideoDue false a second after the movie stopped")
	}
	frame(22)
	if !v.video.Empty() {
		t.Fatalf("video %v after the pause", v.video)
	}
	v.check(img) // fails on a video pixel not painted again
	if r, _ := e.Video(); !r.Empty() {
		t.Fatalf("encoder still has video %v", r)
	}

	// Playing again, then video no longer allowed (a viewer without a
	// video track joined): the region ends at once.
	for i := 23; i < 30; i++ {
		clk.step(40 * time.Millisecond)
		film(img, movie, i)
		frame(i)
	}
	if v.video != movie {
		t.Fatalf("video %v after playing again, want %v", v.video, movie)
	}
	e.SetVideo(false)
	if !e.VideoDue() {
		t.Fatal("VideoDue false once video is not allowed")
	}
	clk.step(40 * time.Millisecond)
	film(img, movie, 30)
	frame(30)
	if !v.video.Empty() {
		t.Fatalf("video %v after SetVideo(false)", v.video)
	}
	v.check(img)
	for i := 31; i < 40; i++ {
		clk.step(40 * time.Millisecond)
		film(img, movie, i)
		frame(i)
		v.check(img)
	}
	if !v.video.Empty() {
		t.Fatalf("video %v while not allowed", v.video)
	}
}

// TestVideoNotForTextOrSmall: typing, scrolling text and a small
// animation never become video.
func TestVideoNotForTextOrSmall(t *testing.T) {
	img := desktop(640, 384, 3)
	clk := &videoClock{t: time.Unix(1e6, 0)}
	e := New(Config{})
	e.clock = clk.now
	e.SetVideo(true)
	v := newViewer(t)
	spinner := image.Rect(500, 300, 564, 364) // one tile
	for i := range 40 {
		clk.step(30 * time.Millisecond)
		film(img, spinner, i)
		x := 80 + 7*(i%30)
		draw.Draw(img, image.Rect(x, 60, x+5, 70), image.NewUniform(color.Black), image.Point{}, draw.Src)
		encodeInto(t, e, v, img, i == 0)
	}
	if v.videos != 0 {
		t.Fatalf("%d video messages for typing and a one-tile animation", v.videos)
	}
	v.check(img)
}

// TestVideoNotForDrags: a photo-like window dragged across the screen
// moves by copies and its edges by tiles; it never becomes video.
func TestVideoNotForDrags(t *testing.T) {
	const w, h = 960, 640
	bg := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(bg, bg.Rect, image.NewUniform(color.RGBA{40, 90, 140, 255}), image.Point{}, draw.Src)
	photo := image.NewRGBA(image.Rect(0, 0, 256, 192))
	for y := range 192 { // smooth, photo-like: thousands of colours
		for x := range 256 {
			photo.SetRGBA(x, y, color.RGBA{uint8(128 + 100*math.Sin(float64(x)/19)), uint8(128 + 100*math.Sin(float64(y)/13)), uint8((x + y) / 2), 255})
		}
	}
	clk := &videoClock{t: time.Unix(1e6, 0)}
	e := New(Config{})
	e.clock = clk.now
	e.SetVideo(true)
	v := newViewer(t)
	at := image.Pt(20, 20)
	for i := range 60 {
		clk.step(16 * time.Millisecond)
		img := clone(bg)
		next := at.Add(image.Pt(9, 5))
		draw.Draw(img, photo.Rect.Add(next), photo, image.Point{}, draw.Src)
		if i > 0 {
			e.Hint(photo.Rect.Add(at), next)
		}
		at = next
		encodeInto(t, e, v, img, i == 0)
	}
	if v.videos != 0 {
		t.Fatalf("%d video messages for a dragged window", v.videos)
	}
}
