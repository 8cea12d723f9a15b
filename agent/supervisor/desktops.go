package supervisor

import (
	"context"
	"os"
)

// OwnDesktop is the desktop source of `run` mode (development, tests):
// the desktop of the agent's own environment (on Linux, its DISPLAY and
// XAUTHORITY), with the helper running as the agent's own user.
func OwnDesktop(getenv func(string) string) func(context.Context) ([]Desktop, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	return func(context.Context) ([]Desktop, error) {
		d, ok := ownDesktop(getenv)
		if !ok {
			return nil, ErrNoDesktop
		}
		return []Desktop{d}, nil
	}
}

// SystemDesktops is the desktop source of the OS service: every
// interactive desktop session on the machine.
func SystemDesktops(ctx context.Context) ([]Desktop, error) { return systemDesktops(ctx) }
