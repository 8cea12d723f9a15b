package encode

import (
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

// mover is findMoves' scratch, kept between frames.
type mover struct {
	seed   maphash.Seed
	cur    []uint64 // row hashes of the new frame, by row
	old    []uint64 // row hashes of prev, by row
	where  map[uint64]int32
	votes  map[int]int
	open   []int // moves of the previous column, indexes into e.moves
	opened []int
}

// findMoves fills e.moves, applies them to prev and recomputes e.dirty
// for the tiles they wrote.
func (e *Encoder) findMoves(img *image.RGBA) {
	m := &e.moveScan
	if m.where == nil {
		m.seed = maphash.MakeSeed()
		m.where = map[uint64]int32{}
		m.votes = map[int]int{}
	}
	if len(m.cur) < e.h {
		m.cur, m.old = make([]uint64, e.h), make([]uint64, e.h)
	}
	ts := e.cfg.TileSize
	m.open = m.open[:0]
	guess := 0 // the shift found in the previous column
	for tx := 0; tx < e.cols; tx++ {
		first, last := -1, -1
		for ty := 0; ty < e.rows; ty++ {
			if e.dirty[ty*e.cols+tx] {
				if first < 0 {
					first = ty
				}
				last = ty
			}
		}
		if first < 0 || last == first {
			m.open = m.open[:0]
			continue
		}
		x0, x1 := tx*ts, min((tx+1)*ts, e.w)
		y0, y1 := first*ts, min((last+1)*ts, e.h)
		o0, o1 := max(0, y0-maxShift), min(e.h, y1+maxShift)
		for y := y0; y < y1; y++ {
			m.cur[y] = maphash.Bytes(m.seed, img.Pix[img.PixOffset(img.Rect.Min.X+x0, img.Rect.Min.Y+y):][:(x1-x0)*4])
		}
		for y := o0; y < o1; y++ {
			m.old[y] = maphash.Bytes(m.seed, e.prev[y*e.w*4+x0*4:][:(x1-x0)*4])
		}
		dy := guess
		if dy == 0 || m.matches(dy, y0, y1, o0, o1) < (y1-y0)/2 {
			dy = m.vote(y0, y1, o0, o1)
		}
		guess = dy
		m.opened = m.opened[:0]
		if dy != 0 {
			e.addRuns(x0, x1, y0, y1, o0, o1, dy)
		}
		m.open, m.opened = m.opened, m.open
	}
	for _, mv := range e.moves {
		e.applyMove(mv)
	}
	for _, mv := range e.moves {
		r := image.Rect(int(mv.DX), int(mv.DY), int(mv.DX)+int(mv.W), int(mv.DY)+int(mv.H))
		for ty := r.Min.Y / ts; ty <= (r.Max.Y-1)/ts; ty++ {
			for tx := r.Min.X / ts; tx <= (r.Max.X-1)/ts; tx++ {
				e.dirty[ty*e.cols+tx] = !e.tileEqual(img, tx, ty)
			}
		}
	}
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

// addRuns appends the moves for the runs of rows of column x0..x1 that
// match prev shifted by dy, extending a move of the previous column that
// has the same rows.
func (e *Encoder) addRuns(x0, x1, y0, y1, o0, o1, dy int) {
	m := &e.moveScan
	lo, hi := max(y0, o0+dy), min(y1, o1+dy)
	for y := lo; y < hi; {
		if m.cur[y] != m.old[y-dy] {
			y++
			continue
		}
		a, useful := y, false
		for y < hi && m.cur[y] == m.old[y-dy] {
			useful = useful || m.cur[y] != m.old[y]
			y++
		}
		if y-a < minMoveRows || !useful {
			continue
		}
		c := screen.Copy{SX: uint16(x0), SY: uint16(a - dy), W: uint16(x1 - x0), H: uint16(y - a), DX: uint16(x0), DY: uint16(a)}
		joined := false
		for _, i := range m.open {
			p := &e.moves[i]
			if p.SY == c.SY && p.DY == c.DY && p.H == c.H && int(p.DX)+int(p.W) == x0 {
				p.W += c.W
				m.opened = append(m.opened, i)
				joined = true
				break
			}
		}
		if !joined {
			e.moves = append(e.moves, c)
			m.opened = append(m.opened, len(e.moves)-1)
		}
	}
}

// applyMove copies a rectangle of prev as the viewer does: as if through
// a temporary copy.
func (e *Encoder) applyMove(c screen.Copy) {
	stride := e.w * 4
	x0, n := int(c.SX)*4, int(c.W)*4
	dx0 := int(c.DX) * 4
	row := func(i int) {
		src := e.prev[(int(c.SY)+i)*stride+x0:][:n]
		dst := e.prev[(int(c.DY)+i)*stride+dx0:][:n]
		copy(dst, src)
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
