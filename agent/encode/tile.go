package encode

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"

	"github.com/tetherdesk/tether/shared/screen"
)

// scratch is one worker's reusable state.
type scratch struct {
	buf   bytes.Buffer
	ix    screen.IndexedEncoder
	out   []byte  // the last indexed payload
	idx   []uint8 // the last index's palette indices, row after row
	table colourTable
	tile  image.RGBA
	// half: photo-like parts go as JPEG at half resolution (set per
	// frame), downscaled into small.
	half  bool
	small image.RGBA
	last  indexed // the last indexRect, valid within one encodeRun
}

// halve writes src at half width and height (rounded up) into dst, each
// pixel the mean of its 2x2 block, reusing dst's buffer.
func halve(dst, src *image.RGBA) {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	hw, hh := (w+1)/2, (h+1)/2
	if cap(dst.Pix) < hw*hh*4 {
		dst.Pix = make([]uint8, hw*hh*4)
	}
	dst.Pix, dst.Stride, dst.Rect = dst.Pix[:hw*hh*4], hw*4, image.Rect(0, 0, hw, hh)
	for y := 0; y < hh; y++ {
		r0 := src.Pix[src.PixOffset(src.Rect.Min.X, src.Rect.Min.Y+2*y):][:w*4]
		r1 := r0
		if 2*y+1 < h {
			r1 = src.Pix[src.PixOffset(src.Rect.Min.X, src.Rect.Min.Y+2*y+1):][:w*4]
		}
		out := dst.Pix[y*hw*4:][:hw*4]
		for x := 0; x < hw; x++ {
			a, b := 8*x, 8*x+4
			if 2*x+1 >= w {
				b = a
			}
			for c := 0; c < 3; c++ {
				out[4*x+c] = uint8((uint(r0[a+c]) + uint(r0[b+c]) + uint(r1[a+c]) + uint(r1[b+c]) + 2) / 4)
			}
			out[4*x+3] = 0xff
		}
	}
}

func newScratch() *scratch {
	s := &scratch{}
	s.idx = make([]uint8, MaxTileSize*MaxTileSize)
	return s
}

// encodeRun appends the messages for r, a run of dirty tiles side by side
// (ts wide each). A text-like run goes as one indexed tile. Otherwise each
// stretch of photo-like tiles goes as one JPEG and each stretch of
// text-like tiles as one indexed tile, so a photo next to text does not
// turn the text into JPEG.
func (s *scratch) encodeRun(frame *image.RGBA, r image.Rectangle, ts int, seq uint32, quality, limit int, out [][]byte) ([][]byte, error) {
	s.last = indexed{} // the frame's pixels may be new since the last run
	if r.Dx() <= ts {
		return s.encodeRect(frame, r, seq, quality, limit, MaxPaletteColours, out)
	}
	if _, ok := s.indexRect(frame, r, MaxRunColours); ok {
		return s.encodeRect(frame, r, seq, quality, limit, MaxRunColours, out)
	}
	textAt := func(x int) bool {
		_, ok := s.indexRect(frame, image.Rect(x, r.Min.Y, min(x+ts, r.Max.X), r.Max.Y), MaxPaletteColours)
		return ok
	}
	var err error
	text := textAt(r.Min.X)
	for x := r.Min.X; x < r.Max.X; {
		end := x + ts
		next := false
		for end < r.Max.X {
			if next = textAt(end); next != text {
				break
			}
			end += ts
		}
		part := image.Rect(x, r.Min.Y, min(end, r.Max.X), r.Max.Y)
		switch {
		case !text:
			out, err = s.encodeRect(frame, part, seq, quality, limit, 0, out)
		case part.Dx() <= ts:
			out, err = s.encodeRect(frame, part, seq, quality, limit, MaxPaletteColours, out)
		default:
			if _, ok := s.indexRect(frame, part, MaxRunColours); ok {
				out, err = s.encodeRect(frame, part, seq, quality, limit, MaxRunColours, out)
				break
			}
			for tx := part.Min.X; tx < part.Max.X && err == nil; tx += ts {
				out, err = s.encodeRect(frame, image.Rect(tx, r.Min.Y, min(tx+ts, r.Max.X), r.Max.Y), seq, quality, limit, MaxPaletteColours, out)
			}
		}
		if err != nil {
			return out, err
		}
		x, text = end, next
	}
	return out, nil
}

// view makes s.tile the part r of frame.
func (s *scratch) view(frame *image.RGBA, r image.Rectangle) *image.RGBA {
	s.tile = image.RGBA{Pix: frame.Pix[frame.PixOffset(r.Min.X, r.Min.Y):], Stride: frame.Stride, Rect: image.Rect(0, 0, r.Dx(), r.Dy())}
	return &s.tile
}

// encodeRect appends to out the message(s) for rectangle r of frame (whose
// Rect starts at 0,0): an indexed tile (or solid colour) if it has at most
// colours colours, else a JPEG. A rectangle whose message would exceed limit
// (screen.MaxMessage) is split in halves until every part fits.
func (s *scratch) encodeRect(frame *image.RGBA, r image.Rectangle, seq uint32, quality, limit, colours int, out [][]byte) ([][]byte, error) {
	enc, payload, err := s.encodeTile(frame, r, quality, colours)
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
		if out, err = s.encodeRect(frame, a, seq, quality, limit, colours, out); err != nil {
			return out, err
		}
		return s.encodeRect(frame, b, seq, quality, limit, colours, out)
	}
	msg := make([]byte, 0, screen.TileHeaderLen+len(payload))
	msg = screen.AppendTile(msg, screen.Tile{Seq: seq, X: uint16(r.Min.X), Y: uint16(r.Min.Y),
		W: uint16(r.Dx()), H: uint16(r.Dy()), Enc: enc, Payload: payload})
	return append(out, msg), nil
}

// encodeTile classifies and encodes one rectangle. The payload aliases the
// scratch buffer until the next call.
func (s *scratch) encodeTile(frame *image.RGBA, r image.Rectangle, quality, colours int) (byte, []byte, error) {
	w, h := r.Dx(), r.Dy()
	s.buf.Reset()
	n, ok := s.indexRect(frame, r, colours)
	switch {
	case ok && n == 1:
		c := s.table.colours[0]
		s.buf.Write([]byte{byte(c >> 16), byte(c >> 8), byte(c)})
		return screen.EncSolid, s.buf.Bytes(), nil
	case ok:
		b, err := s.ix.Append(s.out[:0], s.table.colours[:n], s.idx[:w*h], w, h)
		if err != nil {
			return 0, nil, err
		}
		s.out = b
		return screen.EncIndexed, b, nil
	case s.half:
		halve(&s.small, &s.tile)
		if err := jpeg.Encode(&s.buf, &s.small, &jpeg.Options{Quality: quality}); err != nil {
			return 0, nil, fmt.Errorf("jpeg: %w", err)
		}
		return screen.EncJPEGHalf, s.buf.Bytes(), nil
	default:
		if err := jpeg.Encode(&s.buf, &s.tile, &jpeg.Options{Quality: quality}); err != nil {
			return 0, nil, fmt.Errorf("jpeg: %w", err)
		}
		return screen.EncJPEG, s.buf.Bytes(), nil
	}
}

// indexed is what the last indexRect call found.
type indexed struct {
	r     image.Rectangle
	limit int
	n     int
	ok    bool
}

// indexRect is index for the part r of frame, also making s.tile that
// part. Deciding how to send a run indexes it, and so does encoding it:
// the second call reuses the first's palette and indices when they answer
// it (same rectangle, and the colours counted fit the new limit or already
// overflowed a lower one).
func (s *scratch) indexRect(frame *image.RGBA, r image.Rectangle, limit int) (int, bool) {
	tile := s.view(frame, r)
	if l := s.last; l.r == r && !r.Empty() {
		switch {
		case l.ok && l.n <= limit:
			return l.n, true
		case !l.ok && limit <= l.limit:
			return l.n, false
		}
	}
	n, ok := s.index(tile, limit)
	s.last = indexed{r: r, limit: limit, n: n, ok: ok}
	return n, ok
}

// index counts the distinct RGB colours of tile (alpha ignored) and writes
// palette indices into s.idx. It gives up (ok false) beyond limit
// (at most MaxRunColours) colours.
func (s *scratch) index(tile *image.RGBA, limit int) (n int, ok bool) {
	s.table.reset()
	s.table.limit = limit
	w, h := tile.Rect.Dx(), tile.Rect.Dy()
	if cap(s.idx) < w*h {
		s.idx = make([]uint8, w*h)
	}
	idx := s.idx[:w*h]
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

// colourTable is a small open-addressing set of RGB colours with their
// insertion index.
type colourTable struct {
	keys    [tableSlots]uint32 // colour+1; 0 is empty
	idx     [tableSlots]uint8
	colours [MaxRunColours]uint32
	n       int
	limit   int // at most MaxRunColours
}

// tableSlots keeps the table at most a quarter full.
const tableSlots = 4 * MaxRunColours

func slot(c uint32) int { return int((c*2654435761)>>22) & (tableSlots - 1) }

func (t *colourTable) reset() {
	for i := 0; i < t.n; i++ {
		t.keys[t.slotOf(t.colours[i])] = 0
	}
	t.n = 0
}

func (t *colourTable) slotOf(c uint32) int {
	i := slot(c)
	for t.keys[i] != c+1 {
		i = (i + 1) & (tableSlots - 1)
	}
	return i
}

// lookup returns c's palette index, adding it if there is room.
func (t *colourTable) lookup(c uint32) (uint8, bool) {
	i := slot(c)
	for {
		switch t.keys[i] {
		case c + 1:
			return t.idx[i], true
		case 0:
			if t.n >= t.limit {
				return 0, false
			}
			t.keys[i], t.idx[i] = c+1, uint8(t.n)
			t.colours[t.n] = c
			t.n++
			return t.idx[i], true
		}
		i = (i + 1) & (tableSlots - 1)
	}
}
