//go:build unix

package testenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// StartSessionBus starts a private D-Bus session bus (dbus-daemon) with
// its socket in dir and returns it with its address. It waits at most
// timeout for the address; on failure the process is stopped and the
// error carries its stderr.
func StartSessionBus(dir string, timeout time.Duration) (*Proc, string, error) {
	r, wr, err := os.Pipe()
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	cmd := exec.Command("dbus-daemon", "--session", "--nofork", "--nopidfile",
		"--address=unix:path="+filepath.Join(dir, "bus"), "--print-address=3")
	cmd.ExtraFiles = []*os.File{wr}
	p, err := Start("dbus-daemon", cmd)
	wr.Close()
	if err != nil {
		return nil, "", err
	}
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	select {
	case addr := <-got:
		if addr == "" {
			p.Stop(time.Second)
			return nil, "", fmt.Errorf("dbus-daemon printed no address; stderr:\n%s", p.Stderr)
		}
		return p, addr, nil
	case <-time.After(timeout):
		p.Stop(time.Second)
		return nil, "", fmt.Errorf("dbus-daemon printed no address within %s; stderr:\n%s", timeout, p.Stderr)
	}
}
