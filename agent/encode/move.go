package encode

import (
	"bytes"
	"hash/maphash"
	"image"

	"github.com/tetherdesk/tether/shared/screen"
)

// Scroll detection. Scrolled text changes every pixel of its window, but
// all except the newly exposed lines are already on the viewer's canvas a
// few rows higher or lower. Each tile column with dirty tiles is searched
// for the vertical shift that explains most of its changed rows (rows are
// compared by hash), runs of rows that match under that shift become copy
// messages, the copies are applied to prev as the viewer will apply them,
// and the tiles they touch are compared again: only what still differs is
// sent as pixels.
const (
	// minMoveTiles: fewer dirty tiles than this are cheaper to send than
	// to search.
	minMoveTiles = 8
	// maxShift bounds the shift searched for, in rows.
	maxShift = 512
	// minMoveRows: shorter runs of matching rows are not worth a message.
	minMoveRows = 16
	// minVotes: rows that must agree on a shift before it is tried.
	minVotes = 4
)

// maxMoves bounds the copies of one frame; beyond it, the rest is pixels.
const maxMoves = 32

// mover is findMoves' scratch, kept between frames.
type mover struct {
	seed maphash.Seed
	// Row hashes of each tile column (cols x h), of the new frame and of
	// prev, and the rows of each column hashed in this frame so far.
	curCols, oldCols []uint64
	hashed           []hashedRows
	cur              []uint64 // curCols of the column last hashed, by row
	old              []uint64 // oldCols of that column
	open             []int    // moves of the previous column, indexes into e.moves
	opened           []int    // moves of this column
	where            map[uint64]int32
	votes            map[int]int
	cols             []colShift
	src              []byte // the moves' source pixels (applyMoves)
}

// colShift is what the first pass found in one tile column.
type colShift struct {
	y0, y1 int // rows of its dirty tiles
	dy     int // 0: none
}

// findMoves appends to e.moves the scrolls it finds among the dirty
// tiles.
//
// First pass: each tile column with dirty tiles gets the shift that
// explains most of its changed rows. Second pass: neighbouring columns with
// the same shift form a group, and each run of rows that matches under it
// in every column of the group becomes one copy: a scrolled window is one
// copy, not one per column.
func (e *Encoder) findMoves(img *image.RGBA) {
	m := &e.moveScan
	if m.where == nil {
		m.seed = maphash.MakeSeed()
		m.where = map[uint64]int32{}
		m.votes = map[int]int{}
	}
	if n := e.cols * e.h; len(m.curCols) != n {
		m.curCols, m.oldCols = make([]uint64, n), make([]uint64, n)
		m.hashed = make([]hashedRows, e.cols)
	}
	clear(m.hashed)
	ts := e.cfg.TileSize
	m.cols = m.cols[:0]
	guess := 0 // the shift found in the previous column
	for tx := 0; tx < e.cols; tx++ {
		c := colShift{y0: -1}
		for ty := 0; ty < e.rows; ty++ {
			if e.dirty[ty*e.cols+tx] {
				if c.y0 < 0 {
					c.y0 = ty * ts
				}
				c.y1 = min((ty+1)*ts, e.h)
			}
		}
		if c.y0 >= 0 && c.y1-c.y0 > ts {
			o0, o1 := max(0, c.y0-maxShift), min(e.h, c.y1+maxShift)
			m.hash(e, img, tx, c.y0, c.y1, o0, o1)
			c.dy = guess
			if c.dy == 0 || m.matches(c.dy, c.y0, c.y1, o0, o1) < (c.y1-c.y0)/2 {
				c.dy = m.vote(c.y0, c.y1, o0, o1)
			}
			guess = c.dy
		}
		m.cols = append(m.cols, c)
	}
	for g0 := 0; g0 < len(m.cols); {
		dy := m.cols[g0].dy
		g1 := g0 + 1
		y0, y1 := m.cols[g0].y0, m.cols[g0].y1
		for g1 < len(m.cols) && m.cols[g1].dy == dy {
			y0, y1 = min(y0, m.cols[g1].y0), max(y1, m.cols[g1].y1)
			g1++
		}
		if dy != 0 {
			e.addRuns(img, g0, g1, y0, y1, dy)
		}
		g0 = g1
	}
}

// applyAndRecheck applies e.moves to prev and compares again the tiles
// they wrote.
func (e *Encoder) applyAndRecheck(img *image.RGBA) {
	ts := e.cfg.TileSize
	e.applyMoves()
	for _, mv := range e.moves {
		r := image.Rect(int(mv.DX), int(mv.DY), int(mv.DX)+int(mv.W), int(mv.DY)+int(mv.H))
		for ty := r.Min.Y / ts; ty <= (r.Max.Y-1)/ts; ty++ {
			for tx := r.Min.X / ts; tx <= (r.Max.X-1)/ts; tx++ {
				e.dirty[ty*e.cols+tx] = !e.tileEqual(img, tx, ty)
			}
		}
	}
}

// Hint tells the next Encode or EncodeDamaged that the content of rect
// from (frame coordinates) may now be at to: a window was moved. Hints are
// checked against the pixels, never trusted; the ones that hold become
// copies, and the tiles they cover are not searched for scrolling.
func (e *Encoder) Hint(from image.Rectangle, to image.Point) {
	e.hints = append(e.hints, hint{from, to})
}

type hint struct {
	from image.Rectangle
	to   image.Point
}

// addHints turns the hints that hold into moves and returns the tiles they
// cover whole (not to be searched again), as indexes into e.dirty.
func (e *Encoder) addHints(img *image.RGBA, covered []int) []int {
	frame := image.Rect(0, 0, e.w, e.h)
	ts := e.cfg.TileSize
	for _, h := range e.hints {
		d := h.to.Sub(h.from.Min)
		if d == (image.Point{}) {
			continue
		}
		// Clip both ends to the frame.
		src := h.from.Intersect(frame).Intersect(frame.Sub(d))
		if src.Dx() < minMoveRows || src.Dy() < minMoveRows || len(e.moves) == maxMoves {
			continue
		}
		dst := src.Add(d)
		same := 0
		for y := 0; y < src.Dy(); y++ {
			a := img.Pix[img.PixOffset(img.Rect.Min.X+dst.Min.X, img.Rect.Min.Y+dst.Min.Y+y):][:dst.Dx()*4]
			if bytes.Equal(a, e.prev[(src.Min.Y+y)*e.w*4+src.Min.X*4:][:src.Dx()*4]) {
				same++
			}
		}
		// Another window in front, or the content changed as it moved:
		// still worth it if most of it holds; the tiles that differ are
		// sent after the copy.
		if same*2 < src.Dy() {
			continue
		}
		e.moves = append(e.moves, screen.Copy{SX: uint16(src.Min.X), SY: uint16(src.Min.Y), W: uint16(src.Dx()), H: uint16(src.Dy()),
			DX: uint16(dst.Min.X), DY: uint16(dst.Min.Y)})
		for ty := (dst.Min.Y + ts - 1) / ts; (ty+1)*ts <= dst.Max.Y; ty++ {
			for tx := (dst.Min.X + ts - 1) / ts; (tx+1)*ts <= dst.Max.X; tx++ {
				covered = append(covered, ty*e.cols+tx)
			}
		}
	}
	e.hints = e.hints[:0]
	return covered
}

// hashedRows are the rows of one column hashed in this frame: [c0,c1) of
// the new frame, [o0,o1) of prev.
type hashedRows struct{ c0, c1, o0, o1 int }

// hash points m.cur and m.old at tile column tx's row hashes, with at
// least rows y0..y1 of img and rows o0..o1 of prev filled in.
func (m *mover) hash(e *Encoder, img *image.RGBA, tx, y0, y1, o0, o1 int) {
	ts := e.cfg.TileSize
	x0, x1 := tx*ts, min((tx+1)*ts, e.w)
	m.cur, m.old = m.curCols[tx*e.h:][:e.h], m.oldCols[tx*e.h:][:e.h]
	h := &m.hashed[tx]
	h.c0, h.c1 = extend(m.cur, y0, y1, h.c0, h.c1, func(y int) uint64 {
		return maphash.Bytes(m.seed, img.Pix[img.PixOffset(img.Rect.Min.X+x0, img.Rect.Min.Y+y):][:(x1-x0)*4])
	})
	h.o0, h.o1 = extend(m.old, o0, o1, h.o0, h.o1, func(y int) uint64 {
		return maphash.Bytes(m.seed, e.prev[y*e.w*4+x0*4:][:(x1-x0)*4])
	})
}

// extend fills dst[y0:y1] with f, skipping rows [have0,have1) already
// filled, and returns the rows filled now.
func extend(dst []uint64, y0, y1, have0, have1 int, f func(int) uint64) (int, int) {
	if y0 >= y1 {
		return have0, have1
	}
	if have0 >= have1 || y1 < have0 || y0 > have1 {
		for y := y0; y < y1; y++ {
			dst[y] = f(y)
		}
		return y0, y1
	}
	for y := y0; y < have0; y++ {
		dst[y] = f(y)
	}
	for y := have1; y < y1; y++ {
		dst[y] = f(y)
	}
	return min(y0, have0), max(y1, have1)
}

// matches counts the rows of [y0,y1) that equal prev's row dy above
// (below, for negative dy) within the prev rows hashed, [o0,o1).
func (m *mover) matches(dy, y0, y1, o0, o1 int) int {
	n := 0
	for y := max(y0, o0+dy); y < min(y1, o1+dy); y++ {
		if m.cur[y] == m.old[y-dy] {
			n++
		}
	}
	return n
}

// vote returns the shift most rows with a unique match in prev agree on,
// or 0.
func (m *mover) vote(y0, y1, o0, o1 int) int {
	clear(m.where)
	for y := o0; y < o1; y++ {
		if _, dup := m.where[m.old[y]]; dup {
			m.where[m.old[y]] = -1
		} else {
			m.where[m.old[y]] = int32(y)
		}
	}
	clear(m.votes)
	best, bestVotes := 0, minVotes-1
	for y := y0; y < y1; y++ {
		if m.cur[y] == m.old[y] {
			continue // unchanged here
		}
		p, ok := m.where[m.cur[y]]
		if !ok || p < 0 {
			continue
		}
		dy := y - int(p)
		m.votes[dy]++
		if v := m.votes[dy]; v > bestVotes {
			best, bestVotes = dy, v
		}
	}
	return best
}

// addRuns appends the moves for tile columns g0..g1-1, which share the
// shift dy, over rows y0..y1 (the same rows for every column, so that
// their runs line up). Each column's runs of rows that match prev shifted
// by dy become copies; a run that continues one with the same rows in the
// column to its left widens that copy instead. So a scrolled window is one
// copy, and a window that stays put in front of it only adds a few.
func (e *Encoder) addRuns(img *image.RGBA, g0, g1, y0, y1, dy int) {
	m := &e.moveScan
	lo, hi := max(y0, dy), min(y1, e.h+dy)
	if lo >= hi {
		return
	}
	ts := e.cfg.TileSize
	m.open = m.open[:0]
	for tx := g0; tx < g1; tx++ {
		m.hash(e, img, tx, lo, hi, max(0, min(lo, lo-dy)), min(e.h, max(hi, hi-dy)))
		x0, x1 := tx*ts, min((tx+1)*ts, e.w)
		m.opened = m.opened[:0]
		for y := lo; y < hi; {
			if m.cur[y] != m.old[y-dy] {
				y++
				continue
			}
			a, moved := y, false
			for y < hi && m.cur[y] == m.old[y-dy] {
				moved = moved || m.cur[y] != m.old[y]
				y++
			}
			// Rows that look the same where they are (blank, or a window
			// that did not move) are not worth a copy.
			if y-a < minMoveRows || !moved {
				continue
			}
			c := screen.Copy{SX: uint16(x0), SY: uint16(a - dy), W: uint16(x1 - x0), H: uint16(y - a), DX: uint16(x0), DY: uint16(a)}
			joined := false
			for _, i := range m.open {
				if p := &e.moves[i]; p.DY == c.DY && p.H == c.H && int(p.DX)+int(p.W) == x0 {
					p.W += c.W
					m.opened = append(m.opened, i)
					joined = true
					break
				}
			}
			if !joined && len(e.moves) < maxMoves {
				e.moves = append(e.moves, c)
				m.opened = append(m.opened, len(e.moves)-1)
			}
		}
		m.open, m.opened = m.opened, m.open
	}
}

// applyMoves applies e.moves to prev as the viewer does: every copy reads
// the picture as it was before the frame's first copy.
func (e *Encoder) applyMoves() {
	stride := e.w * 4
	m := &e.moveScan
	if !movesInterfere(e.moves) {
		// Each copy on its own, rows in the order that never reads a
		// row it already wrote.
		for _, c := range e.moves {
			n := int(c.W) * 4
			row := func(i int) {
				copy(e.prev[(int(c.DY)+i)*stride+int(c.DX)*4:][:n], e.prev[(int(c.SY)+i)*stride+int(c.SX)*4:][:n])
			}
			if c.DY > c.SY {
				for i := int(c.H) - 1; i >= 0; i-- {
					row(i)
				}
			} else {
				for i := range int(c.H) {
					row(i)
				}
			}
		}
		return
	}
	m.src = m.src[:0]
	for _, c := range e.moves {
		for i := range int(c.H) {
			m.src = append(m.src, e.prev[(int(c.SY)+i)*stride+int(c.SX)*4:][:int(c.W)*4]...)
		}
	}
	off := 0
	for _, c := range e.moves {
		n := int(c.W) * 4
		for i := range int(c.H) {
			copy(e.prev[(int(c.DY)+i)*stride+int(c.DX)*4:][:n], m.src[off:off+n])
			off += n
		}
	}
}

// movesInterfere reports whether a copy reads what another one writes.
func movesInterfere(cs []screen.Copy) bool {
	for i, a := range cs {
		src := image.Rect(int(a.SX), int(a.SY), int(a.SX)+int(a.W), int(a.SY)+int(a.H))
		for j, b := range cs {
			if i != j && src.Overlaps(image.Rect(int(b.DX), int(b.DY), int(b.DX)+int(b.W), int(b.DY)+int(b.H))) {
				return true
			}
		}
	}
	return false
}
