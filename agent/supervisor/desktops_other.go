//go:build !linux && !windows

package supervisor

import (
	"context"
	"errors"
)

// systemDesktops is not implemented here yet: Windows needs the helper
// started in each WTS session with the user's token (WTSQueryUserToken,
// CreateProcessAsUser), macOS a LaunchAgent that starts the helper in the
// user's GUI session.
func systemDesktops(context.Context) ([]Desktop, error) {
	return nil, errors.New("finding desktop sessions is not implemented on this platform yet")
}
