package update

import (
	"errors"
	"os"
)

func interrupt(p *os.Process) error { return p.Kill() }

// ErrRestartByService: Windows cannot replace a running process; the agent
// exits and the service manager's recovery action starts the new binary.
var ErrRestartByService = errors.New("update confirmed: exiting so that the service manager starts the new binary")

// Restart on Windows leaves it to the service manager.
func (u *Updater) Restart([]string) error { return ErrRestartByService }
