//go:build !windows

package session

import (
	"os"
	"testing"
)

// TestRunningPrivileged: the helper process is privileged exactly when it
// runs as root.
func TestRunningPrivileged(t *testing.T) {
	if got, want := RunningPrivileged(), os.Geteuid() == 0; got != want {
		t.Errorf("RunningPrivileged() = %v with euid %d", got, os.Geteuid())
	}
}
