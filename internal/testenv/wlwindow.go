//go:build linux

package testenv

import (
	"fmt"
	"image/color"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/tetherdesk/tether/agent/wayland"
)

// WaylandWindow is a test client of a compositor: one full-screen window
// painted in a solid colour that records the pointer buttons and keys it
// receives ("button 272 1 at 10,20", "key 30 1": evdev codes, 1 pressed),
// and when the pointer and the keyboard come to it ("pointer enter",
// "focus").
type WaylandWindow struct {
	conn   *wayland.Conn
	colour color.RGBA
	Events Lines
	done   chan error

	shm, surface *wayland.Object
	buf          *wayland.Buffer
	px, py       float64 // pointer position on the window

	hasPointer, hasKeyboard bool

	mu         sync.Mutex
	keymaps    []string // as the compositor sent them
	configured bool
	w, h       int
}

// OpenWaylandWindow connects to the compositor socket and maps the window.
// It returns once the window's first frame is committed.
func OpenWaylandWindow(socket string, c color.RGBA) (*WaylandWindow, error) {
	conn, err := wayland.Dial(socket)
	if err != nil {
		return nil, err
	}
	w := &WaylandWindow{conn: conn, colour: c, done: make(chan error, 1)}
	if err := w.open(); err != nil {
		conn.Close()
		return nil, err
	}
	go func() {
		var err error
		for err == nil {
			err = conn.Dispatch()
		}
		w.done <- err
	}()
	return w, nil
}

func (w *WaylandWindow) open() error {
	reg, err := w.conn.GetRegistry()
	if err != nil {
		return err
	}
	comp, err := reg.BindFirst("wl_compositor", 4, 4, nil)
	if err != nil {
		return err
	}
	if w.shm, err = reg.BindFirst("wl_shm", 1, 1, func(uint16, *wayland.Msg) {}); err != nil {
		return err
	}
	var wm *wayland.Object
	wm, err = reg.BindFirst("xdg_wm_base", 1, 2, func(op uint16, m *wayland.Msg) {
		if op == 0 { // ping
			wm.Send(3, wayland.Uint(m.Uint())) //nolint:errcheck // pong
		}
	})
	if err != nil {
		return err
	}
	var seat *wayland.Object
	seat, err = reg.BindFirst("wl_seat", 1, 5, func(op uint16, m *wayland.Msg) {
		if op == 0 { // capabilities: again whenever a device comes or goes
			caps := m.Uint()
			if caps&1 != 0 && !w.hasPointer {
				w.hasPointer = true
				p := w.conn.NewObject("wl_pointer", seat.Version, w.pointerEvent)
				seat.Send(0, wayland.NewID(p)) //nolint:errcheck // get_pointer
			}
			if caps&2 != 0 && !w.hasKeyboard {
				w.hasKeyboard = true
				k := w.conn.NewObject("wl_keyboard", seat.Version, w.keyboardEvent)
				seat.Send(1, wayland.NewID(k)) //nolint:errcheck // get_keyboard
			}
		}
	})
	if err != nil {
		return err
	}
	w.surface = w.conn.NewObject("wl_surface", 4, nil)
	if err := comp.Send(0, wayland.NewID(w.surface)); err != nil {
		return err
	}
	var pw, ph int
	var xs *wayland.Object
	xs = w.conn.NewObject("xdg_surface", wm.Version, func(op uint16, m *wayland.Msg) {
		if op != 0 { // configure
			return
		}
		serial := m.Uint()
		xs.Send(4, wayland.Uint(serial)) //nolint:errcheck // ack_configure
		if err := w.paint(pw, ph); err != nil {
			w.Events.Write([]byte("error " + err.Error() + "\n"))
		}
	})
	if err := wm.Send(2, wayland.NewID(xs), wayland.Obj(w.surface)); err != nil { // get_xdg_surface
		return err
	}
	top := w.conn.NewObject("xdg_toplevel", wm.Version, func(op uint16, m *wayland.Msg) {
		if op == 0 { // configure
			pw, ph = int(m.Int()), int(m.Int())
			m.Array()
		}
	})
	if err := xs.Send(1, wayland.NewID(top)); err != nil { // get_toplevel
		return err
	}
	top.Send(2, wayland.String("tether test window")) //nolint:errcheck // set_title
	top.Send(3, wayland.String("tether-test"))        //nolint:errcheck // set_app_id
	top.Send(11, wayland.Obj(nil))                    //nolint:errcheck // set_fullscreen
	if err := w.surface.Send(6); err != nil {         // commit: ask for the first configure
		return err
	}
	for !w.isConfigured() {
		if err := w.conn.Dispatch(); err != nil {
			return err
		}
	}
	return w.conn.Roundtrip()
}

func (w *WaylandWindow) isConfigured() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.configured
}

// paint fills a buffer of the configured size (the compositor's choice, or
// 800×600 when it leaves it to us) and commits it.
func (w *WaylandWindow) paint(width, height int) error {
	if width <= 0 || height <= 0 {
		width, height = 800, 600
	}
	if w.buf == nil || w.buf.W != width || w.buf.H != height {
		if w.buf != nil {
			w.buf.Destroy()
		}
		b, err := wayland.NewBuffer(w.shm, width, height, width*4, wayland.FormatXRGB8888)
		if err != nil {
			return err
		}
		for i := 0; i < len(b.Mem); i += 4 {
			b.Mem[i], b.Mem[i+1], b.Mem[i+2], b.Mem[i+3] = w.colour.B, w.colour.G, w.colour.R, 0xff
		}
		w.buf = b
	}
	err := w.surface.Send(1, wayland.Obj(w.buf.Obj), wayland.Int(0), wayland.Int(0)) // attach
	if err == nil {
		err = w.surface.Send(9, wayland.Int(0), wayland.Int(0), wayland.Int(int32(width)), wayland.Int(int32(height))) // damage_buffer
	}
	if err == nil {
		err = w.surface.Send(6) // commit
	}
	w.mu.Lock()
	w.configured, w.w, w.h = true, width, height
	w.mu.Unlock()
	return err
}

// Keymaps are the keyboard descriptions the compositor sent, in order.
func (w *WaylandWindow) Keymaps() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.keymaps...)
}

// Size is the window's size in pixels.
func (w *WaylandWindow) Size() (int, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w, w.h
}

func (w *WaylandWindow) pointerEvent(op uint16, m *wayland.Msg) {
	switch op {
	case 0: // enter
		m.Uint()
		m.Uint()
		w.px, w.py = m.Fixed(), m.Fixed()
		fmt.Fprintf(&w.Events, "pointer enter\n")
	case 2: // motion
		m.Uint()
		w.px, w.py = m.Fixed(), m.Fixed()
	case 3: // button
		m.Uint()
		m.Uint()
		b, st := m.Uint(), m.Uint()
		fmt.Fprintf(&w.Events, "button %d %d at %d,%d\n", b, st, int(w.px), int(w.py))
	case 4: // axis
		m.Uint()
		axis, v := m.Uint(), m.Fixed()
		fmt.Fprintf(&w.Events, "axis %d %.0f\n", axis, v)
	}
}

func (w *WaylandWindow) keyboardEvent(op uint16, m *wayland.Msg) {
	switch op {
	case 0: // keymap: kept, for tests of what the keys mean
		m.Uint()
		fd := m.FD()
		size := int(m.Uint())
		if fd < 0 {
			return
		}
		defer unix.Close(fd)
		if size <= 0 || size > 1<<20 {
			return
		}
		if b, err := unix.Mmap(fd, 0, size, unix.PROT_READ, unix.MAP_PRIVATE); err == nil {
			w.mu.Lock()
			w.keymaps = append(w.keymaps, string(b))
			w.mu.Unlock()
			unix.Munmap(b)
		}
	case 1: // enter
		fmt.Fprintf(&w.Events, "focus\n")
	case 3: // key
		m.Uint()
		m.Uint()
		k, st := m.Uint(), m.Uint()
		fmt.Fprintf(&w.Events, "key %d %d\n", k, st)
	}
}

// Close disconnects the client, which unmaps the window.
func (w *WaylandWindow) Close() error {
	err := w.conn.Close()
	<-w.done
	return err
}

// Fill repaints the whole window in c.
func (w *WaylandWindow) Fill(c color.RGBA) error {
	w.mu.Lock()
	b := w.buf
	width, height := w.w, w.h
	w.mu.Unlock()
	for i := 0; i < len(b.Mem); i += 4 {
		b.Mem[i], b.Mem[i+1], b.Mem[i+2], b.Mem[i+3] = c.B, c.G, c.R, 0xff
	}
	err := w.surface.Send(1, wayland.Obj(b.Obj), wayland.Int(0), wayland.Int(0))
	if err == nil {
		err = w.surface.Send(9, wayland.Int(0), wayland.Int(0), wayland.Int(int32(width)), wayland.Int(int32(height)))
	}
	if err == nil {
		err = w.surface.Send(6)
	}
	return err
}
