// Package input injects pointer and keyboard input on the local desktop
// with github.com/go-vgo/robotgo (v1.0.0, pinned; needs cgo).
//
// Events arrive from a remote viewer (protocol.InputEvent) and are checked
// here before anything reaches the OS: coordinates must lie on the monitor,
// keys must be known DOM KeyboardEvent.code values, text and wheel amounts
// are bounded. The injector remembers which keys and buttons it holds down
// and releases them on ReleaseAll and Close, so a viewer that disconnects
// mid-chord leaves no stuck Ctrl or dragged window behind.
package input

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/tetherdesk/tether/agent/remotedesktop"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Injector injects input on the local desktop. Coordinates in InputEvent are
// relative to mon. Keys are DOM KeyboardEvent.code values ("KeyA", "Digit1",
// "Enter", "ShiftLeft", "ArrowUp", "F5", ...); unknown codes are an error,
// not a panic. "text" types any script. "combo" handles "ctrl-alt-del"
// (where the OS allows; on X11 sends the keys), "alt-tab", "win".
//
// The injector returned by New also has ReleaseAll() error (see Releaser).
type Injector interface {
	Apply(ev protocol.InputEvent, mon protocol.Monitor) error
	Close() error
}

// Releaser is implemented by the injector New returns: ReleaseAll lets go
// of every key and button it holds (call it when control passes to another
// viewer or the mode leaves Active).
type Releaser interface {
	ReleaseAll() error
}

// Errors of Apply and New.
var (
	ErrUnsupported  = errors.New("input: injection is not supported on this platform")
	ErrNoDisplay    = errors.New("input: desktop display is not reachable")
	ErrInvalid      = errors.New("input: invalid event")
	ErrUnknownKey   = errors.New("input: unknown key code")
	ErrOutOfRange   = errors.New("input: coordinates outside the monitor")
	ErrNeedsService = errors.New("input: ctrl-alt-del needs the service (SendSAS); the session helper cannot send it")
	ErrClosed       = errors.New("input: injector closed")
	ErrViewOnly     = errors.New("input: the end user shared the screen without remote interaction (the desktop's dialog)")
)

// Limits on one event.
const (
	MaxWheel     = 50   // notches per axis per event
	MaxTextRunes = 2000 // runes per "text" event
	maxMonitor   = 1 << 15
)

// Event types (InputEvent.T).
const (
	EvMove  = "move"
	EvDown  = "down"
	EvUp    = "up"
	EvWheel = "wheel"
	EvKey   = "key"
	EvText  = "text"
	EvCombo = "combo"
)

// Combos (InputEvent.Combo).
const (
	ComboCtrlAltDel = "ctrl-alt-del"
	ComboAltTab     = "alt-tab"
	ComboWin        = "win"
)

// Pointer buttons (InputEvent.Button, as DOM MouseEvent.button).
const (
	ButtonLeft   = 0
	ButtonMiddle = 1
	ButtonRight  = 2
)

// driver is the platform layer: robotgo plus platform fixes.
type driver interface {
	move(x, y int) error              // absolute virtual-screen pixels
	button(b int, down bool) error    // ButtonLeft/Middle/Right
	scroll(dx, dy int) error          // notches, positive right/down
	key(name string, down bool) error // robotgo key name
	text(s string) error              // validated UTF-8 without control characters other than \n, \t
	ctrlAltDel() error
	close() error
}

// New returns an Injector for the local desktop. On X11 it fails with
// ErrNoDisplay when DISPLAY is unset or unreachable (robotgo would crash).
func New() (Injector, error) { return Open(Config{}) }

// Config chooses how Open injects.
type Config struct {
	// RemoteDesktop is the session helper's remote-desktop session of a
	// Wayland desktop (GNOME's API or the portal), shared with capture;
	// nil: none (X11, wlroots).
	RemoteDesktop *remotedesktop.Shared
}

// Open returns an Injector for the local desktop, as cfg says.
func Open(cfg Config) (Injector, error) {
	d, err := newDriver(cfg)
	if err != nil {
		return nil, err
	}
	return newInjector(d), nil
}

// monitorDriver is a driver that places the pointer on a monitor rather
// than on one virtual screen (the remote-desktop APIs of Wayland
// compositors): x, y in monitor pixels.
type monitorDriver interface {
	moveOn(mon protocol.Monitor, x, y int) error
}

// moveTo moves the pointer to x, y on mon (ax, ay on the virtual screen).
func (in *injector) moveTo(mon protocol.Monitor, x, y, ax, ay int) error {
	if md, ok := in.d.(monitorDriver); ok {
		return md.moveOn(mon, x, y)
	}
	return in.d.move(ax, ay)
}

type injector struct {
	log *slog.Logger

	mu      sync.Mutex
	d       driver
	keys    map[string]bool // robotgo names held down
	buttons [3]bool
	closed  bool
}

func newInjector(d driver) *injector {
	return &injector{d: d, keys: map[string]bool{}, log: slog.Default().With("component", "input")}
}

// Apply checks ev and injects it. Nothing is injected for an invalid event.
func (in *injector) Apply(ev protocol.InputEvent, mon protocol.Monitor) error {
	act, err := plan(ev, mon)
	if err != nil {
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return ErrClosed
	}
	if err := act(in); err != nil {
		return fmt.Errorf("input: %s: %w", ev.T, err)
	}
	return nil
}

// plan validates ev and returns what to do. It never touches the OS, so it
// can be fuzzed without a display.
func plan(ev protocol.InputEvent, mon protocol.Monitor) (func(*injector) error, error) {
	if mon.W <= 0 || mon.H <= 0 || mon.W > maxMonitor || mon.H > maxMonitor ||
		mon.X < -maxMonitor*4 || mon.X > maxMonitor*4 || mon.Y < -maxMonitor*4 || mon.Y > maxMonitor*4 {
		return nil, fmt.Errorf("%w: monitor %+v", ErrInvalid, mon)
	}
	inside := func() error {
		if ev.X < 0 || ev.Y < 0 || ev.X >= mon.W || ev.Y >= mon.H {
			return fmt.Errorf("%w: %d,%d on a %dx%d monitor", ErrOutOfRange, ev.X, ev.Y, mon.W, mon.H)
		}
		return nil
	}
	ax, ay := mon.X+ev.X, mon.Y+ev.Y
	// down, up and wheel carry the pointer position; (0,0) is taken as
	// "no position" (the fields are omitempty) and does not move.
	hasPos := ev.X != 0 || ev.Y != 0
	switch ev.T {
	case EvMove:
		if err := inside(); err != nil {
			return nil, err
		}
		return func(in *injector) error { return in.moveTo(mon, ev.X, ev.Y, ax, ay) }, nil
	case EvDown, EvUp:
		if err := inside(); err != nil {
			return nil, err
		}
		if ev.Button < ButtonLeft || ev.Button > ButtonRight {
			return nil, fmt.Errorf("%w: button %d", ErrInvalid, ev.Button)
		}
		down, b := ev.T == EvDown, ev.Button
		return func(in *injector) error {
			if hasPos {
				if err := in.moveTo(mon, ev.X, ev.Y, ax, ay); err != nil {
					return err
				}
			}
			if err := in.d.button(b, down); err != nil {
				return err
			}
			in.buttons[b] = down
			return nil
		}, nil
	case EvWheel:
		if err := inside(); err != nil {
			return nil, err
		}
		if ev.DX < -MaxWheel || ev.DX > MaxWheel || ev.DY < -MaxWheel || ev.DY > MaxWheel {
			return nil, fmt.Errorf("%w: wheel %d,%d beyond %d notches", ErrInvalid, ev.DX, ev.DY, MaxWheel)
		}
		dx, dy := ev.DX, ev.DY
		return func(in *injector) error {
			if hasPos {
				if err := in.moveTo(mon, ev.X, ev.Y, ax, ay); err != nil {
					return err
				}
			}
			if dx == 0 && dy == 0 {
				return nil
			}
			return in.d.scroll(dx, dy)
		}, nil
	case EvKey:
		name, err := KeyName(ev.Key)
		if err != nil {
			return nil, err
		}
		down := ev.Down
		return func(in *injector) error { return in.key(name, down) }, nil
	case EvText:
		s, err := cleanText(ev.Text)
		if err != nil {
			return nil, err
		}
		if s == "" {
			return func(*injector) error { return nil }, nil
		}
		return func(in *injector) error { return in.d.text(s) }, nil
	case EvCombo:
		switch ev.Combo {
		case ComboCtrlAltDel:
			return func(in *injector) error { return in.d.ctrlAltDel() }, nil
		case ComboAltTab:
			return func(in *injector) error { return in.tap("lalt", "tab") }, nil
		case ComboWin:
			return func(in *injector) error { return in.tap("lcmd") }, nil
		}
		return nil, fmt.Errorf("%w: combo %q", ErrInvalid, truncate(ev.Combo))
	}
	return nil, fmt.Errorf("%w: type %q", ErrInvalid, truncate(ev.T))
}

func (in *injector) key(name string, down bool) error {
	// A release of a key we never pressed (pressed before control was
	// granted, or released twice) is passed on too: harmless, and the OS
	// state then matches the viewer's.
	if err := in.d.key(name, down); err != nil {
		return err
	}
	if down {
		in.keys[name] = true
	} else {
		delete(in.keys, name)
	}
	return nil
}

// tap presses names in order and releases them in reverse.
func (in *injector) tap(names ...string) error {
	var firstErr error
	pressed := 0
	for _, n := range names {
		if err := in.key(n, true); err != nil {
			firstErr = err
			break
		}
		pressed++
	}
	for i := pressed - 1; i >= 0; i-- {
		if err := in.key(names[i], false); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// ReleaseAll lets go of every key and button the injector holds.
func (in *injector) ReleaseAll() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return nil
	}
	return in.releaseAll()
}

func (in *injector) releaseAll() error {
	var errs []error
	names := make([]string, 0, len(in.keys))
	for n := range in.keys {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := in.d.key(n, false); err != nil {
			errs = append(errs, err)
		}
		delete(in.keys, n)
	}
	for b, down := range in.buttons {
		if down {
			if err := in.d.button(b, false); err != nil {
				errs = append(errs, err)
			}
			in.buttons[b] = false
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("input: releasing held keys: %w", err)
	}
	return nil
}

// Close releases held keys and buttons and closes the platform layer.
func (in *injector) Close() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return nil
	}
	in.closed = true
	rerr := in.releaseAll()
	return errors.Join(rerr, in.d.close())
}

// cleanText checks s and normalises line breaks: valid UTF-8, at most
// MaxTextRunes runes, no control characters other than tab and newline
// (CR LF and CR become LF).
func cleanText(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: text is not UTF-8", ErrInvalid)
	}
	if n := utf8.RuneCountInString(s); n > MaxTextRunes {
		return "", fmt.Errorf("%w: text of %d characters (at most %d)", ErrInvalid, n, MaxTextRunes)
	}
	out := make([]rune, 0, len(s))
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\r':
			if i+1 < len(rs) && rs[i+1] == '\n' {
				continue
			}
			out = append(out, '\n')
		case r == '\n' || r == '\t':
			out = append(out, r)
		case unicode.IsControl(r) || r == utf8.RuneError:
			return "", fmt.Errorf("%w: control character U+%04X in text", ErrInvalid, r)
		default:
			out = append(out, r)
		}
	}
	return string(out), nil
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
