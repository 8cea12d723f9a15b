package turnrelay

import "syscall"

// childProcAttr has the kernel kill a helper program if the test binary
// dies first (a panic or a -timeout runs no cleanups).
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
