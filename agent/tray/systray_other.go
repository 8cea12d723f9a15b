//go:build !linux && !windows

package tray

import (
	"context"
	"fmt"
	"log/slog"
)

// NewSystrayHost returns a host that never shows an icon: fyne.io/systray
// needs cgo and the macOS SDK on macOS, where the helper (a LaunchAgent)
// is not implemented yet.
func NewSystrayHost(*slog.Logger) Host { return noHost{} }

type noHost struct{}

func (noHost) Available(context.Context) error {
	return fmt.Errorf("%w: no tray support on this platform yet", ErrNoHost)
}
func (noHost) Start(func(string)) error {
	return fmt.Errorf("%w: no tray support on this platform yet", ErrNoHost)
}
func (noHost) Show(View) {}
func (noHost) Stop()     {}
