//go:build linux || darwin

package terminal

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	creack "github.com/creack/pty"
)

const defaultShell = "/bin/sh"

type unixPTY struct {
	f   *os.File
	cmd *exec.Cmd
}

func startPTY(cfg Config) (pty, error) {
	cmd := exec.Command(cfg.Shell[0], cfg.Shell[1:]...)
	cmd.Dir = cfg.Dir
	cmd.Env = cfg.Env
	// The shell leads a session of its own with the pty as its
	// controlling terminal (creack/pty sets Setsid and Setctty), so
	// Close can end it and all it started.
	f, err := creack.StartWithSize(cmd, &creack.Winsize{Cols: uint16(cfg.Cols), Rows: uint16(cfg.Rows)})
	if err != nil {
		return nil, err
	}
	return &unixPTY{f: f, cmd: cmd}, nil
}

func (p *unixPTY) Read(b []byte) (int, error)  { return p.f.Read(b) }
func (p *unixPTY) Write(b []byte) (int, error) { return p.f.Write(b) }

func (p *unixPTY) resize(cols, rows int) error {
	return creack.Setsize(p.f, &creack.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
}

func (p *unixPTY) wait() (int, error) {
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

func (p *unixPTY) kill() error {
	// The whole session: a shell's children (a pager, a background job
	// in a process group of its own) go too. Only what left the session
	// on purpose (a daemon) stays, as after an SSH logout.
	if p.cmd.Process != nil {
		for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGKILL} {
			for _, pid := range sessionMembers(p.cmd.Process.Pid) {
				_ = syscall.Kill(pid, sig)
			}
			_ = syscall.Kill(-p.cmd.Process.Pid, sig)
		}
	}
	return p.f.Close()
}

// loginShell is this process's user's shell in /etc/passwd, "" when it
// has none there (macOS keeps users elsewhere: SHELL is set there) or
// none that logs in.
func loginShell() string {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return ""
	}
	defer f.Close()
	return shellOf(f, strconv.Itoa(os.Getuid()))
}

// shellOf reads uid's shell from a passwd file.
func shellOf(passwd io.Reader, uid string) string {
	sc := bufio.NewScanner(passwd)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), ":")
		if len(fs) != 7 || fs[2] != uid || !strings.HasPrefix(fs[6], "/") {
			continue
		}
		// An account without logins (a service's, a kiosk's desktop)
		// gets the plain shell: the technician's permission is what
		// opens this one, and the helper runs as that user anyway.
		if b := filepath.Base(fs[6]); b == "nologin" || b == "false" {
			return ""
		}
		return fs[6]
	}
	return ""
}
