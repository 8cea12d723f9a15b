// Package capture grabs the pixels of the local screen, one monitor at a time.
//
// New picks a platform fast path when there is one, else the portable path
// (github.com/kbinani/screenshot). Fast paths (X11 shared memory, Windows
// desktop duplication, ...) plug in behind the same Source interface.
package capture

import (
	"errors"
	"fmt"
	"image"
	"os"

	"github.com/tetherdesk/tether/agent/remotedesktop"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Source grabs the screen. Not safe for concurrent use; one goroutine captures.
type Source interface {
	// Monitors lists the virtual-screen rectangles, primary flagged.
	Monitors() ([]protocol.Monitor, error)
	// Capture returns the monitor's pixels with Rect origin (0,0). The
	// buffer may be reused by the next call, and the caller must not write
	// to it: a damage-aware source updates only the changed parts of the
	// previous frame.
	Capture(monitor int) (*image.RGBA, error)
	Close() error
}

// ErrUnsupported is returned by New on platforms without any capture path.
var ErrUnsupported = errors.New("capture: screen capture is not supported on this platform")

// ErrClosed is returned by a Source used after Close.
var ErrClosed = errors.New("capture: source closed")

// DamageSource is implemented by sources that learn from the platform which
// parts of the screen changed (X11 DAMAGE, Windows dirty rectangles).
type DamageSource interface {
	// Damaged reports the parts of monitor, in monitor pixels, that may
	// have changed since the last Capture(monitor). any false means
	// nothing changed: the caller may skip the capture (and its encoding)
	// entirely. Otherwise rects covers every change (it may cover more,
	// never less); it is the whole monitor when the source cannot tell
	// (first capture, damage lost). Damaged itself never resets anything:
	// only Capture(monitor) does.
	Damaged(monitor int) (rects []image.Rectangle, any bool)
}

// ChangeNotifier is implemented by sources that can say as soon as the
// screen changed, so a caller need not poll Damaged to learn it.
type ChangeNotifier interface {
	// Changed receives a value after a change; at most one is pending. It
	// is nil when the source cannot tell (then poll).
	Changed() <-chan struct{}
}

// Move is a rectangle of the screen whose content moved to To (the same
// size), in the coordinates of the monitor it was asked for.
type Move struct {
	From image.Rectangle
	To   image.Point
}

// MoveSource is implemented by sources that learn which windows moved.
type MoveSource interface {
	// Moved returns the windows moved on monitor since the last call for
	// it. A hint, not a promise: what is on the screen decides.
	Moved(monitor int) []Move
}

// Method names a capture path.
type Method string

// Capture methods. MethodAuto picks the fastest that works.
const (
	MethodAuto     Method = ""
	MethodPortable Method = "portable" // github.com/kbinani/screenshot
	MethodX11SHM   Method = "x11shm"   // X11, one connection, MIT-SHM GetImage, DAMAGE
	MethodX11      Method = "x11"      // X11, one connection, GetImage over the socket, DAMAGE
	MethodDXGI     Method = "dxgi"     // Windows desktop duplication, dirty and move rectangles
	MethodWLR      Method = "wlr"      // wlroots screencopy (sway, Hyprland, ...), damage
	MethodMutter   Method = "mutter"   // GNOME's screen-cast API, PipeWire, damage
	MethodPortal   Method = "portal"   // xdg-desktop-portal ScreenCast, PipeWire, damage
)

// EnvMethod is the environment variable New reads to force a Method (tests
// and troubleshooting: TETHER_CAPTURE=portable|x11shm|x11|dxgi|wlr|mutter|portal).
const EnvMethod = "TETHER_CAPTURE"

// ErrUnknownMethod is returned for a Method this build does not know or
// cannot use on this platform.
var ErrUnknownMethod = errors.New("capture: unknown or unavailable capture method")

// Config chooses how Open captures.
type Config struct {
	// Method forces a capture path; MethodAuto (the default) picks the
	// fastest that works and falls back to the portable path. A forced
	// method that does not work is an error, never a silent fallback.
	Method Method
	// RemoteDesktop is the session helper's remote-desktop session of a
	// Wayland desktop (GNOME's API or the portal), shared with input;
	// nil: none (X11, wlroots, tests).
	RemoteDesktop *remotedesktop.Shared
}

func (c *Config) check() error {
	switch c.Method {
	case MethodAuto, MethodPortable, MethodX11SHM, MethodX11, MethodDXGI, MethodWLR, MethodMutter, MethodPortal:
		return nil
	}
	return fmt.Errorf("%w: %q", ErrUnknownMethod, c.Method)
}

// Open returns a Source using cfg.
func Open(cfg Config) (Source, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return newSource(cfg)
}

// New returns the best Source for this platform, or the one named by the
// TETHER_CAPTURE environment variable.
func New() (Source, error) { return Open(Config{Method: Method(os.Getenv(EnvMethod))}) }

// ErrNoDisplay means the desktop (X display, window station) is unreachable
// or has no monitors.
var ErrNoDisplay = errors.New("no display")

// ErrNoMonitor means the monitor index is out of range.
var ErrNoMonitor = errors.New("no such monitor")

// monitorsFromRects turns display rectangles (relative to display 0) into
// virtual-screen monitors offset by origin. The primary is the display at
// the origin, else the first.
func monitorsFromRects(rs []image.Rectangle, origin image.Point) []protocol.Monitor {
	ms := make([]protocol.Monitor, len(rs))
	primary := 0
	for i, r := range rs {
		if r.Min == (image.Point{}) {
			primary = i
			break
		}
	}
	for i, r := range rs {
		r = r.Add(origin)
		ms[i] = protocol.Monitor{X: r.Min.X, Y: r.Min.Y, W: r.Dx(), H: r.Dy(), Primary: i == primary}
	}
	return ms
}

// rebase moves img's Rect to origin (0,0) without copying pixels.
func rebase(img *image.RGBA) *image.RGBA {
	if img.Rect.Min != (image.Point{}) {
		img.Rect = img.Rect.Sub(img.Rect.Min)
	}
	return img
}
