//go:build !windows

package main

import "os"

// runsAsAdministrator: the service runs as root.
func runsAsAdministrator() bool { return os.Geteuid() == 0 }
