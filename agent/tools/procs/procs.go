// Package procs is the processes tool: the endpoint's processes with
// their user, CPU, memory and command line, and ending one. It reads them
// through gopsutil (/proc on Linux, the toolhelp snapshot on Windows).
package procs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/shirou/gopsutil/v4/process"

	"github.com/tetherdesk/tether/shared/protocol"
)

// Lister lists processes; each listing's CPU figures cover the time since
// the one before.
type Lister struct {
	mu     sync.Mutex
	prev   map[int32]sample
	prevAt time.Time
	users  map[string]string // uid → name
	now    func() time.Time
}

type sample struct {
	started int64   // ms since 1970: the same pid reused is another process
	cpu     float64 // user+system seconds
}

// NewLister returns a Lister.
func NewLister() *Lister { return &Lister{now: time.Now} }

// List returns every process it can read, by pid. A process that ends
// while it is read is left out.
func (l *Lister) List(ctx context.Context) ([]protocol.ProcessInfo, error) {
	ps, err := process.ProcessesWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	cur := make(map[int32]sample, len(ps))
	out := make([]protocol.ProcessInfo, 0, len(ps))
	for _, p := range ps {
		started, err := p.CreateTimeWithContext(ctx)
		if err != nil {
			continue // gone
		}
		pi := protocol.ProcessInfo{PID: p.Pid, Started: started}
		pi.PPID, _ = p.PpidWithContext(ctx)
		pi.Name, _ = p.NameWithContext(ctx)
		if cmd, err := p.CmdlineWithContext(ctx); err == nil {
			pi.Command = cut(cmd, protocol.MaxCommandLine)
		}
		pi.User = l.user(ctx, p)
		if mi, err := p.MemoryInfoWithContext(ctx); err == nil && mi != nil {
			pi.RSS = mi.RSS
		}
		if ts, err := p.TimesWithContext(ctx); err == nil && ts != nil {
			spent := ts.User + ts.System
			cur[p.Pid] = sample{started: started, cpu: spent}
			since, base := now.Sub(time.UnixMilli(started)), 0.0
			if pr, ok := l.prev[p.Pid]; ok && pr.started == started && !l.prevAt.IsZero() {
				since, base = now.Sub(l.prevAt), pr.cpu
			}
			if since > 0 {
				pi.CPU = max(0, (spent-base)/since.Seconds()*100)
			}
		}
		out = append(out, pi)
	}
	l.prev, l.prevAt = cur, now
	slices.SortFunc(out, func(a, b protocol.ProcessInfo) int { return int(a.PID - b.PID) })
	return out, nil
}

func (l *Lister) user(ctx context.Context, p *process.Process) string {
	uids, err := p.UidsWithContext(ctx)
	key := ""
	if err == nil && len(uids) > 0 {
		key = fmt.Sprint(uids[0])
		if n, ok := l.users[key]; ok {
			return n
		}
	}
	name, err := p.UsernameWithContext(ctx)
	if err != nil {
		name = key
	}
	if key != "" {
		if l.users == nil {
			l.users = map[string]string{}
		}
		l.users[key] = name
	}
	return name
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1] // not in the middle of a character
	}
	return s + "…"
}

// Errors of End.
var (
	ErrGone      = errors.New("no such process (it ended, or its id now names another one)")
	ErrProtected = errors.New("this process is not ended from here: the system's first process, or the agent itself")
)

// EndWait is how long End waits for a process to end on its own before it
// kills it.
const EndWait = 3 * time.Second

// End ends process pid, started at started (ms since 1970, 0: whichever
// has the id): asked to end first (SIGTERM, or TerminateProcess on
// Windows), killed if it still runs after EndWait.
func End(ctx context.Context, pid int32, started int64) error {
	if pid <= 1 || int(pid) == os.Getpid() || int(pid) == os.Getppid() && os.Getppid() > 1 {
		return ErrProtected
	}
	p, err := process.NewProcessWithContext(ctx, pid)
	if err != nil {
		return ErrGone
	}
	if started != 0 {
		if st, err := p.CreateTimeWithContext(ctx); err != nil || st != started {
			return ErrGone
		}
	}
	if err := p.TerminateWithContext(ctx); err != nil {
		return fmt.Errorf("ending process %d: %w", pid, err)
	}
	deadline := time.Now().Add(EndWait)
	for time.Now().Before(deadline) {
		if running, err := p.IsRunningWithContext(ctx); err != nil || !running {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := p.KillWithContext(ctx); err != nil {
		return fmt.Errorf("killing process %d: %w", pid, err)
	}
	return nil
}
