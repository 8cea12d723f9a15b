//go:build linux && cgo

package webm

import (
	"image"
	"image/color"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/vp8"
)

// TestVP8RoundTrip: libvpx's frames, written and read back from the file,
// decode to pictures of the track's size.
func TestVP8RoundTrip(t *testing.T) {
	if err := vp8.Available(); err != nil {
		t.Fatalf("libvpx is installed by scripts/deps.sh: %v", err)
	}
	const w, h = 320, 180
	enc, err := vp8.NewEncoder(w, h, vp8.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	path := filepath.Join(t.TempDir(), "r.webm")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	wr, err := NewWriter(f, w, h)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range 25 {
		for y := range h {
			for x := range w {
				img.SetRGBA(x, y, color.RGBA{uint8(x + 4*i), uint8(y), uint8(x ^ y), 255})
			}
		}
		at := time.Duration(i) * 200 * time.Millisecond
		fr, err := enc.Encode(img, img.Rect, at, i == 10)
		if err != nil {
			t.Fatal(err)
		}
		if err := wr.WriteFrame(at, fr.Key, fr.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := wr.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dur, _, _, frames, cues := readBack(t, file)
	if dur != 5*time.Second || len(frames) != 25 || len(cues) != 2 {
		t.Fatalf("duration %v, %d frames, cues %v; want 5s, 25, 2", dur, len(frames), cues)
	}
	dec, err := vp8.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	for i, fr := range frames {
		pic, err := dec.Decode(fr.data)
		if err != nil || pic == nil || pic.Rect.Dx() != w || pic.Rect.Dy() != h {
			t.Fatalf("frame %d: %v, %v", i, pic, err)
		}
	}
}
