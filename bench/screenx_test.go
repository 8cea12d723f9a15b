//go:build linux

package bench

// The benchmark's own X clients on the endpoint display: the latency
// marker (a small window whose colours change at known moments) and the
// full-screen changing image. Each has its own connection, so a marker's
// round trip never waits behind an 8 MB image in the same request queue.

import (
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
)

// Marker geometry and colours. The marker is markerCells squares of
// markerCell pixels side by side, an override-redirect window at the top
// right of the screen: no workload draws there (the terminal's text ends
// well left of it, the dragged window's path stays left and below, and
// the full-screen image lies under it). The squares are aligned to 16
// pixels so that a JPEG encoder's 16x16 colour blocks hold one colour
// each; the viewer side samples each square's centre.
const (
	markerX, markerY = 1920 - 32 - markerCells*markerCell, 32
	markerCell       = 32
	markerCells      = 3
	// markerTolerance is how far (per channel, 0-255) a sampled pixel
	// may be from a palette colour and still count as it: lossy encoding
	// moves a flat colour by a few units; palette colours differ by 255
	// in at least one channel.
	markerTolerance = 80
)

// markerPalette: saturated colours, pairwise 255 apart in at least one
// channel. Black is left out: it is what a canvas shows before anything
// is drawn.
var markerPalette = [][3]byte{
	{255, 255, 255}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {0, 255, 255}, {255, 0, 255}, {255, 255, 0},
}

// markerCodes is how many distinct markers there are before a code comes
// back (7^3 = 343: more than any window paints).
var markerCodes = int(math.Pow(float64(len(markerPalette)), markerCells))

// markerColours returns the colours of marker seq's squares, left to
// right: seq written in base len(markerPalette).
func markerColours(seq int) [markerCells][3]byte {
	var out [markerCells][3]byte
	n := len(markerPalette)
	v := seq % markerCodes
	for i := range out {
		out[i] = markerPalette[v%n]
		v /= n
	}
	return out
}

// markerCode is seq's code as the page reports it (the same base-n
// number, squares left to right).
func markerCode(seq int) int { return seq % markerCodes }

// xClient is one connection to the display.
type xClient struct {
	conn   *xgb.Conn
	root   xproto.Window
	depth  byte
	visual xproto.Visualid
	maxReq int // bytes per request
	errs   atomic.Int64
	done   chan struct{}
}

func dialX(display string) (*xClient, error) {
	xgb.Logger.SetOutput(io.Discard) // "no .Xauthority" notes; Xvfb runs without access control
	c, err := xgb.NewConnDisplay(display)
	if err != nil {
		return nil, fmt.Errorf("connecting to X display %s: %w", display, err)
	}
	setup := xproto.Setup(c)
	scr := setup.DefaultScreen(c)
	if scr.RootDepth != 24 {
		c.Close()
		return nil, fmt.Errorf("X display %s: root depth %d, the benchmark paints 24-bit pixels", display, scr.RootDepth)
	}
	x := &xClient{conn: c, root: scr.Root, depth: scr.RootDepth, visual: scr.RootVisual,
		maxReq: int(setup.MaximumRequestLength) * 4, done: make(chan struct{})}
	// Errors of unchecked requests arrive as events; someone must read
	// them or the connection's queue fills up.
	go func() {
		defer close(x.done)
		for {
			ev, err := c.WaitForEvent()
			if ev == nil && err == nil {
				return
			}
			if err != nil {
				x.errs.Add(1)
			}
		}
	}()
	return x, nil
}

func (x *xClient) close() {
	x.conn.Close()
	<-x.done
}

// sync waits until the server has handled every request sent so far
// (XSync: a round trip).
func (x *xClient) sync() error {
	_, err := xproto.GetInputFocus(x.conn).Reply()
	return err
}

// window makes an override-redirect InputOutput window without a
// background (exposures leave its pixels alone) and a GC for it.
func (x *xClient) window(r image.Rectangle) (xproto.Window, xproto.Gcontext, error) {
	wid, err := xproto.NewWindowId(x.conn)
	if err != nil {
		return 0, 0, err
	}
	if err := xproto.CreateWindowChecked(x.conn, x.depth, wid, x.root, int16(r.Min.X), int16(r.Min.Y),
		uint16(r.Dx()), uint16(r.Dy()), 0, xproto.WindowClassInputOutput, x.visual,
		xproto.CwBackPixmap|xproto.CwOverrideRedirect, []uint32{xproto.BackPixmapNone, 1}).Check(); err != nil {
		return 0, 0, fmt.Errorf("creating a window: %w", err)
	}
	gc, err := xproto.NewGcontextId(x.conn)
	if err != nil {
		return 0, 0, err
	}
	if err := xproto.CreateGCChecked(x.conn, gc, xproto.Drawable(wid), 0, nil).Check(); err != nil {
		return 0, 0, fmt.Errorf("creating a GC: %w", err)
	}
	return wid, gc, nil
}

// putImage paints BGRX pixels (stride w*4) at (x0, y0) of d in strips
// that fit one request.
func (x *xClient) putImage(d xproto.Drawable, gc xproto.Gcontext, pix []byte, w, h, x0, y0 int) {
	row := w * 4
	rows := max(1, (x.maxReq-64)/row)
	for y := 0; y < h; y += rows {
		n := min(rows, h-y)
		xproto.PutImage(x.conn, xproto.ImageFormatZPixmap, d, gc, uint16(w), uint16(n), int16(x0), int16(y0+y), 0, x.depth, pix[y*row:(y+n)*row])
	}
}

// ---- the latency marker ----

// marker is the window whose colours the benchmark changes; paint
// records when each change reached the X server.
type marker struct {
	x   *xClient
	win xproto.Window
	gc  xproto.Gcontext
	pix []byte
	seq int // last painted
}

func newMarker(display string) (*marker, error) {
	x, err := dialX(display)
	if err != nil {
		return nil, err
	}
	r := image.Rect(markerX, markerY, markerX+markerCells*markerCell, markerY+markerCell)
	win, gc, err := x.window(r)
	if err != nil {
		x.close()
		return nil, err
	}
	m := &marker{x: x, win: win, gc: gc, pix: make([]byte, r.Dx()*r.Dy()*4)}
	xproto.MapWindow(x.conn, win)
	if _, err := m.paint(); err != nil {
		x.close()
		return nil, err
	}
	return m, nil
}

// paint shows the next marker and returns t0: the wall clock once the
// server has drawn it (the fill is one PutImage, so no capture sees half
// of it, then a round trip).
func (m *marker) paint() (markerPaint, error) {
	m.seq++
	cols := markerColours(m.seq)
	w := markerCells * markerCell
	for y := range markerCell {
		for x := range w {
			c := cols[x/markerCell]
			o := (y*w + x) * 4
			m.pix[o], m.pix[o+1], m.pix[o+2], m.pix[o+3] = c[2], c[1], c[0], 0 // BGRX
		}
	}
	m.x.putImage(xproto.Drawable(m.win), m.gc, m.pix, w, markerCell, 0, 0)
	if err := m.x.sync(); err != nil {
		return markerPaint{}, fmt.Errorf("marker: %w", err)
	}
	return markerPaint{Seq: m.seq, Code: markerCode(m.seq), T0: epochMS(time.Now())}, nil
}

// raise puts the marker above every other window (after a workload
// mapped one).
func (m *marker) raise() error {
	return xproto.ConfigureWindowChecked(m.x.conn, m.win, xproto.ConfigWindowStackMode, []uint32{xproto.StackModeAbove}).Check()
}

func (m *marker) close() { m.x.close() }

// markerPaint is one marker change: its number, the code the page will
// read for it, and t0 (epoch ms).
type markerPaint struct {
	Seq  int     `json:"seq"`
	Code int     `json:"code"`
	T0   float64 `json:"t0"`
}

// markerRun paints markers at random intervals in [minGap, maxGap) (so the
// changes never lock to a capture or frame period) until stop is closed.
type markerRun struct {
	mu     sync.Mutex
	paints []markerPaint
	err    error
	stop   chan struct{}
	done   chan struct{}
}

func (m *marker) start(minGap, maxGap time.Duration) *markerRun {
	r := &markerRun{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			gap := minGap + rand.N(maxGap-minGap)
			select {
			case <-r.stop:
				return
			case <-time.After(gap):
			}
			p, err := m.paint()
			r.mu.Lock()
			if err != nil {
				r.err = err
				r.mu.Unlock()
				return
			}
			r.paints = append(r.paints, p)
			r.mu.Unlock()
		}
	}()
	return r
}

// snapshot returns the paints so far.
func (r *markerRun) snapshot() ([]markerPaint, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]markerPaint(nil), r.paints...), r.err
}

func (r *markerRun) end() ([]markerPaint, error) {
	close(r.stop)
	<-r.done
	return r.snapshot()
}

// markerLatencies matches the page's detections (epoch ms, code; in time
// order, one per change of the sampled colours) with the paints: a paint
// is on the glass once the canvas shows it or any later marker (a viewer
// may skip straight to a newer picture). A detection stands for the latest
// paint with its code painted by then (slack covers the two clocks'
// rounding). It returns, per paint with t0 in [from, to], the latency in
// ms, or -1 when nothing that new was seen.
func markerLatencies(paints []markerPaint, marks [][2]float64, from, to float64) (lat []float64, inWindow []markerPaint) {
	const slack = 2 // ms
	resolved := make([]float64, len(paints))
	for i := range resolved {
		resolved[i] = -1
	}
	next := 0 // paints before next are resolved
	for _, mk := range marks {
		t, code := mk[0], int(mk[1])
		j := -1
		for k := len(paints) - 1; k >= next; k-- {
			if paints[k].Code == code && paints[k].T0 <= t+slack {
				j = k
				break
			}
		}
		for ; next <= j; next++ {
			resolved[next] = max(0, t-paints[next].T0)
		}
	}
	for i, p := range paints {
		if p.T0 >= from && p.T0 <= to {
			lat = append(lat, resolved[i])
			inWindow = append(inWindow, p)
		}
	}
	return lat, inWindow
}

// ---- the full-screen changing image ----

// imagePlayer paints a full-screen window with photo-like frames at a
// fixed rate: a zoom into a synthetic photograph, back and forth, so every
// pixel changes from one frame to the next and no frame is a shifted copy
// of another (a camera zooming, not a scroll).
type imagePlayer struct {
	x      *xClient
	win    xproto.Window
	gc     xproto.Gcontext
	w, h   int
	frames [][]byte // BGRX
	fps    int

	stop    chan struct{}
	done    chan struct{}
	painted atomic.Int64
	began   time.Time
	err     error
}

// imageFrames is how many distinct frames the zoom has; the player runs
// through them forwards and back.
const imageFrames = 8

func newImagePlayer(display string, w, h, fps int) (*imagePlayer, error) {
	x, err := dialX(display)
	if err != nil {
		return nil, err
	}
	win, gc, err := x.window(image.Rect(0, 0, w, h))
	if err != nil {
		x.close()
		return nil, err
	}
	p := &imagePlayer{x: x, win: win, gc: gc, w: w, h: h, fps: fps}
	p.frames = photoFrames(w, h, imageFrames)
	return p, nil
}

// photoFrames renders n frames of a zoom (1.0 to 1.15) into a synthetic
// photograph: smooth colour fields, value noise over several octaves and
// a little per-pixel grain, like a camera picture.
func photoFrames(w, h, n int) [][]byte {
	const over = 1.15
	bw, bh := int(float64(w)*over)+2, int(float64(h)*over)+2
	base := make([]float32, bw*bh*3)
	rng := rand.New(rand.NewPCG(4, 2))
	for ch := range 3 {
		for oct, cell := range []int{256, 96, 32, 9} {
			amp := []float32{90, 45, 22, 12}[oct]
			gw, gh := bw/cell+2, bh/cell+2
			grid := make([]float32, gw*gh)
			for i := range grid {
				grid[i] = rng.Float32()*2 - 1
			}
			for y := range bh {
				gy := float32(y) / float32(cell)
				y0 := int(gy)
				fy := gy - float32(y0)
				fy = fy * fy * (3 - 2*fy)
				for x := range bw {
					gx := float32(x) / float32(cell)
					x0 := int(gx)
					fx := gx - float32(x0)
					fx = fx * fx * (3 - 2*fx)
					a := grid[y0*gw+x0] + (grid[y0*gw+x0+1]-grid[y0*gw+x0])*fx
					b := grid[(y0+1)*gw+x0] + (grid[(y0+1)*gw+x0+1]-grid[(y0+1)*gw+x0])*fx
					base[(y*bw+x)*3+ch] += amp * (a + (b-a)*fy)
				}
			}
		}
	}
	for y := range bh {
		for x := range bw {
			o := (y*bw + x) * 3
			// A warm-to-cool gradient under the texture, and grain.
			base[o] += 128 + 40*float32(math.Sin(float64(x)/300))
			base[o+1] += 120 + 30*float32(math.Cos(float64(y)/200))
			base[o+2] += 110 + 40*float32(math.Sin(float64(x+y)/400))
			for c := range 3 {
				base[o+c] += rng.Float32()*12 - 6
			}
		}
	}
	clamp := func(v float32) byte { return byte(min(max(v, 0), 255)) }
	frames := make([][]byte, n)
	for i := range frames {
		z := 1 + (over-1)*float64(i)/float64(max(1, n-1))
		f := make([]byte, w*h*4)
		cx, cy := float64(bw)/2, float64(bh)/2
		for y := range h {
			sy := int(cy + (float64(y)-float64(h)/2)/z)
			for x := range w {
				sx := int(cx + (float64(x)-float64(w)/2)/z)
				s := (sy*bw + sx) * 3
				o := (y*w + x) * 4
				f[o], f[o+1], f[o+2] = clamp(base[s+2]), clamp(base[s+1]), clamp(base[s]) // BGRX
			}
		}
		frames[i] = f
	}
	return frames
}

// play maps the window and paints frames at p.fps until halt.
func (p *imagePlayer) play() {
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	p.painted.Store(0)
	p.err = nil
	p.began = time.Now()
	xproto.MapWindow(p.x.conn, p.win)
	go func() {
		defer close(p.done)
		tick := time.NewTicker(time.Second / time.Duration(p.fps))
		defer tick.Stop()
		order := pingPong(len(p.frames))
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			p.x.putImage(xproto.Drawable(p.win), p.gc, p.frames[order[i%len(order)]], p.w, p.h, 0, 0)
			// Wait until the server has it: a frame the server cannot
			// take in time is late, not queued behind others.
			if err := p.x.sync(); err != nil {
				p.err = err
				return
			}
			p.painted.Add(1)
		}
	}()
}

// halt stops painting and unmaps the window; it returns the frames painted
// and over how long.
func (p *imagePlayer) halt() (int, time.Duration, error) {
	close(p.stop)
	<-p.done
	d := time.Since(p.began)
	xproto.UnmapWindow(p.x.conn, p.win)
	err := p.err
	if err == nil {
		err = p.x.sync()
	}
	if n := p.x.errs.Load(); n > 0 && err == nil {
		err = fmt.Errorf("the X server reported %d errors to the image painter", n)
	}
	return int(p.painted.Load()), d, err
}

func (p *imagePlayer) close() { p.x.close() }

// pingPong is 0..n-1..1: a zoom in and out without a jump.
func pingPong(n int) []int {
	out := make([]int, 0, 2*n)
	for i := range n {
		out = append(out, i)
	}
	for i := n - 2; i > 0; i-- {
		out = append(out, i)
	}
	return out
}

// imageWorkload is the full-screen changing image.
type imageWorkload struct {
	display string
	fps     int
	p       *imagePlayer
}

func (w *imageWorkload) Name() string  { return "image" }
func (w *imageWorkload) Rate() float64 { return float64(w.fps) }

func (w *imageWorkload) Start() error {
	if w.p == nil {
		t := time.Now()
		p, err := newImagePlayer(w.display, screenW, screenH, w.fps)
		if err != nil {
			return err
		}
		w.p = p
		logf("screen: image: %d photo-like frames rendered in %.1f s", len(p.frames), time.Since(t).Seconds())
	}
	w.p.play()
	return nil
}

func (w *imageWorkload) Stop() (workloadStats, error) {
	if w.p == nil {
		return workloadStats{}, errors.New("image workload was not started")
	}
	n, d, err := w.p.halt()
	return workloadStats{Unit: "frames", Units: n, Seconds: d.Seconds()}, err
}

func (w *imageWorkload) close() {
	if w.p != nil {
		w.p.close()
	}
}

func epochMS(t time.Time) float64 { return float64(t.UnixNano()) / 1e6 }
