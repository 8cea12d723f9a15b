//go:build unix

package update

import (
	"os"
	"slices"
	"strings"
	"syscall"
)

func interrupt(p *os.Process) error { return p.Signal(syscall.SIGTERM) }

// Restart replaces this process with the binary at Exe, with args: the
// process id stays, so the service manager (or whoever started the agent)
// keeps it.
func (u *Updater) Restart(args []string) error {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, TrialEnv+"=") })
	return syscall.Exec(u.cfg.Exe, append([]string{u.cfg.Exe}, args...), env)
}
