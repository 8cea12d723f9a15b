package input

import (
	"errors"
	"fmt"
	"image"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tetherdesk/tether/agent/wayland"
)

// wlr drives a wlroots compositor (sway, Hyprland, river, ...) through its
// virtual pointer (zwlr_virtual_pointer_manager_v1) and virtual keyboard
// (zwp_virtual_keyboard_manager_v1) protocols: the input side of
// capture's screencopy, with no portal (xdg-desktop-portal-wlr has no
// RemoteDesktop).
//
// Keys are evdev codes interpreted with a US keymap the driver uploads,
// so what a key means does not depend on the end user's layout: the
// viewer sends physical keys and text separately. Text the US keys cannot
// type goes on spare keys that a keymap of the moment gives its characters.
type wlr struct {
	conn    *wayland.Conn
	pointer *wayland.Object
	kbd     *wayland.Object
	outs    []*wayland.Output
	layout  image.Rectangle // union of the outputs, logical coordinates
	start   time.Time
	shift   bool // held by the viewer
	loopErr chan error
}

// keymapWith is the keyboard description the virtual keyboard uses (the
// compositor resolves the includes from its XKB data), with extra[i] on
// spare key i (F13 onwards).
func keymapWith(extra []rune) string {
	var sym strings.Builder
	for i, r := range extra {
		fmt.Fprintf(&sym, " key <FK%d> { [ U%04X ] };", 13+i, r)
	}
	return `xkb_keymap {
	xkb_keycodes { include "evdev+aliases(qwerty)" };
	xkb_types { include "complete" };
	xkb_compat { include "complete" };
	xkb_symbols { include "pc+us+inet(evdev)"` + sym.String() + ` };
};
`
}

func newWLR() (driver, error) {
	conn, err := wayland.DialEnv()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDisplay, err)
	}
	d, err := startWLR(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return d, nil
}

func startWLR(conn *wayland.Conn) (*wlr, error) {
	reg, err := conn.GetRegistry()
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	seat, err := reg.BindFirst("wl_seat", 1, 1, func(uint16, *wayland.Msg) {})
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	pm, err := reg.BindFirst("zwlr_virtual_pointer_manager_v1", 1, 1, nil)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	km, err := reg.BindFirst("zwp_virtual_keyboard_manager_v1", 1, 1, nil)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	outs, err := wayland.Outputs(reg)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	d := &wlr{conn: conn, outs: outs, start: time.Now(), loopErr: make(chan error, 1)}
	for _, o := range outs {
		d.layout = d.layout.Union(image.Rect(int(o.X), int(o.Y), int(o.X+o.LW), int(o.Y+o.LH)))
	}
	d.pointer = conn.NewObject("zwlr_virtual_pointer_v1", 1, nil)
	if err := pm.Send(0, wayland.Obj(seat), wayland.NewID(d.pointer)); err != nil { // create_virtual_pointer
		return nil, fmt.Errorf("input: %w", err)
	}
	d.kbd = conn.NewObject("zwp_virtual_keyboard_v1", 1, nil)
	if err := km.Send(0, wayland.Obj(seat), wayland.NewID(d.kbd)); err != nil { // create_virtual_keyboard
		return nil, fmt.Errorf("input: %w", err)
	}
	if err := d.sendKeymap(); err != nil {
		return nil, err
	}
	// A roundtrip proves the compositor took the keymap (a bad one is a
	// protocol error) before any key goes out.
	if err := conn.Roundtrip(); err != nil {
		return nil, fmt.Errorf("input: setting up the virtual keyboard: %w", err)
	}
	go func() {
		var err error
		for err == nil {
			err = conn.Dispatch()
		}
		d.loopErr <- err
	}()
	return d, nil
}

func (d *wlr) sendKeymap() error { return d.sendKeymapWith(nil) }

// sendKeymapWith uploads the keymap with extra[i] on spare key i.
func (d *wlr) sendKeymapWith(extra []rune) error {
	fd, err := unix.MemfdCreate("tether-keymap", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("input: keymap: %w", err)
	}
	defer unix.Close(fd)
	b := append([]byte(keymapWith(extra)), 0)
	if _, err := unix.Write(fd, b); err != nil {
		return fmt.Errorf("input: keymap: %w", err)
	}
	const xkbV1 = 1
	return d.kbd.Send(0, wayland.Uint(xkbV1), wayland.FD(fd), wayland.Uint(uint32(len(b)))) // keymap
}

func (d *wlr) ms() wayland.Arg { return wayland.Uint(uint32(time.Since(d.start).Milliseconds())) }

// logical maps a point of the virtual screen (monitors at their logical
// origin, at pixel size) to the compositor's logical layout.
func (d *wlr) logical(x, y int) (lx, ly int, ok bool) {
	for _, o := range d.outs {
		r := image.Rect(int(o.X), int(o.Y), int(o.X)+o.W, int(o.Y)+o.H)
		if (image.Point{x, y}).In(r) {
			return int(o.X) + (x-r.Min.X)*int(o.LW)/o.W, int(o.Y) + (y-r.Min.Y)*int(o.LH)/o.H, true
		}
	}
	return 0, 0, false
}

func (d *wlr) move(x, y int) error {
	lx, ly, ok := d.logical(x, y)
	if !ok {
		return fmt.Errorf("%w: %d,%d is on no output", ErrOutOfRange, x, y)
	}
	err := d.pointer.Send(1, d.ms(), wayland.Uint(uint32(lx-d.layout.Min.X)), wayland.Uint(uint32(ly-d.layout.Min.Y)),
		wayland.Uint(uint32(d.layout.Dx())), wayland.Uint(uint32(d.layout.Dy()))) // motion_absolute
	return errors.Join(err, d.pointer.Send(4)) // frame
}

func (d *wlr) button(b int, down bool) error {
	if b < 0 || b >= len(evdevButtons) {
		return fmt.Errorf("%w: button %d", ErrInvalid, b)
	}
	err := d.pointer.Send(2, d.ms(), wayland.Uint(evdevButtons[b]), wayland.Uint(state(down))) // button
	return errors.Join(err, d.pointer.Send(4))
}

func (d *wlr) scroll(dx, dy int) error {
	const wheel, vertical, horizontal = 0, 0, 1
	var errs []error
	errs = append(errs, d.pointer.Send(5, wayland.Uint(wheel))) // axis_source
	for _, a := range []struct {
		axis  uint32
		steps int
	}{{vertical, dy}, {horizontal, dx}} {
		if a.steps != 0 {
			// 15 is the scroll distance of one wheel notch in libinput.
			errs = append(errs, d.pointer.Send(7, d.ms(), wayland.Uint(a.axis), wayland.Fixed(float64(15*a.steps)), wayland.Int(int32(a.steps)))) // axis_discrete
		}
	}
	errs = append(errs, d.pointer.Send(4))
	return errors.Join(errs...)
}

func (d *wlr) key(name string, down bool) error {
	code, ok := evdevKeys[name]
	if !ok {
		return fmt.Errorf("%w: %q on Wayland", ErrUnknownKey, name)
	}
	if code == evdevLeftShift {
		d.shift = down
	}
	return d.sendKey(code, down)
}

func (d *wlr) sendKey(code uint32, down bool) error {
	return d.kbd.Send(1, d.ms(), wayland.Uint(code), wayland.Uint(state(down))) // key
}

// spareKeys are the keys whose symbols text borrows for characters the US
// keymap has no key for: F13 to F24 (evdev 183-194), which keyboards
// rarely have.
const (
	spareFirst = 183
	spareKeys  = 12
)

// text types s: characters of the US keymap with their keys, others on
// the spare keys, with a keymap that gives them those characters for as
// long as it types them (at most spareKeys different ones at a time).
func (d *wlr) text(s string) error {
	rs := []rune(s)
	var errs []error
	remapped := false
	for i := 0; i < len(rs); {
		extra := map[rune]uint32{}
		var order []rune
		j := i
		for ; j < len(rs); j++ {
			r := rs[j]
			if _, _, ok := usKey(r); ok {
				continue
			}
			if _, ok := extra[r]; ok {
				continue
			}
			if len(extra) == spareKeys {
				break
			}
			extra[r] = spareFirst + uint32(len(extra))
			order = append(order, r)
		}
		if len(extra) > 0 {
			if err := d.sendKeymapWith(order); err != nil {
				return err
			}
			remapped = true
		}
		for _, r := range rs[i:j] {
			if code, ok := extra[r]; ok {
				errs = append(errs, d.sendKey(code, true), d.sendKey(code, false))
				continue
			}
			code, shift, _ := usKey(r)
			flip := shift != d.shift // press or release Shift around the key
			if flip {
				errs = append(errs, d.sendKey(evdevLeftShift, shift))
			}
			errs = append(errs, d.sendKey(code, true), d.sendKey(code, false))
			if flip {
				errs = append(errs, d.sendKey(evdevLeftShift, d.shift))
			}
		}
		i = j
	}
	if remapped {
		errs = append(errs, d.sendKeymapWith(nil)) // the spare keys are F13-F24 again
	}
	return errors.Join(errs...)
}

func (d *wlr) ctrlAltDel() error {
	var errs []error
	for _, k := range []uint32{29, 56, 111} {
		errs = append(errs, d.sendKey(k, true))
	}
	for _, k := range []uint32{111, 56, 29} {
		errs = append(errs, d.sendKey(k, false))
	}
	return errors.Join(errs...)
}

func (d *wlr) close() error {
	// What was sent is read by the compositor before it sees the close.
	d.pointer.Send(8) //nolint:errcheck // destroy
	d.kbd.Send(3)     //nolint:errcheck // destroy
	err := d.conn.Close()
	<-d.loopErr
	return err
}

func state(down bool) uint32 {
	if down {
		return 1
	}
	return 0
}
