package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/agent/runner"
)

// defaultCommand runs this executable's session command.
func (c *Config) defaultCommand(ctx context.Context, d Desktop) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	args := []string{"session", "--ipc", c.SocketPath, "--desktop", d.Key}
	if d.Greeter {
		// A login screen: even as the display manager's own user, nothing
		// there may open a file chooser or take files.
		args = append(args, "--login-screen")
	}
	if c.LogLevel != "" {
		args = append(args, "--log-level", c.LogLevel)
	}
	if c.LogFormat != "" {
		args = append(args, "--log-format", c.LogFormat)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = helperEnv(os.Environ(), d)
	setUser(cmd, d)
	return cmd
}

// helperEnv is the service's environment without TETHER_* settings (the
// helper has no use for the agent's configuration, least of all its token)
// and without what names a desktop, plus the desktop's. TETHER_CAPTURE
// (the capture method) and TETHER_VIDEO are the helper's own settings and
// pass.
func helperEnv(base []string, d Desktop) []string {
	var env []string
	for _, kv := range base {
		if len(kv) >= 7 && kv[:7] == "TETHER_" && !strings.HasPrefix(kv, "TETHER_CAPTURE=") && !strings.HasPrefix(kv, "TETHER_VIDEO=") {
			continue
		}
		if k, _, _ := strings.Cut(kv, "="); slices.Contains(desktopVars, k) {
			continue // an X desktop's helper must not take a Wayland one's
		}
		env = append(env, kv)
	}
	return append(env, d.Env...)
}

// desktopVars name the desktop a process draws on.
var desktopVars = []string{"DISPLAY", "XAUTHORITY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"}

// startHelper starts a helper's command; proc_windows.go replaces it to
// create the process in the desktop's WTS session.
var startHelper = func(_ context.Context, cmd *exec.Cmd, _ Desktop) error { return cmd.Start() }

// helper is one supervised helper and its IPC connection.
type helper struct {
	desk   Desktop
	cancel context.CancelFunc
	done   chan struct{}
	conn   *ipc.Conn // nil until it connected and said ready
}

func (s *Supervisor) scanLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.ScanInterval)
	defer t.Stop()
	for {
		s.scan(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// scan starts helpers for new desktops and stops those of vanished ones,
// after handing their sessions away. A change of the active desktop wakes
// the hand-over (reconcile).
func (s *Supervisor) scan(ctx context.Context) {
	ds, err := s.cfg.Desktops(ctx)
	if err != nil {
		s.log.Debug("listing desktop sessions", "error", err)
	}
	type gone struct {
		key string
		h   *helper
		ids []string
	}
	var vanished []gone
	s.mu.Lock()
	for key, h := range s.helpers {
		if !slices.ContainsFunc(ds, func(d Desktop) bool { return d.Key == key }) {
			g := gone{key: key, h: h}
			for id, ts := range s.sessions {
				if ts.desktop == key {
					ts.desktop = ""
					g.ids = append(g.ids, id)
				}
			}
			vanished = append(vanished, g)
			delete(s.helpers, key)
		}
	}
	active := ""
	for _, d := range ds {
		if d.Active && active == "" {
			active = d.Key
		}
		if h, ok := s.helpers[d.Key]; ok {
			h.desk.Active = d.Active
			continue
		}
		hctx, cancel := context.WithCancel(ctx)
		h := &helper{desk: d, cancel: cancel, done: make(chan struct{})}
		s.helpers[d.Key] = h
		go func() {
			defer close(h.done)
			s.superviseHelper(hctx, d)
		}()
	}
	if active != s.activeKey || len(vanished) > 0 {
		if active != s.activeKey {
			s.log.Info("active desktop changed", "from", s.activeKey, "to", active)
		}
		s.activeKey = active
		s.notifyLocked()
	}
	s.mu.Unlock()
	for _, g := range vanished {
		s.log.Info("desktop session gone; stopping its helper", "desktop", g.key)
		c := g.h.connection(&s.mu)
		if c == nil || len(g.ids) == 0 {
			g.h.cancel()
			continue
		}
		// Its sessions go to another desktop's helper (or end there):
		// drop them first, and stop the helper only once it confirmed,
		// so that it does not end them on the server as it stops.
		w := &dropWait{key: g.key, ids: map[string]bool{}, done: make(chan struct{})}
		for _, id := range g.ids {
			w.ids[id] = true
		}
		s.mu.Lock()
		s.dropWaits = append(s.dropWaits, w)
		s.mu.Unlock()
		s.handMu.Lock()
		for _, id := range g.ids {
			_ = c.Send(ipc.Msg{Type: ipc.TypeDrop, SessionID: id})
		}
		s.handMu.Unlock()
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			t := time.NewTimer(dropAckWait)
			defer t.Stop()
			select {
			case <-w.done:
			case <-t.C:
				s.log.Warn("the helper of a vanished desktop did not confirm its hand-overs; stopping it", "desktop", g.key)
			case <-ctx.Done():
			}
			s.mu.Lock()
			s.dropWaits = slices.DeleteFunc(s.dropWaits, func(x *dropWait) bool { return x == w })
			s.mu.Unlock()
			g.h.cancel()
		}()
	}
}

// dropConfirmedLocked notes that the helper of key dropped id (id "": it
// disconnected, so it holds nothing any more).
func (s *Supervisor) dropConfirmedLocked(key, id string) {
	for _, w := range s.dropWaits {
		if w.key != key || len(w.ids) == 0 {
			continue
		}
		if id == "" {
			clear(w.ids)
		} else {
			delete(w.ids, id)
		}
		if len(w.ids) == 0 {
			close(w.done)
		}
	}
}

func (h *helper) connection(mu *sync.Mutex) *ipc.Conn {
	mu.Lock()
	defer mu.Unlock()
	return h.conn
}

// superviseHelper runs the helper for d, again after each exit with
// back-off, until ctx ends.
func (s *Supervisor) superviseHelper(ctx context.Context, d Desktop) {
	log := s.log.With("desktop", d.Key)
	bo := runner.Backoff{Initial: s.cfg.BackoffInitial, Max: s.cfg.BackoffMax, Rand: s.cfg.Rand}
	for ctx.Err() == nil {
		begin := time.Now()
		err := s.runHelper(ctx, d, log)
		if ctx.Err() != nil {
			log.Info("session helper stopped")
			return
		}
		if time.Since(begin) > healthyRun {
			bo.Reset()
		}
		delay := bo.Next()
		log.Warn("session helper exited; restarting it", "error", err, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// runHelper runs d's helper once, until it exits: with what it needs from
// the supervisor for that run (prepareHelper: a login screen's private X
// authority), removed when it has exited.
func (s *Supervisor) runHelper(ctx context.Context, d Desktop, log *slog.Logger) error {
	env, cleanup, err := prepareHelper(d)
	if err != nil {
		return fmt.Errorf("preparing the helper's desktop access: %w", err)
	}
	defer cleanup()
	if len(env) > 0 {
		d.Env = append(slices.Clone(d.Env), env...)
	}
	cmd := s.cfg.Command(ctx, d)
	if cmd.Stderr == nil {
		cmd.Stderr = s.cfg.HelperOutput
	}
	cmd.Cancel = func() error { return interrupt(cmd.Process) }
	cmd.WaitDelay = stopGrace
	if err := startHelper(ctx, cmd, d); err != nil {
		return err
	}
	log.Info("session helper started", "pid", cmd.Process.Pid, "user", d.User, "uid", d.UID, "greeter", d.Greeter)
	return cmd.Wait()
}
