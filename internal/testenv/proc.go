//go:build unix

package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Proc is a started helper process in its own process group (on Linux the
// kernel also kills it if the test binary dies first, when a go test
// -timeout panic runs no cleanups).
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	// Stdout and Stderr collect the process's output when the command came
	// without a Stdout or Stderr of its own; otherwise they stay empty.
	Stdout, Stderr *Lines
	done           chan struct{} // closed when the process has been reaped
	state          *os.ProcessState
}

// Start starts cmd. Its Env, Stdin, ExtraFiles, the Credential of its
// SysProcAttr, and Stdout and Stderr when set, are kept.
func Start(name string, cmd *exec.Cmd) (*Proc, error) {
	p := &Proc{Name: name, Cmd: cmd, Stdout: &Lines{}, Stderr: &Lines{}, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p.Stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.Stderr
	}
	attr := sysProcAttr()
	if cmd.SysProcAttr != nil {
		attr.Credential = cmd.SysProcAttr.Credential // run as another user
	}
	cmd.SysProcAttr = attr
	cmd.WaitDelay = 5 * time.Second // do not hang on a pipe a stray child holds
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		_ = cmd.Wait()
		p.state = cmd.ProcessState
		close(p.done)
	}()
	return p, nil
}

// Pid is the process's id (and its group's).
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Done is closed once the process has ended and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// State is the ended process's state; nil while it runs.
func (p *Proc) State() *os.ProcessState {
	if !p.Exited() {
		return nil
	}
	return p.state
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process itself (not its group), as a service
// manager would.
func (p *Proc) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Kill ends the whole process group at once and reaps the process.
func (p *Proc) Kill() {
	if !p.Exited() {
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		<-p.done
	}
}

// Stop sends SIGTERM to the process itself, waits up to grace, then kills
// its whole group; it reports whether the process exited by itself.
func (p *Proc) Stop(grace time.Duration) bool {
	if p.Exited() {
		return true
	}
	_ = p.Signal(syscall.SIGTERM)
	clean := false
	select {
	case <-p.done:
		clean = true
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
	return clean
}
