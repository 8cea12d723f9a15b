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
