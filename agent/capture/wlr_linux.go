package capture

import (
	"errors"
	"fmt"
	"image"
	"log/slog"
	"sync"
	"time"

	"github.com/tetherdesk/tether/agent/wayland"
	"github.com/tetherdesk/tether/shared/protocol"
)

// wlrSource captures a wlroots compositor (sway, Hyprland, river, ...)
// with its screencopy protocol (zwlr_screencopy_manager_v1): no portal, no
// PipeWire and no dialog, since the helper runs as the desktop's user.
//
// A request is always in flight: from the second frame on it waits for
// damage (copy_with_damage), so an idle screen costs nothing, and a
// changed one is copied as the compositor draws it, before the caller
// asks; the damage events tell what changed.
type wlrSource struct {
	log  *slog.Logger
	conn *wayland.Conn
	shm  *wayland.Object
	mgr  *wayland.Object

	changed chan struct{}
	loopErr chan error // the dispatch loop's end

	mu     sync.Mutex
	cond   *sync.Cond
	mons   []*wlrMon
	err    error // the connection's end
	closed bool
}

// wlrMon is one output: two shared buffers, the compositor copying into
// one while the caller reads the other.
type wlrMon struct {
	out  *wayland.Output
	rect image.Rectangle // logical origin, pixel size

	bufs     [2]*wayland.Buffer
	latest   int // index of the last ready buffer, -1 before the first
	yInvert  [2]bool
	inflight bool
	err      error

	// pending damage since the last capture, in monitor pixels; told is
	// what Damaged reported of it (see monDamage).
	dmg monDamage
	img *image.RGBA
}

// target is the buffer the compositor copies the next frame into: the
// one the caller is not reading.
func (m *wlrMon) target() int {
	if m.latest == 0 {
		return 1
	}
	return 0
}

// wlrFirstFrame bounds the wait for an output's first frame.
const wlrFirstFrame = 3 * time.Second

func newWLR() (*wlrSource, error) {
	conn, err := wayland.DialEnv()
	if err != nil {
		return nil, fmt.Errorf("capture: %v: %w", err, ErrNoDisplay)
	}
	s, err := startWLR(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

func startWLR(conn *wayland.Conn) (*wlrSource, error) {
	reg, err := conn.GetRegistry()
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	s := &wlrSource{
		log:     slog.Default().With("component", "capture", "method", MethodWLR),
		conn:    conn,
		changed: make(chan struct{}, 1),
		loopErr: make(chan error, 1),
	}
	s.cond = sync.NewCond(&s.mu)
	if s.mgr, err = reg.BindFirst("zwlr_screencopy_manager_v1", 1, 3, nil); err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	if s.shm, err = reg.BindFirst("wl_shm", 1, 1, func(uint16, *wayland.Msg) {}); err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	outs, err := wayland.Outputs(reg)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	for _, o := range outs {
		s.mons = append(s.mons, &wlrMon{out: o, latest: -1,
			rect: image.Rect(int(o.X), int(o.Y), int(o.X)+o.W, int(o.Y)+o.H)})
	}
	go s.loop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.mons {
		s.request(m)
	}
	return s, nil
}

// loop dispatches the compositor's events until the connection ends.
func (s *wlrSource) loop() {
	var err error
	for err == nil {
		err = s.conn.Dispatch()
	}
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	s.notify()
	s.loopErr <- err
}

func (s *wlrSource) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// request asks for m's next frame. Called with s.mu held.
func (s *wlrSource) request(m *wlrMon) {
	if m.inflight || s.err != nil || s.closed {
		return
	}
	m.inflight = true
	var format, fw, fh, stride uint32
	haveFormat := false
	var frame *wayland.Object
	copyInto := func() {
		i := m.target()
		b := m.bufs[i]
		if b == nil || b.W != int(fw) || b.H != int(fh) || b.Stride != int(stride) || b.Format != format {
			if b != nil {
				b.Destroy()
			}
			nb, err := wayland.NewBuffer(s.shm, int(fw), int(fh), int(stride), format)
			if err != nil {
				s.frameFailed(m, frame, err)
				return
			}
			m.bufs[i] = nb
		}
		op := uint16(0) // copy
		if m.latest >= 0 && frame.Version >= 2 {
			op = 2 // copy_with_damage: waits for a change
		}
		frame.Send(op, wayland.Obj(m.bufs[i].Obj)) //nolint:errcheck // a dead connection ends the loop
	}
	var damage []image.Rectangle
	frame = s.conn.NewObject("zwlr_screencopy_frame_v1", s.mgr.Version, func(op uint16, msg *wayland.Msg) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch op {
		case 0: // buffer: an shm format the compositor can copy into
			f, w, h, st := msg.Uint(), msg.Uint(), msg.Uint(), msg.Uint()
			if (f == wayland.FormatXRGB8888 || f == wayland.FormatARGB8888) && !haveFormat {
				format, fw, fh, stride, haveFormat = f, w, h, st, true
			}
			if frame.Version < 3 { // no buffer_done: the one buffer event is all
				s.startCopy(m, frame, haveFormat, copyInto)
			}
		case 6: // buffer_done
			s.startCopy(m, frame, haveFormat, copyInto)
		case 1: // flags
			m.yInvert[m.target()] = msg.Uint()&1 != 0
		case 4: // damage
			x, y, w, h := int(msg.Uint()), int(msg.Uint()), int(msg.Uint()), int(msg.Uint())
			damage = append(damage, image.Rect(x, y, x+w, y+h))
		case 2: // ready
			first := m.latest < 0
			m.latest = m.target()
			m.inflight = false
			b := m.bufs[m.latest]
			bounds := image.Rect(0, 0, b.W, b.H)
			if m.yInvert[m.latest] {
				for i, r := range damage {
					damage[i] = image.Rect(r.Min.X, b.H-r.Max.Y, r.Max.X, b.H-r.Min.Y)
				}
			}
			// The first frame, and any without damage events (a plain
			// copy, version 1), may differ anywhere.
			if first || frame.Version < 2 {
				m.dmg.all = true
			}
			for _, r := range damage {
				if r = r.Intersect(bounds); !r.Empty() {
					m.dmg.rects = append(m.dmg.rects, r)
				}
			}
			frame.Send(1) //nolint:errcheck // destroy
			s.cond.Broadcast()
			s.request(m)
			s.notify()
		case 3: // failed
			s.frameFailed(m, frame, errors.New("the compositor could not copy the output"))
		}
	})
	// overlay_cursor: the end user's pointer is part of what they see.
	if err := s.mgr.Send(0, wayland.NewID(frame), wayland.Int(1), wayland.Obj(m.out.Obj)); err != nil {
		m.inflight = false
		m.err = err
	}
}

// startCopy answers the frame's buffer description. Called with s.mu held.
func (s *wlrSource) startCopy(m *wlrMon, frame *wayland.Object, haveFormat bool, copyInto func()) {
	if !haveFormat {
		s.frameFailed(m, frame, errors.New("the compositor offers no 32-bit shared-memory format"))
		return
	}
	copyInto()
}

func (s *wlrSource) frameFailed(m *wlrMon, frame *wayland.Object, err error) {
	m.inflight = false
	m.err = fmt.Errorf("capture: output %q: %w", m.out.Name, err)
	frame.Send(1) //nolint:errcheck // destroy
	s.cond.Broadcast()
	s.notify()
}

func (s *wlrSource) Monitors() ([]protocol.Monitor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	rs := make([]image.Rectangle, len(s.mons))
	for i, m := range s.mons {
		rs[i] = m.rect
	}
	return monitorsFromRects(rs, image.Point{}), nil
}

func (s *wlrSource) Damaged(monitor int) ([]image.Rectangle, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if monitor < 0 || monitor >= len(s.mons) {
		return nil, true
	}
	m := s.mons[monitor]
	whole := []image.Rectangle{image.Rect(0, 0, m.rect.Dx(), m.rect.Dy())}
	if m.latest < 0 || m.img == nil || m.err != nil || s.err != nil {
		return whole, true
	}
	return m.dmg.tell(m.rect.Dx(), m.rect.Dy())
}

func (s *wlrSource) Capture(monitor int) (*image.RGBA, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if monitor < 0 || monitor >= len(s.mons) {
		return nil, fmt.Errorf("capture: monitor %d of %d: %w", monitor, len(s.mons), ErrNoMonitor)
	}
	m := s.mons[monitor]
	deadline := time.Now().Add(wlrFirstFrame)
	if m.latest < 0 && m.err == nil && s.err == nil {
		t := time.AfterFunc(wlrFirstFrame, func() { s.mu.Lock(); s.cond.Broadcast(); s.mu.Unlock() })
		for m.latest < 0 && m.err == nil && s.err == nil && time.Now().Before(deadline) {
			s.cond.Wait()
		}
		t.Stop()
	}
	if err := m.err; err != nil {
		m.err = nil
		s.request(m) // try again next time
		return nil, err
	}
	if s.err != nil {
		return nil, fmt.Errorf("capture: the compositor connection ended: %w", s.err)
	}
	if m.latest < 0 {
		return nil, fmt.Errorf("capture: output %q sent no frame in %v", m.out.Name, wlrFirstFrame)
	}
	b := m.bufs[m.latest]
	fresh := m.img == nil || m.img.Rect.Dx() != b.W || m.img.Rect.Dy() != b.H
	if fresh {
		m.img = image.NewRGBA(image.Rect(0, 0, b.W, b.H))
	}
	parts := m.dmg.rects
	if fresh || m.dmg.all {
		parts = []image.Rectangle{m.img.Rect}
	}
	inv := m.yInvert[m.latest]
	for _, r := range parts {
		r = r.Intersect(m.img.Rect)
		for y := r.Min.Y; y < r.Max.Y; y++ {
			sy := y
			if inv {
				sy = b.H - 1 - y
			}
			src := b.Mem[sy*b.Stride+r.Min.X*4 : sy*b.Stride+r.Max.X*4]
			dst := m.img.Pix[y*m.img.Stride+r.Min.X*4 : y*m.img.Stride+r.Max.X*4]
			bgrxToRGBA(dst, src)
		}
	}
	m.dmg = *m.dmg.afterCapture()
	return m.img, nil
}

func (s *wlrSource) Changed() <-chan struct{} { return s.changed }

func (s *wlrSource) Method() Method { return MethodWLR }

func (s *wlrSource) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	err := s.conn.Close()
	<-s.loopErr
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.mons {
		for _, b := range m.bufs {
			if b != nil {
				b.Destroy()
			}
		}
	}
	return err
}
