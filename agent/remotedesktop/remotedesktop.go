// Package remotedesktop opens remote-desktop sessions of Wayland
// compositors that hand out their screens as PipeWire streams and take
// input over D-Bus: GNOME's own API (org.gnome.Mutter.RemoteDesktop and
// ScreenCast, what gnome-remote-desktop uses, no dialog) and the
// xdg-desktop-portal (GNOME, KDE and others; the desktop asks the end
// user).
//
// Screen capture (agent/capture) and input (agent/input) use one session
// between them: Shared opens it for the first and closes it after the
// last.
package remotedesktop

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/godbus/dbus/v5"
)

// Kind names a session's API.
type Kind string

// Session kinds.
const (
	KindMutter Kind = "mutter" // org.gnome.Mutter.RemoteDesktop
	KindPortal Kind = "portal" // org.freedesktop.portal.RemoteDesktop
)

// Stream is one monitor's screen stream.
type Stream struct {
	// Node is the PipeWire node to consume.
	Node uint32
	// X, Y is the monitor's place in the desktop's layout, W×H its size
	// in the layout's (logical) units; 0 when unknown.
	X, Y, W, H int
	// id names the stream to the input calls (a Mutter stream's object
	// path, a portal stream's node id).
	id string
}

// Session is a running remote-desktop session.
type Session interface {
	Kind() Kind
	// Streams are the monitors' streams, the primary first.
	Streams() []Stream
	// PipeWireFD is the connection to PipeWire the streams must be read
	// through (the portal's), or -1 for the user's own PipeWire daemon.
	// The session owns it.
	PipeWireFD() int
	// Interactive says whether the session may drive the pointer and the
	// keyboard: the portal's dialog lets the end user share the screen
	// without remote interaction.
	Interactive() bool
	// PointerMotionAbsolute moves the pointer to x, y on stream i, in the
	// stream's logical units.
	PointerMotionAbsolute(i int, x, y float64) error
	// PointerMotionRelative moves the pointer by dx, dy.
	PointerMotionRelative(dx, dy float64) error
	// PointerButton presses or releases an evdev button (BTN_LEFT, ...).
	PointerButton(button int32, pressed bool) error
	// PointerAxisDiscrete scrolls steps notches on axis (0 vertical, 1
	// horizontal).
	PointerAxisDiscrete(axis uint32, steps int32) error
	// KeyboardKeycode presses or releases an evdev key.
	KeyboardKeycode(code uint32, pressed bool) error
	// KeyboardKeysym presses or releases the key of an X keysym (text).
	KeyboardKeysym(sym uint32, pressed bool) error
	// Done is closed when the compositor ends the session.
	Done() <-chan struct{}
	Close() error
}

// ErrUnavailable means the desktop offers no such API.
var ErrUnavailable = errors.New("remotedesktop: not offered by this desktop")

// Open opens a session with the best API the desktop offers: GNOME's own
// (no dialog), else the portal's (the desktop's dialog, once).
func Open(ctx context.Context, portal PortalConfig) (Session, error) {
	s, err := OpenMutter(ctx)
	if !errors.Is(err, ErrUnavailable) {
		return s, err
	}
	return OpenPortal(ctx, portal)
}

// sessionBus is a private connection to this process's session bus.
func sessionBus() (*dbus.Conn, error) {
	bus, err := dbus.SessionBusPrivate()
	if err != nil {
		return nil, fmt.Errorf("remotedesktop: session bus: %w", err)
	}
	if err := bus.Auth(nil); err != nil {
		bus.Close()
		return nil, fmt.Errorf("remotedesktop: session bus: %w", err)
	}
	if err := bus.Hello(); err != nil {
		bus.Close()
		return nil, fmt.Errorf("remotedesktop: session bus: %w", err)
	}
	return bus, nil
}

// warmUp makes the compositor add its virtual pointer and keyboard now.
// It adds them at their first events; on a machine without a pointer or
// keyboard of its own (a headless VM) clients then learn of the device
// only after that event, which is lost. A move by nothing and a tap of
// Shift, long before a technician's first click or key, change nothing.
func warmUp(s Session) error {
	const leftShift = 42
	if err := errors.Join(s.PointerMotionRelative(0, 0), s.KeyboardKeycode(leftShift, true), s.KeyboardKeycode(leftShift, false)); err != nil {
		return fmt.Errorf("remotedesktop: preparing input: %w", err)
	}
	return nil
}

// TokenFile is where a user's portal restore token is kept: under
// XDG_STATE_HOME, else ~/.local/state.
func TokenFile(getenv func(string) string) string {
	dir := getenv("XDG_STATE_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "tether", "portal-restore-token")
}

// Shared is one session shared by the screen capture and the input of a
// session helper.
type Shared struct {
	open func() (Session, error)

	mu   sync.Mutex
	s    Session
	refs int
}

// NewShared returns a Shared that opens its session with open.
func NewShared(open func() (Session, error)) *Shared { return &Shared{open: open} }

// Acquire returns the session, opening it if nobody holds it or the
// compositor ended it; release gives it back (the last release closes it).
func (sh *Shared) Acquire() (Session, func(), error) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.s != nil {
		select {
		case <-sh.s.Done():
			// Ended under its holders: they will fail and come back.
			sh.s.Close()
			sh.s, sh.refs = nil, 0
		default:
		}
	}
	if sh.s == nil {
		s, err := sh.open()
		if err != nil {
			return nil, nil, err
		}
		sh.s = s
	}
	s := sh.s
	sh.refs++
	var once sync.Once
	return s, func() {
		once.Do(func() {
			sh.mu.Lock()
			defer sh.mu.Unlock()
			if sh.s != s {
				return // already replaced
			}
			sh.refs--
			if sh.refs == 0 {
				sh.s.Close()
				sh.s = nil
			}
		})
	}, nil
}
