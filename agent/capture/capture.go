// Package capture grabs the pixels of the local screen, one monitor at a time.
//
// New picks a platform fast path when there is one, else the portable path
// (github.com/kbinani/screenshot). Fast paths (X11 shared memory, Windows
// desktop duplication, ...) plug in behind the same Source interface.
package capture

import (
	"errors"
	"image"

	"github.com/tetherdesk/tether/shared/protocol"
)

// Source grabs the screen. Not safe for concurrent use; one goroutine captures.
type Source interface {
	// Monitors lists the virtual-screen rectangles, primary flagged.
	Monitors() ([]protocol.Monitor, error)
	// Capture returns the monitor's pixels with Rect origin (0,0). The
	// buffer may be reused by the next call.
	Capture(monitor int) (*image.RGBA, error)
	Close() error
}

// ErrUnsupported is returned by New on platforms without any capture path.
var ErrUnsupported = errors.New("capture: screen capture is not supported on this platform")

// ErrClosed is returned by a Source used after Close.
var ErrClosed = errors.New("capture: source closed")

// New returns the best Source for this platform.
func New() (Source, error) { return newSource() }

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
