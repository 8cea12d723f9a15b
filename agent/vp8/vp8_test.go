package vp8

import (
	"errors"
	"image"
	"math"
	"strconv"
	"testing"
	"time"
)

// moving paints frame i of a moving, photo-like pattern into img.
func moving(img *image.RGBA, i int) {
	b := img.Rect
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			o := img.PixOffset(x, y)
			fx, fy := float64(x+3*i), float64(y+2*i)
			img.Pix[o] = uint8(128 + 100*math.Sin(fx/23))
			img.Pix[o+1] = uint8(128 + 100*math.Sin(fy/17))
			img.Pix[o+2] = uint8(128 + 100*math.Sin((fx+fy)/31))
			img.Pix[o+3] = 255
		}
	}
}

// psnr compares the part r of want with got (luma only: what the eye and
// the codec care most about).
func psnr(want *image.RGBA, r image.Rectangle, got *image.YCbCr) float64 {
	var se float64
	n := 0
	for y := 0; y < r.Dy(); y++ {
		for x := 0; x < r.Dx(); x++ {
			p := want.Pix[want.PixOffset(r.Min.X+x, r.Min.Y+y):]
			l := float64((66*int(p[0])+129*int(p[1])+25*int(p[2])+128)>>8) + 16
			d := l - float64(got.Y[got.YOffset(x, y)])
			se += d * d
			n++
		}
	}
	if se == 0 {
		return 99
	}
	return 10 * math.Log10(255*255/(se/float64(n)))
}

func needVP8(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		t.Fatalf("libvpx is installed by scripts/deps.sh: %v", err)
	}
}

// codecs returns an encoder of w x h pictures and a decoder, both closed
// when the test ends.
func codecs(t *testing.T, w, h int, cfg Config) (*Encoder, *Decoder) {
	t.Helper()
	e, err := NewEncoder(w, h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	d, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return e, d
}

func TestRoundTrip(t *testing.T) {
	needVP8(t)
	img := image.NewRGBA(image.Rect(0, 0, 400, 300))
	// An odd-sized part off the origin: the encoder rounds up to even.
	r := image.Rect(13, 7, 13+321, 7+201)
	e, d := codecs(t, r.Dx(), r.Dy(), Config{Bitrate: 4000})
	var keys int
	for i := range 30 {
		moving(img, i)
		f, err := e.Encode(img, r, time.Duration(i)*33*time.Millisecond, i == 20)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if len(f.Data) == 0 {
			t.Fatalf("frame %d: dropped", i)
		}
		if f.Key {
			keys++
		}
		if (i == 0 || i == 20) && !f.Key {
			t.Errorf("frame %d is not a key frame", i)
		}
		pic, err := d.Decode(f.Data)
		if err != nil {
			t.Fatalf("decoding frame %d: %v", i, err)
		}
		if pic == nil || pic.Rect.Dx() != 322 || pic.Rect.Dy() != 202 {
			t.Fatalf("frame %d decoded as %v, want 322x202", i, pic)
		}
		if p := psnr(img, r, pic); p < 30 {
			t.Errorf("frame %d: PSNR %.1f dB, want at least 30", i, p)
		}
	}
	if keys != 2 {
		t.Errorf("%d key frames, want 2 (the first and the one asked for)", keys)
	}
}

func TestHalf(t *testing.T) {
	needVP8(t)
	img := image.NewRGBA(image.Rect(0, 0, 401, 301))
	e, d := codecs(t, 401, 301, Config{Half: true, Bitrate: 3000})
	small := image.NewRGBA(image.Rect(0, 0, 201, 151))
	for i := range 10 {
		moving(img, i)
		f, err := e.Encode(img, img.Rect, time.Duration(i)*33*time.Millisecond, false)
		if err != nil {
			t.Fatal(err)
		}
		pic, err := d.Decode(f.Data)
		if err != nil {
			t.Fatal(err)
		}
		// 401x301 at half: 201x151, rounded up to even.
		if pic.Rect.Dx() != 202 || pic.Rect.Dy() != 152 {
			t.Fatalf("frame %d decoded as %v, want 202x152", i, pic.Rect)
		}
		for y := range 151 {
			for x := range 201 {
				var sum [3]int
				for _, p := range []image.Point{{2 * x, 2 * y}, {min(2*x+1, 400), 2 * y}, {2 * x, min(2*y+1, 300)}, {min(2*x+1, 400), min(2*y+1, 300)}} {
					o := img.PixOffset(p.X, p.Y)
					for c := range 3 {
						sum[c] += int(img.Pix[o+c])
					}
				}
				o := small.PixOffset(x, y)
				for c := range 3 {
					small.Pix[o+c] = uint8((sum[c] + 2) / 4)
				}
			}
		}
		if p := psnr(small, small.Rect, pic); p < 30 {
			t.Errorf("frame %d: PSNR %.1f dB against the picture halved, want at least 30", i, p)
		}
	}
}

func TestBitrate(t *testing.T) {
	needVP8(t)
	img := image.NewRGBA(image.Rect(0, 0, 640, 360))
	size := func(kbps int) int {
		e, err := NewEncoder(640, 360, Config{Bitrate: kbps})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		total := 0
		for i := range 60 {
			moving(img, i)
			f, err := e.Encode(img, img.Rect, time.Duration(i)*33*time.Millisecond, false)
			if err != nil {
				t.Fatal(err)
			}
			if i >= 10 {
				total += len(f.Data)
			}
		}
		return total
	}
	lo, hi := size(300), size(3000)
	if lo*3 > hi {
		t.Errorf("300 kbit/s made %d bytes, 3000 kbit/s %d: the target does not steer the encoder", lo, hi)
	}
	e, err := NewEncoder(64, 64, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.SetBitrate(1); err != nil || e.Bitrate() != MinBitrate {
		t.Errorf("SetBitrate(1): %v, bitrate %d, want %d", err, e.Bitrate(), MinBitrate)
	}
}

func TestBadInput(t *testing.T) {
	needVP8(t)
	if _, err := NewEncoder(0, 10, Config{}); err == nil {
		t.Error("a 0x10 encoder was made")
	}
	e, err := NewEncoder(64, 64, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	img := image.NewRGBA(image.Rect(0, 0, 100, 100))
	for _, r := range []image.Rectangle{image.Rect(0, 0, 32, 32), image.Rect(50, 50, 114, 114)} {
		if _, err := e.Encode(img, r, 0, false); err == nil {
			t.Errorf("Encode of %v on a 64x64 encoder over a 100x100 picture succeeded", r)
		}
	}
	d, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, b := range [][]byte{nil, {1, 2, 3}, make([]byte, 100)} {
		if _, err := d.Decode(b); err == nil {
			t.Errorf("Decode(%d bytes of junk) succeeded", len(b))
		}
	}
}

func TestUnavailableIsErrUnavailable(t *testing.T) {
	if err := Available(); err != nil && !errors.Is(err, ErrUnavailable) {
		t.Errorf("Available: %v is not ErrUnavailable", err)
	}
}

// BenchmarkEncode1080p times a full-screen moving picture at each speed.
func BenchmarkEncode1080p(b *testing.B) {
	needVP8(b)
	frames := make([]*image.RGBA, 8)
	for i := range frames {
		frames[i] = image.NewRGBA(image.Rect(0, 0, 1920, 1080))
		moving(frames[i], i*4)
	}
	for _, speed := range []int{8, 12, 16} {
		b.Run("speed"+strconv.Itoa(speed), func(b *testing.B) {
			e, err := NewEncoder(1920, 1080, Config{Speed: speed, Bitrate: 4000})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			bytes := 0
			i := 0
			for b.Loop() {
				f, err := e.Encode(frames[i%len(frames)], frames[0].Rect, time.Duration(i)*33*time.Millisecond, false)
				if err != nil {
					b.Fatal(err)
				}
				bytes += len(f.Data)
				i++
			}
			b.ReportMetric(float64(bytes)/float64(i), "B/frame")
		})
	}
}

// fill paints r of img one colour.
func fill(img *image.RGBA, r image.Rectangle, v uint8) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			o := img.PixOffset(x, y)
			img.Pix[o], img.Pix[o+1], img.Pix[o+2], img.Pix[o+3] = v, v, v, 255
		}
	}
}

// meanY is the mean luma of r in a decoded picture.
func meanY(p *image.YCbCr, r image.Rectangle) float64 {
	var sum, n float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			sum += float64(p.Y[p.YOffset(x, y)])
			n++
		}
	}
	return sum / n
}

// TestLoadBlocks: only the macroblocks marked changed are converted and
// coded; the rest keep the picture before, and a key frame codes all.
func TestLoadBlocks(t *testing.T) {
	needVP8(t)
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	moving(img, 0)
	e, d := codecs(t, 320, 240, Config{Bitrate: 2000, Speed: 16})
	cols, rows := e.Blocks()
	if cols != 20 || rows != 15 {
		t.Fatalf("Blocks: %dx%d, want 20x15", cols, rows)
	}
	changed := make([]bool, cols*rows)
	if _, err := e.LoadBlocks(img, img.Rect, changed[:3]); err == nil {
		t.Error("a map of the wrong size was taken")
	}
	// The first picture is converted whole, whatever the map says.
	if n, err := e.LoadBlocks(img, img.Rect, changed); err != nil || n != cols*rows {
		t.Fatalf("first LoadBlocks: %d blocks, %v; want all %d", n, err, cols*rows)
	}
	f, err := e.EncodeLoaded(0, false)
	if err != nil || !f.Key {
		t.Fatalf("first frame: key %v, %v", f.Key, err)
	}
	if _, err := d.Decode(f.Data); err != nil {
		t.Fatal(err)
	}
	// Two areas turn white; only the first is said to have changed.
	told, untold := image.Rect(32, 32, 64, 48), image.Rect(224, 160, 288, 208)
	fill(img, told, 255)
	fill(img, untold, 255)
	for by := told.Min.Y / 16; by < told.Max.Y/16; by++ {
		for bx := told.Min.X / 16; bx < told.Max.X/16; bx++ {
			changed[by*cols+bx] = true
		}
	}
	for i := range 3 {
		n, err := e.LoadBlocks(img, img.Rect, changed)
		if err != nil || n != 2 {
			t.Fatalf("LoadBlocks: %d blocks, %v; want 2", n, err)
		}
		f, err := e.EncodeLoaded(time.Duration(i+1)*200*time.Millisecond, false)
		if err != nil || f.Key {
			t.Fatalf("frame %d: key %v, %v", i+1, f.Key, err)
		}
		p, err := d.Decode(f.Data)
		if err != nil || p == nil {
			t.Fatalf("decoding frame %d: %v", i+1, err)
		}
		if y := meanY(p, told); y < 220 {
			t.Errorf("frame %d: the changed area has mean luma %.0f, want white (235)", i+1, y)
		}
		if y := meanY(p, untold); y > 200 {
			t.Errorf("frame %d: an area not marked changed was coded (mean luma %.0f)", i+1, y)
		}
	}
	if e.CPU() <= 0 {
		t.Errorf("CPU: %v after four pictures", e.CPU())
	}
	// Back to whole pictures: Load converts everything, the map is off.
	if err := e.Load(img, img.Rect); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		f, err := e.EncodeLoaded(time.Duration(i+4)*200*time.Millisecond, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Data) == 0 {
			continue
		}
		if p, err := d.Decode(f.Data); err != nil || p == nil {
			t.Fatalf("decoding: %v", err)
		} else if i == 7 {
			if y := meanY(p, untold); y < 200 {
				t.Errorf("after Load the whole picture is not coded: mean luma %.0f where white", y)
			}
		}
		if err := e.Load(img, img.Rect); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkSmallChange1080p times what a recording pays for a typed
// character on a 1080p screen: the whole picture converted and coded, or
// only the changed macroblocks.
func BenchmarkSmallChange1080p(b *testing.B) {
	needVP8(b)
	img := image.NewRGBA(image.Rect(0, 0, 1920, 1080))
	moving(img, 0)
	for _, mode := range []string{"whole", "blocks"} {
		b.Run(mode, func(b *testing.B) {
			e, err := NewEncoder(1920, 1080, Config{Speed: 16, Bitrate: 1000})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			cols, rows := e.Blocks()
			changed := make([]bool, cols*rows)
			if _, err := e.Encode(img, img.Rect, 0, true); err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				i++
				// One character cell changes, somewhere new each time.
				x, y := (i*37)%1900, (i*23)%1060
				fill(img, image.Rect(x, y, x+10, y+18), uint8(i*40))
				if mode == "whole" {
					err = e.Load(img, img.Rect)
				} else {
					clear(changed)
					for by := y / 16; by <= (y+17)/16; by++ {
						for bx := x / 16; bx <= (x+9)/16; bx++ {
							changed[by*cols+bx] = true
						}
					}
					_, err = e.LoadBlocks(img, img.Rect, changed)
				}
				if err != nil {
					b.Fatal(err)
				}
				if _, err := e.EncodeLoaded(time.Duration(i)*200*time.Millisecond, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
