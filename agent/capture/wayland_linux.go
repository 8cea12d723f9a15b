package capture

import (
	"errors"
	"fmt"
)

// newWayland picks the capture path of a Wayland desktop: wlroots'
// screencopy where the compositor offers it (no dialog), else the
// session's remote-desktop streams (GNOME's own API, else the portal).
func newWayland(cfg Config) (Source, error) {
	s, err := newWLR()
	if err == nil {
		return s, nil
	}
	if errors.Is(err, ErrNoDisplay) {
		return nil, err
	}
	rs, rerr := newRD(cfg.RemoteDesktop)
	if rerr == nil {
		return rs, nil
	}
	return nil, fmt.Errorf("capture: no capture path for this Wayland desktop: %w", errors.Join(err, rerr))
}
