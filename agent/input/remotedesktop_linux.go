package input

import (
	"errors"
	"fmt"

	"github.com/tetherdesk/tether/agent/remotedesktop"
	"github.com/tetherdesk/tether/shared/protocol"
)

// rd injects through a Wayland remote-desktop session: GNOME's own API or
// the portal's RemoteDesktop, the session that capture reads the screen
// from. Keys are evdev codes; text is keysyms, which the compositor maps
// to keys of the user's own layout.
type rd struct {
	sess    remotedesktop.Session
	release func()
}

func newRD(shared *remotedesktop.Shared) (driver, error) {
	if shared == nil {
		return nil, fmt.Errorf("%w: no remote-desktop session for this Wayland desktop", ErrUnsupported)
	}
	sess, release, err := shared.Acquire()
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	if !sess.Interactive() {
		release()
		return nil, ErrViewOnly
	}
	return &rd{sess: sess, release: release}, nil
}

// moveOn places the pointer on the stream at mon's origin, scaling the
// monitor's pixels to the stream's logical size.
func (d *rd) moveOn(mon protocol.Monitor, x, y int) error {
	for i, st := range d.sess.Streams() {
		if st.X != mon.X || st.Y != mon.Y {
			continue
		}
		lx, ly := float64(x), float64(y)
		if st.W > 0 && st.H > 0 && mon.W > 0 && mon.H > 0 {
			lx, ly = lx*float64(st.W)/float64(mon.W), ly*float64(st.H)/float64(mon.H)
		}
		return d.sess.PointerMotionAbsolute(i, lx, ly)
	}
	return fmt.Errorf("%w: no screen stream at %d,%d", ErrOutOfRange, mon.X, mon.Y)
}

// move is the virtual-screen form of moveOn, for callers without a
// monitor: the stream containing x, y.
func (d *rd) move(x, y int) error {
	for i, st := range d.sess.Streams() {
		if x >= st.X && y >= st.Y && x < st.X+st.W && y < st.Y+st.H {
			return d.sess.PointerMotionAbsolute(i, float64(x-st.X), float64(y-st.Y))
		}
	}
	return fmt.Errorf("%w: %d,%d is on no screen stream", ErrOutOfRange, x, y)
}

func (d *rd) button(b int, down bool) error {
	if b < 0 || b >= len(evdevButtons) {
		return fmt.Errorf("%w: button %d", ErrInvalid, b)
	}
	return d.sess.PointerButton(int32(evdevButtons[b]), down)
}

func (d *rd) scroll(dx, dy int) error {
	var errs []error
	if dy != 0 {
		errs = append(errs, d.sess.PointerAxisDiscrete(0, int32(dy)))
	}
	if dx != 0 {
		errs = append(errs, d.sess.PointerAxisDiscrete(1, int32(dx)))
	}
	return errors.Join(errs...)
}

func (d *rd) key(name string, down bool) error {
	code, ok := evdevKeys[name]
	if !ok {
		return fmt.Errorf("%w: %q on Wayland", ErrUnknownKey, name)
	}
	return d.sess.KeyboardKeycode(code, down)
}

// text types each character as its keysym.
func (d *rd) text(s string) error {
	for _, r := range s {
		sym := keysym(r)
		if err := d.sess.KeyboardKeysym(sym, true); err != nil {
			return err
		}
		if err := d.sess.KeyboardKeysym(sym, false); err != nil {
			return err
		}
	}
	return nil
}

// keysym is the X keysym of r: Latin-1 as itself, the rest as Unicode
// keysyms.
func keysym(r rune) uint32 {
	switch {
	case r == '\n':
		return 0xff0d // Return
	case r == '\t':
		return 0xff09 // Tab
	case r >= 0x20 && r <= 0x7e, r >= 0xa0 && r <= 0xff:
		return uint32(r)
	}
	return 0x01000000 | uint32(r)
}

func (d *rd) ctrlAltDel() error {
	var errs []error
	for _, k := range []uint32{29, 56, 111} {
		errs = append(errs, d.sess.KeyboardKeycode(k, true))
	}
	for _, k := range []uint32{111, 56, 29} {
		errs = append(errs, d.sess.KeyboardKeycode(k, false))
	}
	return errors.Join(errs...)
}

func (d *rd) close() error {
	d.release()
	return nil
}
