//go:build !s390x && !ppc64le

package capture

import (
	"image"
	"sync"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
)

// Window moves. A dragged window repaints everything it passes over; the
// encoder can send it as one copy if it knows where the window went. The X
// server tells: with SubstructureNotify on the root, every top-level
// window's geometry changes arrive as ConfigureNotify events. (Window
// managers reparent clients into frames; the frames are the root's
// children, so this follows them.)

// windows tracks the top-level windows of one connection and the moves
// not yet collected.
type windows struct {
	mu     sync.Mutex
	rects  map[xproto.Window]image.Rectangle // root coordinates, border included
	mapped map[xproto.Window]bool
	moves  map[xproto.Window]*Move // since the last collect: first From, last To
}

func newWindows() *windows {
	return &windows{rects: map[xproto.Window]image.Rectangle{}, mapped: map[xproto.Window]bool{}, moves: map[xproto.Window]*Move{}}
}

// watchWindows asks for the root's substructure events and reads the
// current top-level windows. Failing that, moves are simply not reported.
func (w *windows) watchWindows(c *xgb.Conn, root xproto.Window) error {
	if err := xproto.ChangeWindowAttributesChecked(c, root, xproto.CwEventMask, []uint32{xproto.EventMaskSubstructureNotify}).Check(); err != nil {
		return err
	}
	tree, err := xproto.QueryTree(c, root).Reply()
	if err != nil {
		return err
	}
	// Ask for every window's geometry and state at once, then read.
	geos := make([]xproto.GetGeometryCookie, len(tree.Children))
	attrs := make([]xproto.GetWindowAttributesCookie, len(tree.Children))
	for i, ch := range tree.Children {
		geos[i] = xproto.GetGeometry(c, xproto.Drawable(ch))
		attrs[i] = xproto.GetWindowAttributes(c, ch)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	clear(w.rects)
	clear(w.mapped)
	clear(w.moves)
	for i, ch := range tree.Children {
		g, gerr := geos[i].Reply()
		a, aerr := attrs[i].Reply()
		if gerr != nil || aerr != nil {
			continue // gone meanwhile
		}
		w.rects[ch] = winRect(g.X, g.Y, g.Width, g.Height, g.BorderWidth)
		w.mapped[ch] = a.MapState == xproto.MapStateViewable
	}
	return nil
}

func winRect(x, y int16, wd, ht, border uint16) image.Rectangle {
	return image.Rect(int(x), int(y), int(x)+int(wd)+2*int(border), int(y)+int(ht)+2*int(border))
}

// event updates the windows from one X event.
func (w *windows) event(ev xgb.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch e := ev.(type) {
	case xproto.ConfigureNotifyEvent:
		r := winRect(e.X, e.Y, e.Width, e.Height, e.BorderWidth)
		old, known := w.rects[e.Window]
		w.rects[e.Window] = r
		if !known || !w.mapped[e.Window] || old.Min == r.Min {
			return
		}
		if old.Size() != r.Size() {
			delete(w.moves, e.Window) // resized: nothing to copy
			return
		}
		if m := w.moves[e.Window]; m != nil {
			m.To = r.Min
		} else {
			w.moves[e.Window] = &Move{From: old, To: r.Min}
		}
	case xproto.CreateNotifyEvent:
		w.rects[e.Window] = winRect(e.X, e.Y, e.Width, e.Height, e.BorderWidth)
	case xproto.DestroyNotifyEvent:
		delete(w.rects, e.Window)
		delete(w.mapped, e.Window)
		delete(w.moves, e.Window)
	case xproto.MapNotifyEvent:
		w.mapped[e.Window] = true
	case xproto.UnmapNotifyEvent:
		w.mapped[e.Window] = false
		delete(w.moves, e.Window)
	}
}

// collect returns the moves that touch mon (root coordinates), relative to
// mon's origin, and forgets them.
func (w *windows) collect(mon image.Rectangle) []Move {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Move
	for win, m := range w.moves {
		to := image.Rectangle{Min: m.To, Max: m.To.Add(m.From.Size())}
		if !m.From.Overlaps(mon) && !to.Overlaps(mon) {
			continue
		}
		out = append(out, Move{From: m.From.Sub(mon.Min), To: m.To.Sub(mon.Min)})
		delete(w.moves, win)
	}
	return out
}
