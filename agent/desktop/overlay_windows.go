package desktop

import (
	"errors"
	"fmt"
	"image"
	"sync"
	"time"
	"unsafe"

	"github.com/lxn/win"
	"golang.org/x/sys/windows"

	"github.com/tetherdesk/tether/agent/internal/winui"
	"github.com/tetherdesk/tether/shared/protocol"
)

// overlayKeyRGB is the colour the overlay windows are filled with and
// that the colour key makes see-through; anything but OverlayRGB.
const overlayKeyRGB = 0xff00ff

// winOverlay draws the Guidance pointer and marks in two layered windows
// on a thread of their own: a small one holding the ring, moved with the
// pointer, and one covering the marks' monitor. Both are topmost,
// never activated, and WS_EX_LAYERED|WS_EX_TRANSPARENT, so every click
// goes through to the window below; a colour key makes everything but
// the ring and the strokes see-through. The overlay never injects
// anything.
type winOverlay struct {
	t          *winui.Thread
	brush      win.HBRUSH // OverlayRGB
	pen        win.HPEN   // OverlayRGB, markPen wide
	ringRects  []win.RECT
	ptr, marks win.HWND

	mu     sync.Mutex
	closed bool

	// Touched on the window thread only.
	markMon protocol.Monitor
	strokes []winStroke
	timer   *time.Timer
	shut    bool // Close has begun: nothing more is drawn or scheduled
}

// winStroke is one mark in the marks window's client coordinates.
type winStroke struct {
	pts   []win.POINT
	until time.Time
}

// overlayKeyBrush is the overlay class's background: erasing a window
// (when it is shown) fills it with the key, so it never flashes opaque.
// A class keeps its brush for the life of the process, hence one brush.
var overlayKeyBrush = sync.OnceValue(func() win.HBRUSH { return winui.SolidBrush(overlayKeyRGB) })

func newWinOverlay() (*winOverlay, error) {
	o := &winOverlay{ringRects: ringRows(ringOuter, ringInner)}
	o.brush = winui.SolidBrush(OverlayRGB)
	o.pen = winui.SolidPen(OverlayRGB, markPen)
	if o.brush == 0 || o.pen == 0 || overlayKeyBrush() == 0 {
		o.freeGDI()
		return nil, errors.New("guidance overlay: creating its brushes and pen failed")
	}
	t, err := winui.Start()
	if err != nil {
		o.freeGDI()
		return nil, fmt.Errorf("guidance overlay: %w", err)
	}
	o.t = t
	var cerr error
	if err := t.Do(func() { cerr = o.create() }); err != nil {
		cerr = err
	}
	if cerr != nil {
		t.Close()
		o.freeGDI()
		return nil, fmt.Errorf("guidance overlay: %w", cerr)
	}
	return o, nil
}

// create makes both windows, hidden; it runs on the thread.
func (o *winOverlay) create() error {
	mk := func(w, h int32) (win.HWND, error) {
		hw, err := o.t.Create(winui.WindowConfig{
			Class: "TetherOverlay", Title: "Tether guidance",
			Style:   win.WS_POPUP,
			ExStyle: win.WS_EX_LAYERED | win.WS_EX_TRANSPARENT | win.WS_EX_TOPMOST | win.WS_EX_TOOLWINDOW | win.WS_EX_NOACTIVATE,
			W:       w, H: h,
			Background: overlayKeyBrush(),
			Proc:       o.proc,
		})
		if err != nil {
			return 0, err
		}
		if err := winui.SetColorKey(hw, overlayKeyRGB); err != nil {
			o.t.Destroy(hw)
			return 0, err
		}
		return hw, nil
	}
	var err error
	if o.ptr, err = mk(2*ringOuter, 2*ringOuter); err != nil {
		return fmt.Errorf("the pointer window: %w", err)
	}
	// Sized to its monitor by the first Mark.
	if o.marks, err = mk(1, 1); err != nil {
		o.t.Destroy(o.ptr)
		return fmt.Errorf("the marks window: %w", err)
	}
	return nil
}

func (o *winOverlay) freeGDI() {
	if o.brush != 0 {
		win.DeleteObject(win.HGDIOBJ(o.brush))
	}
	if o.pen != 0 {
		win.DeleteObject(win.HGDIOBJ(o.pen))
	}
}

func (o *winOverlay) proc(h win.HWND, msg uint32, wp, lp uintptr) (uintptr, bool) {
	switch msg {
	case win.WM_PAINT:
		o.paint(h)
		return 0, true
	case win.WM_MOUSEACTIVATE:
		// WS_EX_TRANSPARENT keeps the mouse away already; this is in case
		// something still asks: the user's focus stays where it is.
		const maNoActivate = 3
		return maNoActivate, true
	}
	return 0, false
}

// paint draws a window into a memory bitmap first and copies it in one
// go, so the see-through key and the strokes never show half drawn.
func (o *winOverlay) paint(h win.HWND) {
	var ps win.PAINTSTRUCT
	dc := win.BeginPaint(h, &ps)
	if dc == 0 {
		return
	}
	defer win.EndPaint(h, &ps)
	var rc win.RECT
	win.GetClientRect(h, &rc)
	draw := dc
	mem := win.CreateCompatibleDC(dc)
	bmp := win.CreateCompatibleBitmap(dc, rc.Right, rc.Bottom)
	if mem != 0 && bmp != 0 {
		old := win.SelectObject(mem, win.HGDIOBJ(bmp))
		defer func() {
			win.SelectObject(mem, old)
			win.DeleteObject(win.HGDIOBJ(bmp))
			win.DeleteDC(mem)
		}()
		draw = mem
	} else {
		// Out of GDI memory: draw straight into the window rather than
		// not at all.
		if bmp != 0 {
			win.DeleteObject(win.HGDIOBJ(bmp))
		}
		if mem != 0 {
			win.DeleteDC(mem)
		}
	}
	winui.FillRect(draw, &rc, overlayKeyBrush())
	if h == o.ptr {
		for i := range o.ringRects {
			winui.FillRect(draw, &o.ringRects[i], o.brush)
		}
	} else {
		o.drawStrokes(draw)
	}
	if draw != dc {
		r := ps.RcPaint
		win.BitBlt(dc, r.Left, r.Top, r.Right-r.Left, r.Bottom-r.Top, draw, r.Left, r.Top, win.SRCCOPY)
	}
}

func (o *winOverlay) drawStrokes(dc win.HDC) {
	oldPen := win.SelectObject(dc, win.HGDIOBJ(o.pen))
	oldBrush := win.SelectObject(dc, win.GetStockObject(win.NULL_BRUSH))
	for _, s := range o.strokes {
		if len(s.pts) == 1 {
			// A polyline of one point draws nothing: a dot of the pen's size.
			p := s.pts[0]
			winui.FillRect(dc, &win.RECT{Left: p.X - markPen/2, Top: p.Y - markPen/2, Right: p.X + markPen/2, Bottom: p.Y + markPen/2}, o.brush)
			continue
		}
		win.Polyline(dc, unsafe.Pointer(&s.pts[0]), int32(len(s.pts)))
	}
	win.SelectObject(dc, oldBrush)
	win.SelectObject(dc, oldPen)
}

// ringRows is the ring's rows as Win32 rectangles.
func ringRows(outer, inner int) []win.RECT {
	var out []win.RECT
	for _, r := range ringSpans(outer, inner) {
		out = append(out, win.RECT{Left: int32(r.Min.X), Top: int32(r.Min.Y), Right: int32(r.Max.X), Bottom: int32(r.Max.Y)})
	}
	return out
}

// do runs f on the window thread, unless the overlay is closed (then
// nothing happens and the answer is nil, as after Close).
func (o *winOverlay) do(what string, f func() error) error {
	o.mu.Lock()
	closed := o.closed
	o.mu.Unlock()
	if closed {
		return nil
	}
	var ferr error
	err := o.t.Do(func() {
		switch {
		case o.shut:
		case winui.DialogShown():
			// A question is on the screen (the mode change the
			// technician asks for, say): nothing is drawn over it.
			win.ShowWindow(o.ptr, win.SW_HIDE)
			win.ShowWindow(o.marks, win.SW_HIDE)
		default:
			ferr = f()
		}
	})
	if errors.Is(err, winui.ErrClosed) {
		return nil // Close won the race
	}
	if err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("guidance overlay: %s: %w", what, err)
	}
	return nil
}

// setPos is SetWindowPos that never activates, with its error.
func setPos(h, after win.HWND, x, y, w, hgt int32, flags uint32) error {
	if !win.SetWindowPos(h, after, x, y, w, hgt, flags|win.SWP_NOACTIVATE) {
		return fmt.Errorf("SetWindowPos: %w", windows.GetLastError())
	}
	return nil
}

// Pointer implements session.Overlay.
func (o *winOverlay) Pointer(mon protocol.Monitor, x, y int, show bool) error {
	return o.do("moving the pointer", func() error {
		if !show {
			win.ShowWindow(o.ptr, win.SW_HIDE)
			return nil
		}
		// Re-asserted topmost each time: another topmost window may have
		// come up over it since.
		return setPos(o.ptr, win.HWND_TOPMOST, int32(mon.X+x-ringOuter), int32(mon.Y+y-ringOuter), 0, 0, win.SWP_NOSIZE|win.SWP_SHOWWINDOW)
	})
}

// Mark implements session.Overlay: a stroke through pts, shown for
// markLife. Marks on another monitor replace those shown.
func (o *winOverlay) Mark(mon protocol.Monitor, pts []image.Point) error {
	if len(pts) == 0 {
		return nil
	}
	return o.do("drawing a mark", func() error {
		if o.markMon != mon {
			o.strokes = nil
			if err := setPos(o.marks, win.HWND_TOPMOST, int32(mon.X), int32(mon.Y), int32(mon.W), int32(mon.H), 0); err != nil {
				return err
			}
			o.markMon = mon
		}
		s := winStroke{pts: make([]win.POINT, len(pts)), until: time.Now().Add(markLife)}
		for i, p := range pts {
			s.pts[i] = win.POINT{X: int32(p.X), Y: int32(p.Y)}
		}
		o.strokes = append(o.strokes, s)
		if len(o.strokes) > maxMarks {
			o.strokes = o.strokes[len(o.strokes)-maxMarks:]
		}
		if o.timer == nil {
			o.timer = time.AfterFunc(markLife, o.expire)
		}
		win.InvalidateRect(o.marks, nil, false)
		if err := setPos(o.marks, win.HWND_TOPMOST, 0, 0, 0, 0, win.SWP_NOMOVE|win.SWP_NOSIZE|win.SWP_SHOWWINDOW); err != nil {
			return err
		}
		// The ring stays above the marks (and hidden if it was).
		if err := setPos(o.ptr, win.HWND_TOPMOST, 0, 0, 0, 0, win.SWP_NOMOVE|win.SWP_NOSIZE); err != nil {
			return err
		}
		win.UpdateWindow(o.marks) // drawn before Mark returns
		return nil
	})
}

// expire removes faded marks and comes back for the rest; with none left
// the marks window hides, so no screen-sized layered window lingers.
func (o *winOverlay) expire() {
	_ = o.t.Do(func() {
		o.timer = nil
		if o.shut {
			return
		}
		now := time.Now()
		keep := o.strokes[:0]
		for _, s := range o.strokes {
			if s.until.After(now) {
				keep = append(keep, s)
			}
		}
		clear(o.strokes[len(keep):])
		o.strokes = keep
		if len(keep) > 0 {
			o.timer = time.AfterFunc(time.Until(keep[0].until), o.expire)
			win.InvalidateRect(o.marks, nil, false)
			return
		}
		win.ShowWindow(o.marks, win.SW_HIDE)
	}) // ErrClosed: the windows are gone already
}

// Close implements session.Overlay.
func (o *winOverlay) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	o.mu.Unlock()
	_ = o.t.Do(func() {
		o.shut = true
		if o.timer != nil {
			o.timer.Stop()
			o.timer = nil
		}
	})
	o.t.Close() // destroys both windows
	o.freeGDI()
	return nil
}
