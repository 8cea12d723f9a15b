package capture

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestBGRXToRGBA(t *testing.T) {
	for name, conv := range map[string]func(dst, src []byte){"bgrxToRGBA": bgrxToRGBA, "bgrxToRGBAGo": bgrxToRGBAGo} {
		t.Run(name, func(t *testing.T) { testBGRX(t, conv) })
	}
}

func testBGRX(t *testing.T, bgrxToRGBA func(dst, src []byte)) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 7, 8, 9, 31, 127, 128, 129, 1920} {
		src := make([]byte, n*4)
		for i := range src {
			src[i] = byte(r.Uint32())
		}
		want := make([]byte, n*4)
		for i := 0; i < len(src); i += 4 {
			want[i], want[i+1], want[i+2], want[i+3] = src[i+2], src[i+1], src[i], 0xff
		}
		got := make([]byte, n*4)
		bgrxToRGBA(got, src)
		if !bytes.Equal(got, want) {
			t.Fatalf("%d pixels: got %x, want %x", n, got, want)
		}
		// In place.
		bgrxToRGBA(src, src)
		if !bytes.Equal(src, want) {
			t.Fatalf("%d pixels in place: got %x, want %x", n, src, want)
		}
	}
}

// BenchmarkBGRXToRGBA1080p is the conversion cost of one 1920x1080 frame.
func BenchmarkBGRXToRGBA1080p(b *testing.B) {
	src := make([]byte, 1920*1080*4)
	dst := make([]byte, len(src))
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		bgrxToRGBA(dst, src)
	}
}
