//go:build cgo

package capture

/*
#cgo CFLAGS: -I/usr/include/pipewire-0.3 -I/usr/include/spa-0.2 -D_REENTRANT
#cgo LDFLAGS: -ldl -lpthread
#include <stdlib.h>
#include "pipewire_linux.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"log/slog"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tetherdesk/tether/agent/remotedesktop"
	"github.com/tetherdesk/tether/shared/protocol"
)

// rdSource captures the screen streams of a Wayland remote-desktop session
// (GNOME's screen-cast API, or the portal) from PipeWire. Each stream
// keeps the newest frame in C memory, updated where PipeWire's damage
// metadata says it changed; Capture converts what changed since the last
// one.
type rdSource struct {
	log     *slog.Logger
	sess    remotedesktop.Session
	release func()
	efd     int
	changed chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup

	mu     sync.Mutex
	frames *sync.Cond // broadcast on every eventfd wake
	mons   []*pwMon
	closed bool
}

type pwMon struct {
	st   *C.struct_tpw_stream
	rect image.Rectangle // layout origin, pixel size once known
	img  *image.RGBA
	dmg  monDamage
	seen bool // a frame arrived
}

// pwFirstFrame bounds the wait for a stream's first frame.
const pwFirstFrame = 5 * time.Second

func newRD(shared *remotedesktop.Shared) (Source, error) {
	if shared == nil {
		return nil, fmt.Errorf("capture: no remote-desktop session for this Wayland desktop")
	}
	sess, release, err := shared.Acquire()
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		release()
		return nil, fmt.Errorf("capture: eventfd: %w", err)
	}
	s := &rdSource{
		log:  slog.Default().With("component", "capture", "method", string(sess.Kind())),
		sess: sess, release: release, efd: efd,
		changed: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	s.frames = sync.NewCond(&s.mu)
	var cerr [256]C.char
	for _, st := range sess.Streams() {
		fd := C.int(-1)
		if pfd := sess.PipeWireFD(); pfd >= 0 {
			// PipeWire takes the descriptor it is given; each stream
			// gets its own copy.
			d, err := unix.FcntlInt(uintptr(pfd), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("capture: duplicating the PipeWire connection: %w", err)
			}
			fd = C.int(d)
		}
		p := C.tpw_open(fd, C.uint32_t(st.Node), C.int(efd), &cerr[0], C.int(len(cerr)))
		if p == nil {
			s.Close()
			return nil, fmt.Errorf("capture: PipeWire stream %d: %s", st.Node, C.GoString(&cerr[0]))
		}
		s.mons = append(s.mons, &pwMon{st: p, rect: image.Rect(st.X, st.Y, st.X+st.W, st.Y+st.H)})
	}
	s.wg.Go(s.wakeLoop)
	return s, nil
}

// wakeLoop turns the streams' eventfd writes into change notifications.
func (s *rdSource) wakeLoop() {
	buf := make([]byte, 8)
	fds := []unix.PollFd{{Fd: int32(s.efd), Events: unix.POLLIN}}
	for {
		select {
		case <-s.stop:
			return
		default:
		}
		n, err := unix.Poll(fds, 200)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		if n <= 0 {
			continue
		}
		unix.Read(s.efd, buf) //nolint:errcheck // only the wake-up matters
		s.mu.Lock()
		s.frames.Broadcast()
		s.mu.Unlock()
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}
}

// take moves the stream's damage into m (s.mu held) and returns the frame.
func (m *pwMon) take() C.struct_tpw_frame {
	var f C.struct_tpw_frame
	C.tpw_lock(m.st)
	C.tpw_take(m.st, &f)
	C.tpw_unlock(m.st)
	m.absorb(&f)
	return f
}

func (m *pwMon) absorb(f *C.struct_tpw_frame) {
	if f.pix == nil {
		return
	}
	if !m.seen || m.rect.Dx() != int(f.w) || m.rect.Dy() != int(f.h) {
		m.seen = true
		m.rect = image.Rect(m.rect.Min.X, m.rect.Min.Y, m.rect.Min.X+int(f.w), m.rect.Min.Y+int(f.h))
		m.dmg.all = true
	}
	if f.all != 0 {
		m.dmg.all = true
	}
	for i := 0; i < int(f.ndamage); i++ {
		d := f.damage[i]
		m.dmg.rects = append(m.dmg.rects, image.Rect(int(d.x), int(d.y), int(d.x+d.w), int(d.y+d.h)))
	}
}

func (s *rdSource) Monitors() ([]protocol.Monitor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if err := s.waitFirst(); err != nil {
		return nil, err
	}
	rs := make([]image.Rectangle, len(s.mons))
	for i, m := range s.mons {
		rs[i] = m.rect
	}
	ms := monitorsFromRects(rs, image.Point{})
	// Streams come primary first.
	for i := range ms {
		ms[i].Primary = i == 0
	}
	return ms, nil
}

// waitFirst waits until every stream has a frame (s.mu held).
func (s *rdSource) waitFirst() error {
	deadline := time.Now().Add(pwFirstFrame)
	t := time.AfterFunc(pwFirstFrame, func() { s.mu.Lock(); s.frames.Broadcast(); s.mu.Unlock() })
	defer t.Stop()
	for {
		missing := 0
		for _, m := range s.mons {
			f := m.take()
			if f.state != 0 {
				return fmt.Errorf("capture: %s", C.GoString(&f.err[0]))
			}
			if !m.seen {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
		select {
		case <-s.sess.Done():
			return errors.New("capture: the desktop ended the remote-desktop session")
		default:
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("capture: %d of %d screen streams sent no frame in %v", missing, len(s.mons), pwFirstFrame)
		}
		s.frames.Wait()
	}
}

func (s *rdSource) Damaged(monitor int) ([]image.Rectangle, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || monitor < 0 || monitor >= len(s.mons) {
		return nil, true
	}
	m := s.mons[monitor]
	f := m.take()
	whole := []image.Rectangle{image.Rect(0, 0, m.rect.Dx(), m.rect.Dy())}
	if f.state != 0 || !m.seen || m.img == nil {
		return whole, true
	}
	return m.dmg.tell(m.rect.Dx(), m.rect.Dy())
}

func (s *rdSource) Capture(monitor int) (*image.RGBA, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if monitor < 0 || monitor >= len(s.mons) {
		return nil, fmt.Errorf("capture: monitor %d of %d: %w", monitor, len(s.mons), ErrNoMonitor)
	}
	if err := s.waitFirst(); err != nil {
		return nil, err
	}
	m := s.mons[monitor]
	C.tpw_lock(m.st)
	defer C.tpw_unlock(m.st)
	var f C.struct_tpw_frame
	C.tpw_take(m.st, &f)
	m.absorb(&f)
	if f.pix == nil {
		return nil, fmt.Errorf("capture: monitor %d has no frame", monitor)
	}
	w, h, stride := int(f.w), int(f.h), int(f.stride)
	fresh := m.img == nil || m.img.Rect.Dx() != w || m.img.Rect.Dy() != h
	if fresh {
		m.img = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	parts := m.dmg.rects
	if fresh || m.dmg.all {
		parts = []image.Rectangle{m.img.Rect}
	}
	pix := unsafe.Slice((*byte)(unsafe.Pointer(f.pix)), stride*h)
	for _, r := range parts {
		r = r.Intersect(m.img.Rect)
		for y := r.Min.Y; y < r.Max.Y; y++ {
			src := pix[y*stride+r.Min.X*4 : y*stride+r.Max.X*4]
			dst := m.img.Pix[y*m.img.Stride+r.Min.X*4 : y*m.img.Stride+r.Max.X*4]
			switch f.format {
			case C.TPW_RGBX, C.TPW_RGBA:
				rgbxToRGBA(dst, src)
			default:
				bgrxToRGBA(dst, src)
			}
		}
	}
	m.dmg = *m.dmg.afterCapture()
	return m.img, nil
}

func (s *rdSource) Changed() <-chan struct{} { return s.changed }

func (s *rdSource) Method() Method { return Method(s.sess.Kind()) }

func (s *rdSource) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	mons := s.mons
	s.mons = nil
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	for _, m := range mons {
		C.tpw_close(m.st)
	}
	unix.Close(s.efd)
	s.release()
	return nil
}
