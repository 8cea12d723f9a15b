package encode

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"

	"github.com/tetherdesk/tether/shared/screen"
)

// scratch is one worker's reusable state.
type scratch struct {
	buf   bytes.Buffer
	png   png.Encoder
	pal   image.Paletted
	table colourTable
	// palette backs pal.Palette; colours are boxed once per distinct
	// value the worker has seen in its last tile.
	palette color.Palette
	tile    image.RGBA
}

func newScratch() *scratch {
	s := &scratch{}
	s.png.CompressionLevel = png.BestSpeed
	s.png.BufferPool = &onePool{}
	s.pal.Pix = make([]uint8, MaxTileSize*MaxTileSize)
	s.palette = make(color.Palette, 0, MaxPaletteColours)
	return s
}

// onePool keeps one png.EncoderBuffer: each worker encodes one PNG at a time.
type onePool struct{ b *png.EncoderBuffer }

func (p *onePool) Get() *png.EncoderBuffer  { b := p.b; p.b = nil; return b }
func (p *onePool) Put(b *png.EncoderBuffer) { p.b = b }

// encodeRect appends to out the message(s) for rectangle r of frame (whose
// Rect starts at 0,0). A tile whose message would exceed screen.MaxMessage
// (limit: screen.MaxMessage) is split in halves until every part fits.
func (s *scratch) encodeRect(frame *image.RGBA, r image.Rectangle, seq uint32, quality, limit int, out [][]byte) ([][]byte, error) {
	enc, payload, err := s.encodeTile(frame, r, quality)
	if err != nil {
		return out, err
	}
	if screen.TileHeaderLen+len(payload) > limit {
		if r.Dx() <= 8 && r.Dy() <= 8 {
			return out, fmt.Errorf("an %v tile of %d bytes exceeds %d", r.Size(), len(payload), limit)
		}
		var a, b image.Rectangle
		if r.Dx() >= r.Dy() {
			mid := r.Min.X + r.Dx()/2
			a, b = image.Rect(r.Min.X, r.Min.Y, mid, r.Max.Y), image.Rect(mid, r.Min.Y, r.Max.X, r.Max.Y)
		} else {
			mid := r.Min.Y + r.Dy()/2
			a, b = image.Rect(r.Min.X, r.Min.Y, r.Max.X, mid), image.Rect(r.Min.X, mid, r.Max.X, r.Max.Y)
		}
		if out, err = s.encodeRect(frame, a, seq, quality, limit, out); err != nil {
			return out, err
		}
		return s.encodeRect(frame, b, seq, quality, limit, out)
	}
	msg := make([]byte, 0, screen.TileHeaderLen+len(payload))
	msg = screen.AppendTile(msg, screen.Tile{Seq: seq, X: uint16(r.Min.X), Y: uint16(r.Min.Y),
		W: uint16(r.Dx()), H: uint16(r.Dy()), Enc: enc, Payload: payload})
	return append(out, msg), nil
}

// encodeTile classifies and encodes one rectangle. The payload aliases the
// scratch buffer until the next call.
func (s *scratch) encodeTile(frame *image.RGBA, r image.Rectangle, quality int) (byte, []byte, error) {
	w, h := r.Dx(), r.Dy()
	s.tile = image.RGBA{Pix: frame.Pix[frame.PixOffset(r.Min.X, r.Min.Y):], Stride: frame.Stride, Rect: image.Rect(0, 0, w, h)}
	s.buf.Reset()
	n, ok := s.index(&s.tile)
	switch {
	case ok && n == 1:
		c := s.table.colours[0]
		s.buf.Write([]byte{byte(c >> 16), byte(c >> 8), byte(c)})
		return screen.EncSolid, s.buf.Bytes(), nil
	case ok:
		s.palette = s.palette[:0]
		for _, c := range s.table.colours[:n] {
			s.palette = append(s.palette, color.RGBA{byte(c >> 16), byte(c >> 8), byte(c), 0xff})
		}
		s.pal.Palette = s.palette
		s.pal.Stride = w
		s.pal.Rect = image.Rect(0, 0, w, h)
		if err := s.png.Encode(&s.buf, &s.pal); err != nil {
			return 0, nil, fmt.Errorf("png: %w", err)
		}
		return screen.EncPNG, s.buf.Bytes(), nil
	default:
		if err := jpeg.Encode(&s.buf, &s.tile, &jpeg.Options{Quality: quality}); err != nil {
			return 0, nil, fmt.Errorf("jpeg: %w", err)
		}
		return screen.EncJPEG, s.buf.Bytes(), nil
	}
}

// index counts the distinct RGB colours of tile (alpha ignored) and writes
// palette indices into s.pal.Pix. It gives up (ok false) beyond
// MaxPaletteColours.
func (s *scratch) index(tile *image.RGBA) (n int, ok bool) {
	s.table.reset()
	w, h := tile.Rect.Dx(), tile.Rect.Dy()
	if cap(s.pal.Pix) < w*h {
		s.pal.Pix = make([]uint8, w*h)
	}
	idx := s.pal.Pix[:w*h]
	last, lastIdx := uint32(1<<31), uint8(0) // impossible colour
	for y := 0; y < h; y++ {
		row := tile.Pix[y*tile.Stride:][:w*4]
		out := idx[y*w:][:w]
		for x := range out {
			p := row[x*4:][:3]
			c := uint32(p[0])<<16 | uint32(p[1])<<8 | uint32(p[2])
			if c != last {
				i, ok := s.table.lookup(c)
				if !ok {
					return s.table.n, false
				}
				last, lastIdx = c, i
			}
			out[x] = lastIdx
		}
	}
	return s.table.n, true
}

// colourTable is a tiny open-addressing set of RGB colours with their
// insertion index.
type colourTable struct {
	keys    [128]uint32 // colour+1; 0 is empty
	idx     [128]uint8
	colours [MaxPaletteColours]uint32
	n       int
}

func (t *colourTable) reset() {
	for i := 0; i < t.n; i++ {
		t.keys[t.slotOf(t.colours[i])] = 0
	}
	t.n = 0
}

func (t *colourTable) slotOf(c uint32) int {
	i := int((c * 2654435761) >> 25)
	for t.keys[i] != c+1 {
		i = (i + 1) & 127
	}
	return i
}

// lookup returns c's palette index, adding it if there is room.
func (t *colourTable) lookup(c uint32) (uint8, bool) {
	i := int((c * 2654435761) >> 25)
	for {
		switch t.keys[i] {
		case c + 1:
			return t.idx[i], true
		case 0:
			if t.n == MaxPaletteColours {
				return 0, false
			}
			t.keys[i], t.idx[i] = c+1, uint8(t.n)
			t.colours[t.n] = c
			t.n++
			return t.idx[i], true
		}
		i = (i + 1) & 127
	}
}
