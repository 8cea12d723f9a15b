//go:build unix

package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"
)

// StartSessionBus starts a private D-Bus session bus (dbus-daemon) with
// its socket in dir and returns it with its address. It waits at most
// timeout for the address; on failure the process is stopped and the
// error carries its stderr.
func StartSessionBus(dir string, timeout time.Duration) (*Proc, string, error) {
	cmd := exec.Command("dbus-daemon", "--session", "--nofork", "--nopidfile",
		"--address=unix:path="+filepath.Join(dir, "bus"), "--print-address=3")
	p, addr, err := startReadingFD3(context.Background(), "dbus-daemon", cmd, timeout)
	if err != nil {
		return nil, "", err
	}
	if addr == "" {
		p.Stop(time.Second)
		return nil, "", fmt.Errorf("dbus-daemon printed no address; stderr:\n%s", p.Stderr)
	}
	return p, addr, nil
}
