package helper

import (
	"context"
	"errors"
	"log/slog"

	"github.com/tetherdesk/tether/agent/tray"
)

// The launcher (see launcher.go) is not built on Windows yet: there the
// tray icon is always shown, and the Start-menu shortcut waits for the
// Windows helper's per-session pipe.
func serveLauncher(context.Context, string, *tray.Tray, *slog.Logger) error { return nil }

func launcherPath() string { return "" }

// OpenDialog is not available on Windows yet.
func OpenDialog(context.Context, string) error {
	return errors.New("opening the code dialog from outside the tray is not available on Windows yet: use the tray icon's Enter Connection Code")
}
