package screen

import (
	"bytes"
	"compress/flate"
	"errors"
	"image"
	"math/rand/v2"
	"testing"
)

// indexedCase makes a w x h rectangle of n colours with random indices.
func indexedCase(rng *rand.Rand, n, w, h int) ([]uint32, []uint8) {
	pal := make([]uint32, n)
	for i := range pal {
		pal[i] = rng.Uint32() & 0xffffff
	}
	idx := make([]uint8, w*h)
	for i := range idx {
		idx[i] = uint8(rng.IntN(n))
	}
	return pal, idx
}

func checkIndexed(t *testing.T, img *image.RGBA, pal []uint32, idx []uint8, w, h int) {
	t.Helper()
	if img.Rect.Dx() != w || img.Rect.Dy() != h {
		t.Fatalf("decoded %v, want %dx%d", img.Rect, w, h)
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := pal[idx[y*w+x]]
			p := img.Pix[img.PixOffset(x, y):]
			if p[0] != byte(c>>16) || p[1] != byte(c>>8) || p[2] != byte(c) || p[3] != 0xff {
				t.Fatalf("pixel %d,%d = %v, want %06x", x, y, p[:4], c)
			}
		}
	}
}

func TestIndexedRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	var e IndexedEncoder
	for _, tc := range []struct{ n, w, h int }{
		{1, 1, 1}, {2, 1, 1}, {2, 7, 3}, {2, 9, 2}, {3, 5, 5}, {4, 13, 7}, {5, 3, 11},
		{16, 17, 4}, {17, 8, 16}, {128, 64, 64}, {256, 1024, 64}, {2, 1920, 16},
	} {
		pal, idx := indexedCase(rng, tc.n, tc.w, tc.h)
		b, err := e.Append([]byte{0xaa}, pal, idx, tc.w, tc.h)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if b[0] != 0xaa {
			t.Fatalf("%+v: Append overwrote what came before", tc)
		}
		if m, err := Decode(AppendTile(nil, Tile{W: uint16(tc.w), H: uint16(tc.h), Enc: EncIndexed, Payload: b[1:]})); err != nil || m.Tile.Enc != EncIndexed {
			t.Fatalf("%+v: the tile does not decode: %v", tc, err)
		}
		img, err := DecodeIndexed(b[1:], tc.w, tc.h)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		checkIndexed(t, img, pal, idx, tc.w, tc.h)
		if bits := IndexedBits(tc.n); len(b) > 1+1+3*tc.n+IndexedRowBytes(tc.w, bits)*tc.h+5*(1+IndexedRowBytes(tc.w, bits)*tc.h/65535)+5 {
			t.Errorf("%+v: %d bytes, more than stored", tc, len(b))
		}
	}
}

// A typed character: the payload must be far below a PNG's (about 80 bytes
// of signature and chunks alone).
func TestIndexedSmall(t *testing.T) {
	var e IndexedEncoder
	idx := make([]uint8, 8*16)
	for y := 3; y < 13; y++ {
		idx[y*8+2], idx[y*8+5] = 1, 1 // an "H"
	}
	for x := 2; x < 6; x++ {
		idx[8*8+x] = 1
	}
	b, err := e.Append(nil, []uint32{0xffffff, 0x000000}, idx, 8, 16)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 40 {
		t.Errorf("an 8x16 two-colour glyph takes %d bytes, want at most 40", len(b))
	}
}

func deflateRaw(t testing.TB, b []byte) []byte {
	var out bytes.Buffer
	fw, _ := flate.NewWriter(&out, flate.BestSpeed)
	fw.Write(b)
	fw.Close()
	return out.Bytes()
}

func TestDecodeIndexedRejects(t *testing.T) {
	two := []byte{1, 0, 0, 0, 255, 255, 255} // two colours
	three := []byte{2, 0, 0, 0, 1, 1, 1, 2, 2, 2}
	good := deflateRaw(t, []byte{0xf0, 0x0f}) // 8x2 at 1 bit
	cases := map[string]struct {
		payload []byte
		w, h    int
	}{
		"empty":          {nil, 8, 2},
		"no palette":     {[]byte{1, 0, 0}, 8, 2},
		"no pixels":      {two, 8, 2},
		"short":          {append(append([]byte{}, two...), deflateRaw(t, []byte{0xf0})...), 8, 2},
		"long":           {append(append([]byte{}, two...), deflateRaw(t, []byte{0xf0, 0x0f, 0})...), 8, 2},
		"not deflate":    {append(append([]byte{}, two...), 0xff, 0xff, 0xff), 8, 2},
		"no end":         {append(append([]byte{}, two...), good[:len(good)-1]...), 8, 2},
		"trailing":       {append(append(append([]byte{}, two...), good...), 0), 8, 2},
		"index beyond":   {append(append([]byte{}, three...), deflateRaw(t, []byte{0xff})...), 4, 1}, // 3 at 2 bits
		"zero rectangle": {append(append([]byte{}, two...), good...), 0, 2},
		"huge rectangle": {append(append([]byte{}, two...), good...), 65535, 65535},
	}
	for name, tc := range cases {
		if _, err := DecodeIndexed(tc.payload, tc.w, tc.h); !errors.Is(err, ErrIndexed) {
			t.Errorf("%s: err = %v, want ErrIndexed", name, err)
		}
	}
	if _, err := DecodeIndexed(append(append([]byte{}, two...), good...), 8, 2); err != nil {
		t.Fatalf("the good case: %v", err)
	}
}

// FuzzDecodeIndexed: indexed payloads come from the network. Nothing may
// panic, and a payload that decodes re-encodes to the same picture.
func FuzzDecodeIndexed(f *testing.F) {
	var e IndexedEncoder
	rng := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{1, 2, 3, 16, 200} {
		pal, idx := indexedCase(rng, n, 9, 5)
		b, _ := e.Append(nil, pal, idx, 9, 5)
		f.Add(b, uint8(9), uint8(5))
	}
	f.Fuzz(func(t *testing.T, payload []byte, w, h uint8) {
		img, err := DecodeIndexed(payload, int(w), int(h))
		if err != nil {
			if !errors.Is(err, ErrIndexed) {
				t.Fatalf("error %v is not ErrIndexed", err)
			}
			return
		}
		n := int(payload[0]) + 1
		pal := make([]uint32, n)
		for i := range pal {
			pal[i] = uint32(payload[1+3*i])<<16 | uint32(payload[2+3*i])<<8 | uint32(payload[3+3*i])
		}
		// Recover the indices: the first palette entry of each pixel's
		// colour (a palette may repeat colours).
		idx := make([]uint8, int(w)*int(h))
		for i := range idx {
			p := img.Pix[4*i:]
			c := uint32(p[0])<<16 | uint32(p[1])<<8 | uint32(p[2])
			for j, pc := range pal {
				if pc == c {
					idx[i] = uint8(j)
					break
				}
			}
		}
		again, err := e.Append(nil, pal, idx, int(w), int(h))
		if err != nil {
			t.Fatal(err)
		}
		img2, err := DecodeIndexed(again, int(w), int(h))
		if err != nil || !bytes.Equal(img.Pix, img2.Pix) {
			t.Fatalf("re-encoded payload decodes to another picture (%v)", err)
		}
	})
}
