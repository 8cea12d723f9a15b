//go:build cgo

package input

import (
	"errors"
	"fmt"
	"os"
)

// newDriver drives the desktop the helper was started for: a Wayland
// compositor when WAYLAND_DISPLAY is set (its X display, if any, is
// Xwayland's, which reaches only X clients), else the X display.
func newDriver(cfg Config) (driver, error) {
	if os.Getenv("WAYLAND_DISPLAY") != "" {
		return newWayland(cfg)
	}
	return newX11Driver()
}

// newWayland picks the input path of a Wayland desktop, as capture picks
// its path: wlroots' virtual pointer and keyboard where the compositor
// offers them, else the session's remote-desktop API (GNOME's own, else
// the portal's).
func newWayland(cfg Config) (driver, error) {
	d, err := newWLR()
	if err == nil {
		return d, nil
	}
	if errors.Is(err, ErrNoDisplay) {
		return nil, err
	}
	rd, rerr := newRD(cfg.RemoteDesktop)
	if rerr == nil {
		return rd, nil
	}
	return nil, fmt.Errorf("input: no input path for this Wayland desktop: %w", errors.Join(err, rerr))
}
