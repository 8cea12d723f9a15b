package screen

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"image"
	"io"
)

// The indexed encoding (EncIndexed) is our lossless encoding for text-like
// rectangles of up to 256 colours. A PNG of a typed character spends about
// 80 bytes on its signature and chunks; this spends one.
//
//	[n-1 u8][n x (R, G, B)][deflate-raw (RFC 1951) of the pixel indices]
//
// The indices are packed per row, most significant bits first, at the
// fewest bits of 1, 2, 4 or 8 that hold n colours; each row starts on a
// byte boundary (as in a PNG's rows). The browser inflates with its
// DecompressionStream("deflate-raw") and expands the palette in a loop.

// IndexedBits is the bits per pixel for n colours.
func IndexedBits(n int) int {
	switch {
	case n <= 2:
		return 1
	case n <= 4:
		return 2
	case n <= 16:
		return 4
	default:
		return 8
	}
}

// IndexedRowBytes is the packed length of one row of w pixels at bits per
// pixel.
func IndexedRowBytes(w, bits int) int { return (w*bits + 7) / 8 }

// IndexedEncoder packs and compresses indexed rectangles, reusing its
// buffers and its two compressors (about 1 MiB together) from call to call.
type IndexedEncoder struct {
	packed []byte
	small  *flate.Writer // DefaultCompression
	large  *flate.Writer // BestSpeed
}

// Append appends the payload of a w x h rectangle whose pixels are the
// palette indices idx (w per row, row after row) into palette, given as
// 0xRRGGBB values (1 to 256 of them), to b.
func (e *IndexedEncoder) Append(b []byte, palette []uint32, idx []uint8, w, h int) ([]byte, error) {
	n := len(palette)
	if n < 1 || n > 256 || w < 1 || h < 1 || len(idx) < w*h {
		return b, fmt.Errorf("indexed: %d colours, %dx%d pixels from %d indices", n, w, h, len(idx))
	}
	b = append(b, byte(n-1))
	for _, c := range palette {
		b = append(b, byte(c>>16), byte(c>>8), byte(c))
	}
	bits := IndexedBits(n)
	e.packed = pack(e.packed[:0], idx, w, h, bits)
	// Small rectangles (typing, a cursor) gain bytes from the better
	// search; large ones (a page of text) need its speed.
	out := bytes.NewBuffer(b)
	fw, level := &e.small, flate.DefaultCompression
	if len(e.packed) > 4<<10 {
		fw, level = &e.large, flate.BestSpeed
	}
	if *fw == nil {
		w, err := flate.NewWriter(out, level)
		if err != nil {
			return b, fmt.Errorf("indexed: %w", err)
		}
		*fw = w
	} else {
		(*fw).Reset(out)
	}
	if _, err := (*fw).Write(e.packed); err != nil {
		return b, fmt.Errorf("indexed: %w", err)
	}
	if err := (*fw).Close(); err != nil {
		return b, fmt.Errorf("indexed: %w", err)
	}
	return out.Bytes(), nil
}

// pack appends h rows of w indices at bits per pixel, each row padded to
// a whole byte.
func pack(dst, idx []uint8, w, h, bits int) []byte {
	if bits == 8 {
		return append(dst, idx[:w*h]...)
	}
	per := 8 / bits
	for y := 0; y < h; y++ {
		src := idx[y*w:][:w]
		for x := 0; x < len(src); x += per {
			var v byte
			for i := 0; i < per; i++ {
				v <<= bits
				if x+i < len(src) {
					v |= src[x+i]
				}
			}
			dst = append(dst, v)
		}
	}
	return dst
}

// indexedColours returns the palette size of an indexed payload, if the
// payload holds that palette and at least one byte of pixels.
func indexedColours(payload []byte) (int, bool) {
	if len(payload) == 0 {
		return 0, false
	}
	n := int(payload[0]) + 1
	return n, len(payload) >= 1+3*n+1
}

// ErrIndexed reports an indexed payload that does not decode to its
// rectangle.
var ErrIndexed = errors.New("malformed indexed tile")

// maxIndexedPixels bounds what DecodeIndexed inflates: a tile message is at
// most MaxMessage bytes, and deflate expands at most 1032 times.
const maxIndexedPixels = 1 << 24

// DecodeIndexed returns the w x h picture an indexed payload describes.
// It checks everything the viewer relies on: a palette that fits, indices
// within it, and exactly the bytes the rectangle needs.
func DecodeIndexed(payload []byte, w, h int) (*image.RGBA, error) {
	if w < 1 || h < 1 || w*h > maxIndexedPixels {
		return nil, fmt.Errorf("%w: %dx%d", ErrIndexed, w, h)
	}
	n, ok := indexedColours(payload)
	if !ok {
		return nil, fmt.Errorf("%w: %d bytes: no room for the palette and pixels", ErrIndexed, len(payload))
	}
	pal := payload[1 : 1+3*n]
	bits := IndexedBits(n)
	row := IndexedRowBytes(w, bits)
	want := row * h
	// Exactly the rectangle's bytes, then the stream's end and nothing
	// after it: what the browser's DecompressionStream accepts.
	br := bytes.NewReader(payload[1+3*n:])
	fr := flate.NewReader(br)
	defer fr.Close()
	packed := make([]byte, want)
	if got, err := io.ReadFull(fr, packed); err != nil {
		return nil, fmt.Errorf("%w: %d of the %d bytes of %dx%d at %d bits: %v", ErrIndexed, got, want, w, h, bits, err)
	}
	if k, err := fr.Read(make([]byte, 1)); k != 0 || err != io.EOF {
		return nil, fmt.Errorf("%w: more than the %d bytes of %dx%d at %d bits, or no end (%v)", ErrIndexed, want, w, h, bits, err)
	}
	if br.Len() != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the compressed data", ErrIndexed, br.Len())
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	mask := byte(1<<bits - 1)
	for y := 0; y < h; y++ {
		src := packed[y*row:][:row]
		dst := img.Pix[y*img.Stride:][:w*4]
		for x := 0; x < w; x++ {
			bit := x * bits
			i := int(src[bit/8]>>(8-bits-bit%8)) & int(mask)
			if i >= n {
				return nil, fmt.Errorf("%w: index %d of %d colours", ErrIndexed, i, n)
			}
			copy(dst[4*x:], pal[3*i:3*i+3])
			dst[4*x+3] = 0xff
		}
	}
	return img, nil
}
