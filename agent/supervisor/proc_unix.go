//go:build unix

package supervisor

import (
	"os"
	"os/exec"
	"syscall"
)

func interrupt(p *os.Process) error { return p.Signal(syscall.SIGTERM) }

// setUser runs the helper as the desktop's user when the service is root
// and the desktop belongs to someone else.
func setUser(cmd *exec.Cmd, d Desktop) {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if d.UID >= 0 && os.Geteuid() == 0 && d.UID != os.Geteuid() {
		attr.Credential = &syscall.Credential{Uid: uint32(d.UID), Gid: uint32(max(d.GID, 0))}
	}
	setParentDeath(attr)
	cmd.SysProcAttr = attr
}
