package desktop

import (
	"errors"
	"fmt"
	"image"
	"sync"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/shape"
	"github.com/jezek/xgb/xproto"

	"github.com/tetherdesk/tether/shared/protocol"

	"github.com/tetherdesk/tether/agent/session"
)

// x11Overlay draws the Guidance pointer and marks with override-redirect
// windows shaped (X SHAPE) to the ring and the strokes: on top, drawn in
// one colour by the X server itself, and with an empty input shape so
// every click goes through to the window below. The overlay never injects
// anything.
type x11Overlay struct {
	c      *xgb.Conn
	screen *xproto.ScreenInfo
	pixel  uint32

	mu      sync.Mutex
	ptr     xproto.Window
	marks   xproto.Window
	markMon protocol.Monitor
	strokes []stroke
	timer   *time.Timer
	closed  bool
}

type stroke struct {
	rects []xproto.Rectangle
	until time.Time
}

func NewOverlay() (session.Overlay, error) { return newX11Overlay() }

func newX11Overlay() (*x11Overlay, error) {
	c, err := xgb.NewConn()
	if err != nil {
		return nil, fmt.Errorf("connecting to the X display for the overlay: %w", err)
	}
	// Only the request opcode is needed: shape.Init would also rewrite
	// xgb's process-wide event tables, which other connections read.
	q, err := xproto.QueryExtension(c, uint16(len("SHAPE")), "SHAPE").Reply()
	if err != nil || !q.Present {
		c.Close()
		return nil, errors.New("the X server has no SHAPE extension")
	}
	c.ExtLock.Lock()
	c.Extensions["SHAPE"] = q.MajorOpcode
	c.ExtLock.Unlock()
	o := &x11Overlay{c: c, screen: xproto.Setup(c).DefaultScreen(c)}
	// Nothing is selected, but errors of unchecked requests queue as
	// events: drain them so the queue never fills and stalls replies.
	go func() {
		for {
			if ev, err := c.WaitForEvent(); ev == nil && err == nil {
				return
			}
		}
	}()
	o.pixel = o.rgbPixel(OverlayRGB)
	if o.ptr, err = o.window(0, 0, 2*ringOuter, 2*ringOuter); err == nil {
		err = o.shape(o.ptr, ring(ringOuter, ringInner))
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("overlay: %w", err)
	}
	return o, nil
}

// rgbPixel is the pixel value of rgb in the root visual (TrueColor).
func (o *x11Overlay) rgbPixel(rgb uint32) uint32 {
	for _, d := range o.screen.AllowedDepths {
		for _, v := range d.Visuals {
			if v.VisualId != o.screen.RootVisual {
				continue
			}
			ch := func(mask uint32, val uint32) uint32 {
				if mask == 0 {
					return 0
				}
				shift, bits := 0, 0
				for mask>>shift&1 == 0 {
					shift++
				}
				for mask>>(shift+bits)&1 == 1 {
					bits++
				}
				return (val >> (8 - min(bits, 8))) << shift & mask
			}
			return ch(v.RedMask, rgb>>16&0xff) | ch(v.GreenMask, rgb>>8&0xff) | ch(v.BlueMask, rgb&0xff)
		}
	}
	return rgb
}

// window makes an unmapped override-redirect window filled with the
// overlay colour and an empty input shape.
func (o *x11Overlay) window(x, y, w, h int) (xproto.Window, error) {
	win, err := xproto.NewWindowId(o.c)
	if err != nil {
		return 0, err
	}
	err = xproto.CreateWindowChecked(o.c, o.screen.RootDepth, win, o.screen.Root, int16(x), int16(y), uint16(max(w, 1)), uint16(max(h, 1)), 0,
		xproto.WindowClassInputOutput, o.screen.RootVisual, xproto.CwBackPixel|xproto.CwOverrideRedirect,
		[]uint32{o.pixel, 1}).Check()
	if err != nil {
		return 0, fmt.Errorf("creating a window: %w", err)
	}
	if err := shape.RectanglesChecked(o.c, shape.SoSet, shape.SkInput, xproto.ClipOrderingUnsorted, win, 0, 0, nil).Check(); err != nil {
		return 0, fmt.Errorf("making the window click-through: %w", err)
	}
	return win, nil
}

func (o *x11Overlay) shape(win xproto.Window, rects []xproto.Rectangle) error {
	return shape.RectanglesChecked(o.c, shape.SoSet, shape.SkBounding, xproto.ClipOrderingUnsorted, win, 0, 0, rects).Check()
}

// ring is the ring's rows as X rectangles, for the pointer.
func ring(outer, inner int) []xproto.Rectangle {
	var out []xproto.Rectangle
	for _, r := range ringSpans(outer, inner) {
		out = append(out, xproto.Rectangle{X: int16(r.Min.X), Y: int16(r.Min.Y), Width: uint16(r.Dx()), Height: uint16(r.Dy())})
	}
	return out
}

func (o *x11Overlay) raise(win xproto.Window) {
	xproto.ConfigureWindow(o.c, win, xproto.ConfigWindowStackMode, []uint32{xproto.StackModeAbove})
}

// Pointer implements session.Overlay.
func (o *x11Overlay) Pointer(mon protocol.Monitor, x, y int, show bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	if !show {
		return xproto.UnmapWindowChecked(o.c, o.ptr).Check()
	}
	xproto.ConfigureWindow(o.c, o.ptr, xproto.ConfigWindowX|xproto.ConfigWindowY|xproto.ConfigWindowStackMode,
		[]uint32{uint32(int32(mon.X + x - ringOuter)), uint32(int32(mon.Y + y - ringOuter)), xproto.StackModeAbove})
	return xproto.MapWindowChecked(o.c, o.ptr).Check()
}

// Mark implements session.Overlay: a stroke through pts, shown for markLife.
func (o *x11Overlay) Mark(mon protocol.Monitor, pts []image.Point) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	if o.marks == 0 || o.markMon != mon {
		if o.marks != 0 {
			xproto.DestroyWindow(o.c, o.marks)
			o.strokes = nil
		}
		win, err := o.window(mon.X, mon.Y, mon.W, mon.H)
		if err != nil {
			return err
		}
		if err := o.shape(win, nil); err != nil {
			return err
		}
		o.marks, o.markMon = win, mon
		if err := xproto.MapWindowChecked(o.c, win).Check(); err != nil {
			return err
		}
	}
	o.strokes = append(o.strokes, stroke{rects: penRects(pts, mon), until: time.Now().Add(markLife)})
	if len(o.strokes) > maxMarks {
		o.strokes = o.strokes[len(o.strokes)-maxMarks:]
	}
	if o.timer == nil {
		o.timer = time.AfterFunc(markLife, o.expire)
	}
	o.raise(o.marks)
	o.raise(o.ptr)
	return o.reshapeLocked()
}

func (o *x11Overlay) reshapeLocked() error {
	var rects []xproto.Rectangle
	for _, s := range o.strokes {
		rects = append(rects, s.rects...)
	}
	return o.shape(o.marks, rects)
}

// expire removes faded marks and comes back for the rest.
func (o *x11Overlay) expire() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.timer = nil
	if o.closed {
		return
	}
	now := time.Now()
	keep := o.strokes[:0]
	for _, s := range o.strokes {
		if s.until.After(now) {
			keep = append(keep, s)
		}
	}
	o.strokes = keep
	_ = o.reshapeLocked()
	if len(keep) > 0 {
		o.timer = time.AfterFunc(time.Until(keep[0].until), o.expire)
	}
}

// penRects is a stroke through pts as squares of the pen's size, one every
// pen/2 pixels along each segment.
func penRects(pts []image.Point, mon protocol.Monitor) []xproto.Rectangle {
	var out []xproto.Rectangle
	seen := map[image.Point]bool{}
	dot := func(p image.Point) {
		p = image.Pt(p.X/2*2, p.Y/2*2)
		if seen[p] {
			return
		}
		seen[p] = true
		x := max(0, min(p.X-markPen/2, mon.W-markPen))
		y := max(0, min(p.Y-markPen/2, mon.H-markPen))
		out = append(out, xproto.Rectangle{X: int16(x), Y: int16(y), Width: markPen, Height: markPen})
	}
	dot(pts[0])
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		d := max(abs(b.X-a.X), abs(b.Y-a.Y))
		steps := max(d/(markPen/2), 1)
		for s := 1; s <= steps; s++ {
			dot(image.Pt(a.X+(b.X-a.X)*s/steps, a.Y+(b.Y-a.Y)*s/steps))
		}
	}
	return out
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// Close implements session.Overlay.
func (o *x11Overlay) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	if o.timer != nil {
		o.timer.Stop()
	}
	o.mu.Unlock()
	o.c.Close() // the server destroys the windows with the connection
	return nil
}
