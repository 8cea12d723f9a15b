package capture

import (
	"errors"
	"fmt"
)

// newWayland picks the capture path of a Wayland desktop: wlroots'
// screencopy where the compositor offers it.
func newWayland() (Source, error) {
	var errs []error
	s, err := newWLR()
	if err == nil {
		return s, nil
	}
	if errors.Is(err, ErrNoDisplay) {
		return nil, err
	}
	errs = append(errs, err)
	return nil, fmt.Errorf("capture: no capture path for this Wayland desktop: %w", errors.Join(errs...))
}
