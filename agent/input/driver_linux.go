//go:build cgo

package input

import "os"

// newDriver drives the desktop the helper was started for: a Wayland
// compositor when WAYLAND_DISPLAY is set (its X display, if any, is
// Xwayland's, which reaches only X clients), else the X display.
func newDriver() (driver, error) {
	if os.Getenv("WAYLAND_DISPLAY") != "" {
		return newWayland()
	}
	return newX11Driver()
}

// newWayland picks the input path of a Wayland desktop: wlroots' virtual
// pointer and keyboard where the compositor offers them.
func newWayland() (driver, error) {
	return newWLR()
}
