package supervisor

import (
	"os"
	"os/exec"
)

func interrupt(p *os.Process) error { return p.Kill() }

// setUser: starting the helper in the user's session with the user's token
// (WTSQueryUserToken + CreateProcessAsUser) is not implemented yet; see
// DesktopsFromSystem, which reports no desktops on Windows.
func setUser(*exec.Cmd, Desktop) {}
