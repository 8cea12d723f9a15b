package encode

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math/rand/v2"
	"testing"
)

func sameMessages(t *testing.T, step string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: EncodeDamaged gave %d messages, Encode %d", step, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s: message %d differs (%d vs %d bytes)", step, i, len(got[i]), len(want[i]))
		}
	}
}

// With damage that covers every change, EncodeDamaged sends exactly what
// Encode sends, frame after frame: edits, full refreshes, no change,
// damage sticking out of the frame, a reset and a size change.
func TestEncodeDamagedMatchesEncode(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		w, h int
		sub  bool // a sub-image: Rect not at 0,0, wider stride
	}{
		{Config{}, 517, 333, false},
		{Config{TileSize: 32, Workers: 1}, 300, 200, true},
		{Config{TileSize: 100, Workers: 3}, 640, 480, false},
	} {
		t.Run(fmt.Sprintf("%+v/%dx%d/sub=%v", tc.cfg, tc.w, tc.h, tc.sub), func(t *testing.T) {
			plain, damaged := New(tc.cfg), New(tc.cfg)
			frame := func(img *image.RGBA) *image.RGBA { return img }
			big := desktop(tc.w+50, tc.h+40, 2)
			if tc.sub {
				off := image.Pt(13, 7)
				frame = func(img *image.RGBA) *image.RGBA {
					return img.SubImage(image.Rectangle{off, off.Add(image.Pt(tc.w, tc.h))}).(*image.RGBA)
				}
			} else {
				big = desktop(tc.w, tc.h, 2)
			}
			origin := frame(big).Rect.Min
			v := newViewer(t)
			step := func(name string, full bool, dmg []image.Rectangle) {
				t.Helper()
				img := frame(big)
				want, err := plain.Encode(img, full)
				if err != nil {
					t.Fatal(err)
				}
				got, err := damaged.EncodeDamaged(img, full, dmg)
				if err != nil {
					t.Fatal(err)
				}
				sameMessages(t, name, got, want)
				if got != nil {
					v.apply(got)
				}
				v.check(img)
			}
			step("first", false, nil)
			step("unchanged, no damage", false, nil)
			step("unchanged, damage", false, []image.Rectangle{image.Rect(0, 0, 100, 100)})
			step("full", true, nil)
			rng := rand.New(rand.NewPCG(3, 4))
			for i := 0; i < 40; i++ {
				r := image.Rect(rng.IntN(tc.w), rng.IntN(tc.h), rng.IntN(tc.w), rng.IntN(tc.h)).Canon()
				c := color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
				draw.Draw(big, r.Add(origin), image.NewUniform(c), image.Point{}, draw.Src)
				dmg := []image.Rectangle{r}
				switch i % 5 {
				case 1: // over-reported, overlapping, out of the frame
					dmg = append(dmg, r.Inset(-20), image.Rect(-50, -50, 10, 10), image.Rect(tc.w-5, tc.h-5, tc.w+500, tc.h+500))
				case 2: // split in pieces
					mid := (r.Min.Y + r.Max.Y) / 2
					dmg = []image.Rectangle{{r.Min, image.Pt(r.Max.X, mid)}, {image.Pt(r.Min.X, mid), r.Max}}
				case 3: // damage reported, pixels unchanged (same colour again)
					draw.Draw(big, r.Add(origin), image.NewUniform(c), image.Point{}, draw.Src)
				}
				step(fmt.Sprintf("edit %d %v", i, r), i%11 == 10, dmg)
			}
			plain.Reset()
			damaged.Reset()
			step("after reset, no damage", false, nil)
		})
	}
}

// Damage is trusted: a change outside it is not looked for. (This is what
// lets a damage-aware capture skip comparing unchanged memory.)
func TestEncodeDamagedTrustsDamage(t *testing.T) {
	img := desktop(256, 256, 3)
	e := New(Config{})
	v := newViewer(t)
	first, err := e.EncodeDamaged(img, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	v.apply(first)
	draw.Draw(img, image.Rect(0, 0, 10, 10), image.NewUniform(color.RGBA{1, 2, 3, 255}), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(200, 200, 210, 210), image.NewUniform(color.RGBA{1, 2, 3, 255}), image.Point{}, draw.Src)
	msgs, err := e.EncodeDamaged(img, false, []image.Rectangle{image.Rect(195, 195, 205, 205)})
	if err != nil {
		t.Fatal(err)
	}
	v.apply(msgs)
	// Only the damaged tile was compared; what changed in it is 200,200
	// 10x10 (the change at 0,0 was not damaged, so it is not seen).
	if len(v.tiles) != 1 || v.tiles[0].X != 200 || v.tiles[0].Y != 200 || v.tiles[0].W != 10 || v.tiles[0].H != 10 {
		t.Fatalf("sent %+v, want the change in the one damaged tile, 200,200 10x10", v.tiles)
	}
	// A full frame ignores the damage.
	msgs, _ = e.EncodeDamaged(img, true, nil)
	v.apply(msgs)
	v.check(img)
}

func TestEncodeDamagedUnchangedAllocs(t *testing.T) {
	img := desktop(1920, 1080, 10)
	e := New(Config{})
	if _, err := e.EncodeDamaged(img, false, nil); err != nil {
		t.Fatal(err)
	}
	dmg := []image.Rectangle{image.Rect(100, 100, 900, 500)}
	if n := testing.AllocsPerRun(5, func() { _, _ = e.EncodeDamaged(img, false, dmg) }); n != 0 {
		t.Fatalf("unchanged damaged frame: %v allocations", n)
	}
}
