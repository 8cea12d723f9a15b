//go:build windows

package capture

import (
	"fmt"
	"image"
	"log/slog"
)

// newSource returns the desktop duplication source, or the portable one
// where duplication is unavailable (before Windows 8, some remote
// sessions, no usable graphics adapter). A forced method never falls back.
func newSource(cfg Config) (Source, error) {
	m := cfg.Method
	switch m {
	case MethodDXGI:
		return newDXGI()
	case MethodPortable:
		return newPortable()
	case MethodAuto:
	default:
		return nil, fmt.Errorf("%w: %q on this platform", ErrUnknownMethod, m)
	}
	s, err := newDXGI()
	if err == nil {
		return s, nil
	}
	slog.Default().With("component", "capture").Info("desktop duplication unavailable, using the portable path", "reason", err)
	return newPortable()
}

// virtualOrigin: on Windows the primary display defines the virtual-screen
// origin, which is what screenshot's rectangles use.
func virtualOrigin() (image.Point, error) { return image.Point{}, nil }
