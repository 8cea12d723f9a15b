//go:build unix && !linux

package testenv

import "syscall"

// sysProcAttr puts a started binary in its own process group.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
