//go:build !windows

package session

import "os"

// RunningPrivileged reports whether this process runs as root (effective
// uid 0): a helper that does sets HelperConfig.Privileged.
func RunningPrivileged() bool { return os.Geteuid() == 0 }
