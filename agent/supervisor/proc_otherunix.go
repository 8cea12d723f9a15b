//go:build unix && !linux

package supervisor

import "syscall"

func setParentDeath(*syscall.SysProcAttr) {}
