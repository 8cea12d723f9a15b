package testenv

import "syscall"

// sysProcAttr puts a started binary in its own process group and has the
// kernel kill it if the test binary dies first (a go test -timeout panic
// runs no cleanups), so no server or agent outlives the test run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
