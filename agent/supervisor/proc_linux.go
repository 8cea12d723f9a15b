package supervisor

import "syscall"

// setParentDeath stops the helper if the service dies without stopping it.
func setParentDeath(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGTERM }
