//go:build !linux && !windows && !s390x && !ppc64le && (freebsd || openbsd || netbsd || (darwin && cgo))

package capture

import (
	"fmt"
	"image"
)

// newSource returns the portable source. A macOS ScreenCaptureKit fast
// path plugs in here later.
func newSource(cfg Config) (Source, error) {
	m := cfg.Method
	switch m {
	case MethodAuto, MethodPortable:
	default:
		return nil, fmt.Errorf("%w: %q on this platform", ErrUnknownMethod, m)
	}
	p, err := newPortable()
	if err != nil {
		return nil, err
	}
	return p, nil
}

// virtualOrigin: on Windows and macOS the primary display defines the
// virtual-screen origin, which is what screenshot's rectangles use.
func virtualOrigin() (image.Point, error) { return image.Point{}, nil }
