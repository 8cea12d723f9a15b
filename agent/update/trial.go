package update

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/tetherdesk/tether/shared/protocol"
)

// Outcome of a trial.
type Outcome int

const (
	Confirmed  Outcome = iota // the new binary polled: restart into it
	RolledBack                // the old binary is back: carry on
)

// Trial swaps the binary in and runs it on trial with args (this
// process's own arguments), its output to out. The caller has stopped its
// own work first. On Confirmed the caller restarts into Exe (Restart).
func (u *Updater) Trial(ctx context.Context, r Ready, args []string, out io.Writer) Outcome {
	exe, prev := u.cfg.Exe, u.cfg.Exe+".prev"
	u.mu.Lock()
	err := swap(exe, r.path, prev)
	if err == nil {
		u.st.Phase, u.st.From, u.st.To = phaseTrial, u.cfg.Version, r.Version
		u.report(protocol.UpdateReport{Phase: protocol.UpdateInstalled, From: u.cfg.Version, To: r.Version})
	}
	u.mu.Unlock()
	if err != nil {
		u.fail(r.Version, protocol.UpdateFailed, fmt.Sprintf("installing: %v", err))
		return RolledBack
	}
	u.log.Info("update installed; running it on trial", "from", u.cfg.Version, "to", r.Version, "confirm_within", u.cfg.ConfirmTimeout)

	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), TrialEnv+"=1")
	cmd.Stdout, cmd.Stderr = out, out
	why := ""
	if err := cmd.Start(); err != nil {
		why = fmt.Sprintf("the new binary did not start: %v", err)
	} else {
		why = u.watch(ctx, cmd)
	}
	if why == "" {
		u.log.Info("update confirmed", "version", r.Version)
		return Confirmed
	}
	// Put the old binary back.
	if err := os.Rename(prev, exe); err != nil {
		u.log.Error("rolling back: restoring the previous binary", "error", err)
		why += fmt.Sprintf("; restoring the previous binary failed: %v", err)
	}
	u.fail(r.Version, protocol.UpdateRolledBack, why)
	u.log.Warn("update rolled back", "to", r.Version, "why", why)
	return RolledBack
}

// watch waits for the child on trial to confirm (""), or says why not.
// The child is stopped either way.
func (u *Updater) watch(ctx context.Context, cmd *exec.Cmd) string {
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.NewTimer(u.cfg.ConfirmTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if u.onDisk().Phase == phaseConfirmed {
			stop(cmd, exited)
			return ""
		}
		select {
		case err := <-exited:
			if u.onDisk().Phase == phaseConfirmed {
				return "" // confirmed just before it went
			}
			return fmt.Sprintf("the new binary exited (%v) before its first poll", err)
		case <-deadline.C:
			stop(cmd, exited)
			return fmt.Sprintf("the new binary did not poll the server within %s", u.cfg.ConfirmTimeout)
		case <-ctx.Done():
			stop(cmd, exited)
			return "the agent was stopped during the trial"
		case <-tick.C:
		}
	}
}

// stop ends the child: politely, then not.
func stop(cmd *exec.Cmd, exited chan error) {
	_ = interrupt(cmd.Process)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// onDisk reads the state the child may have written.
func (u *Updater) onDisk() State {
	st, _ := readState(u.cfg.StateDir) // written atomically; unreadable reads as none
	return st
}

// fail records a version that is not to be tried again, with its report,
// starting from the state on disk (the child may have sent reports).
func (u *Updater) fail(version string, phase protocol.UpdatePhase, why string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.st = u.onDisk()
	u.st.Phase, u.st.From, u.st.To = phaseNone, "", ""
	u.st.Failed = append(u.st.Failed, version)
	u.busy = false
	u.report(protocol.UpdateReport{Phase: phase, From: u.cfg.Version, To: version, Error: why})
}

// swap puts next in place of exe, keeping exe as prev. Each step is a
// rename or a link, so exe is always a whole binary.
func swap(exe, next, prev string) error {
	os.Remove(prev)
	if err := os.Link(exe, prev); err != nil {
		// No hard links here (another filesystem): copy.
		if err := copyFile(exe, prev); err != nil {
			return fmt.Errorf("keeping the previous binary: %w", err)
		}
	}
	if err := os.Rename(next, exe); err != nil {
		return fmt.Errorf("putting the new binary in place: %w", err)
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return errors.Join(out.Sync(), out.Close())
}
