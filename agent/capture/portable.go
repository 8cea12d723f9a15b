//go:build !s390x && !ppc64le && (linux || windows || freebsd || openbsd || netbsd || (darwin && cgo))

package capture

import (
	"fmt"
	"image"
	"log/slog"

	"github.com/kbinani/screenshot"

	"github.com/tetherdesk/tether/shared/protocol"
)

// portable captures with github.com/kbinani/screenshot. It works wherever
// that package does, but allocates a new image for every frame (and on X11
// opens a connection per call); platform fast paths replace it where they
// exist.
type portable struct {
	log    *slog.Logger
	closed bool
	// origin is added to screenshot's rectangles (relative to display 0)
	// to make them virtual-screen (X11 root window) coordinates.
	origin func() (image.Point, error)
}

func newPortable() (*portable, error) {
	p := &portable{log: slog.Default().With("component", "capture"), origin: virtualOrigin}
	if n := screenshot.NumActiveDisplays(); n <= 0 {
		return nil, fmt.Errorf("capture: no displays found (is the desktop session reachable?): %w", ErrNoDisplay)
	}
	return p, nil
}

func (p *portable) bounds() ([]image.Rectangle, error) {
	n := screenshot.NumActiveDisplays()
	if n <= 0 {
		return nil, fmt.Errorf("capture: listing displays: %w", ErrNoDisplay)
	}
	rs := make([]image.Rectangle, 0, n)
	for i := 0; i < n; i++ {
		r := screenshot.GetDisplayBounds(i)
		if r.Empty() {
			return nil, fmt.Errorf("capture: display %d has no bounds: %w", i, ErrNoDisplay)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

func (p *portable) Monitors() ([]protocol.Monitor, error) {
	if p.closed {
		return nil, ErrClosed
	}
	rs, err := p.bounds()
	if err != nil {
		return nil, err
	}
	o, err := p.origin()
	if err != nil {
		return nil, fmt.Errorf("capture: virtual screen origin: %w", err)
	}
	return monitorsFromRects(rs, o), nil
}

func (p *portable) Capture(monitor int) (*image.RGBA, error) {
	if p.closed {
		return nil, ErrClosed
	}
	// Bounds are re-read on every frame: monitors come and go, and a
	// stale rectangle would capture the wrong pixels.
	rs, err := p.bounds()
	if err != nil {
		return nil, err
	}
	if monitor < 0 || monitor >= len(rs) {
		return nil, fmt.Errorf("capture: monitor %d of %d: %w", monitor, len(rs), ErrNoMonitor)
	}
	img, err := screenshot.CaptureRect(rs[monitor])
	if err != nil {
		return nil, fmt.Errorf("capture: monitor %d: %w", monitor, err)
	}
	return rebase(img), nil
}

func (p *portable) Close() error {
	p.closed = true
	return nil
}
