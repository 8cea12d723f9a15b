// Package supervisor is the service side of screen sharing: it starts and
// supervises one session helper (`tether-agent session`) per interactive
// desktop session, restarting a crashed helper with back-off, accepts the
// helpers' IPC connections (peer credentials checked), and hands each
// screenshare.start action to the helper of the active desktop. The agent's
// secret never crosses to a helper: only the per-session token does.
package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/agent/runner"
	"github.com/tetherdesk/tether/shared/policy"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Desktop is one interactive desktop session a helper runs in.
type Desktop struct {
	// Key identifies the desktop across scans, e.g. "x11:1000::0".
	Key string
	// UID and GID the helper runs as; -1 means the service's own user.
	UID, GID int
	User     string
	// Env is added to the helper's environment (DISPLAY, XAUTHORITY, ...).
	Env []string
	// Active marks the desktop in front of the user; sessions go there.
	Active bool
}

// Defaults.
const (
	// DefaultScanInterval bounds how long a change of the active desktop
	// (a login, a user or VT switch) takes to reach the viewers.
	DefaultScanInterval   = 3 * time.Second
	DefaultBackoffInitial = time.Second
	DefaultBackoffMax     = time.Minute
	DefaultReadyTimeout   = 20 * time.Second
	// healthyRun: a helper that ran this long resets the back-off.
	healthyRun = 30 * time.Second
	stopGrace  = 3 * time.Second
)

// ErrNoDesktop: no desktop session with a helper is available.
var ErrNoDesktop = errors.New("no interactive desktop session is available on this endpoint")

// Config configures a Supervisor.
type Config struct {
	// SocketPath is where helpers connect.
	SocketPath string
	// Server and Fingerprint are passed to helpers for the signalling
	// websocket.
	Server, Fingerprint string
	// Policy returns the screen-share policy the agent holds now.
	Policy func() policy.ScreenShare
	// RedeemCode enters a connection code a helper's tray sent, with the
	// agent's credentials (runner.Runner.RedeemCode); nil answers every
	// code with a failure.
	RedeemCode func(ctx context.Context, code string) (protocol.RedeemCodeResponse, error)
	// Desktops lists the desktop sessions; called every ScanInterval.
	Desktops func(ctx context.Context) ([]Desktop, error)
	// Command builds the helper process for d (exec.CommandContext with
	// ctx). Default: this executable's `session` command, as d's user.
	Command func(ctx context.Context, d Desktop) *exec.Cmd
	// HelperOutput receives the helpers' stderr (their logs); default
	// os.Stderr.
	HelperOutput io.Writer
	// LogLevel and LogFormat are passed to helpers.
	LogLevel, LogFormat string
	Logger              *slog.Logger

	ScanInterval   time.Duration
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	// ReadyTimeout bounds how long a start waits for the helper to connect.
	ReadyTimeout time.Duration
	Rand         func(int64) int64
}

// CheckAndSetDefaults validates the config and fills in defaults.
func (c *Config) CheckAndSetDefaults() error {
	if c.SocketPath == "" || c.Server == "" || c.Desktops == nil {
		return errors.New("supervisor: SocketPath, Server and Desktops are required")
	}
	if c.Policy == nil {
		c.Policy = policy.Default
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.HelperOutput == nil {
		c.HelperOutput = os.Stderr
	}
	if c.Command == nil {
		c.Command = c.defaultCommand
	}
	if c.ScanInterval <= 0 {
		c.ScanInterval = DefaultScanInterval
	}
	if c.BackoffInitial <= 0 {
		c.BackoffInitial = DefaultBackoffInitial
	}
	if c.BackoffMax < c.BackoffInitial {
		c.BackoffMax = max(DefaultBackoffMax, c.BackoffInitial)
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	return nil
}

// defaultCommand runs this executable's session command.
func (c *Config) defaultCommand(ctx context.Context, d Desktop) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	args := []string{"session", "--ipc", c.SocketPath, "--desktop", d.Key}
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
// plus the desktop's. TETHER_CAPTURE, the capture method, is the helper's
// own setting and passes.
func helperEnv(base []string, d Desktop) []string {
	var env []string
	for _, kv := range base {
		if len(kv) >= 7 && kv[:7] == "TETHER_" && !strings.HasPrefix(kv, "TETHER_CAPTURE=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, d.Env...)
}

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

// Supervisor runs the helpers. Create with New, then Run once.
type Supervisor struct {
	cfg Config
	log *slog.Logger

	mu          sync.Mutex
	unavailable error // why Run could not serve helpers, if it could not
	helpers     map[string]*helper
	changed     chan struct{} // closed and replaced when a helper (dis)connects or the active desktop changes
	activeKey   string        // the desktop marked active at the last scan
	sessions    map[string]*tracked
	serverState string        // ipc.Server*, told to helpers for their trays
	statusKick  chan struct{} // SetServerState → statusLoop

	// statusMu orders the server states sent to helpers.
	statusMu sync.Mutex

	// handMu orders what is sent to helpers about sessions (start, drop),
	// so that a hand-over never overtakes the start it moves.
	handMu sync.Mutex
}

// tracked is a session handed to a helper, until it ends.
type tracked struct {
	start   protocol.ScreenShareStart
	desktop string // key of the helper that has it; "" when its desktop vanished
	state   string // last state the helper reported
}

// New checks cfg.
func New(cfg Config) (*Supervisor, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	return &Supervisor{
		cfg:         cfg,
		log:         cfg.Logger.With("component", "supervisor"),
		helpers:     map[string]*helper{},
		changed:     make(chan struct{}),
		sessions:    map[string]*tracked{},
		serverState: ipc.ServerConnecting,
		statusKick:  make(chan struct{}, 1),
	}, nil
}

// Run listens for helpers and keeps one running per desktop until ctx
// ends; then it stops every helper and returns.
func (s *Supervisor) Run(ctx context.Context) error {
	ln, err := ipc.Listen(ipc.ListenConfig{Path: s.cfg.SocketPath, Allowed: s.allowed})
	if err != nil {
		err = fmt.Errorf("screen sharing is unavailable: %w", err)
		s.mu.Lock()
		s.unavailable = err
		s.notifyLocked()
		s.mu.Unlock()
		return err
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		s.acceptLoop(ctx, ln, &wg)
	}()
	go func() {
		defer wg.Done()
		s.statusLoop(ctx)
	}()
	go func() {
		defer wg.Done()
		s.reconcileLoop(ctx)
	}()
	s.scanLoop(ctx)
	ln.Close()
	s.mu.Lock()
	hs := make([]*helper, 0, len(s.helpers))
	for _, h := range s.helpers {
		hs = append(hs, h)
	}
	s.mu.Unlock()
	for _, h := range hs {
		h.cancel()
	}
	for _, h := range hs {
		<-h.done
	}
	wg.Wait()
	return nil
}

// allowed: root, the service's own user, or the user of a desktop we run a
// helper for.
func (s *Supervisor) allowed(uid uint32) bool {
	if uid == 0 || int(uid) == os.Geteuid() {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.helpers {
		if h.desk.UID >= 0 && uint32(h.desk.UID) == uid {
			return true
		}
	}
	return false
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
		// Its sessions go to another desktop's helper: drop them first so
		// the stopping helper does not end them on the server.
		if c := g.h.connection(&s.mu); c != nil {
			s.handMu.Lock()
			for _, id := range g.ids {
				_ = c.Send(ipc.Msg{Type: ipc.TypeDrop, SessionID: id})
			}
			s.handMu.Unlock()
		}
		g.h.cancel()
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
		cmd := s.cfg.Command(ctx, d)
		if cmd.Stderr == nil {
			cmd.Stderr = s.cfg.HelperOutput
		}
		cmd.Cancel = func() error { return interrupt(cmd.Process) }
		cmd.WaitDelay = stopGrace
		begin := time.Now()
		err := startHelper(ctx, cmd, d)
		if err == nil {
			log.Info("session helper started", "pid", cmd.Process.Pid, "user", d.User)
			err = cmd.Wait()
		}
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

func (s *Supervisor) acceptLoop(ctx context.Context, ln *ipc.Listener, wg *sync.WaitGroup) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, ipc.ErrPeerRefused) {
				s.log.Warn("refused a connection to the helper socket", "error", err)
				continue
			}
			s.log.Error("accepting helper connections", "error", err)
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, c)
		}()
	}
}

// serveConn handles one helper connection: its ready message binds it to
// its desktop, then state reports are logged until it disconnects.
func (s *Supervisor) serveConn(ctx context.Context, c *ipc.Conn) {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()
	m, err := c.Recv()
	if err != nil || m.Type != ipc.TypeReady {
		s.log.Warn("helper connection without ready message", "error", err)
		return
	}
	key := m.Desktop
	s.mu.Lock()
	h := s.helpers[key]
	if h == nil || !(c.UID == 0 || int(c.UID) == os.Geteuid() || h.desk.UID >= 0 && uint32(h.desk.UID) == c.UID) {
		s.mu.Unlock()
		s.log.Warn("refused a helper for an unknown desktop or another user", "desktop", key, "uid", c.UID)
		return
	}
	h.conn = c
	s.notifyLocked()
	s.mu.Unlock()
	s.log.Info("session helper connected", "desktop", key, "pid", m.PID)
	s.sendStatus(c, key)
	// A connection code in flight, at most one per helper: a second one
	// while the first is checked is answered at once.
	var (
		codes    sync.WaitGroup
		checking atomic.Bool
	)
	defer codes.Wait()
	defer func() {
		s.mu.Lock()
		if h.conn == c {
			h.conn = nil
			// The helper's sessions ended with its connection.
			for id, ts := range s.sessions {
				if ts.desktop == key {
					delete(s.sessions, id)
				}
			}
			s.notifyLocked()
		}
		s.mu.Unlock()
	}()
	for {
		m, err := c.Recv()
		if errors.Is(err, ipc.ErrMalformed) {
			s.log.Warn("ignoring malformed message from a helper", "desktop", key, "error", err)
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				s.log.Info("session helper disconnected", "desktop", key)
			}
			return
		}
		if m.Type == ipc.TypeCode {
			if !checking.CompareAndSwap(false, true) {
				res := ipc.CodeResult{Outcome: ipc.CodeFailed, Message: "another connection code is being checked"}
				_ = c.Send(ipc.Msg{Type: ipc.TypeCodeResult, ReqID: m.ReqID, CodeResult: &res})
				continue
			}
			codes.Add(1)
			go func(reqID, code string) {
				defer codes.Done()
				res := s.redeemCode(ctx, key, code)
				// Free before answering: the user may try again at once.
				checking.Store(false)
				if err := c.Send(ipc.Msg{Type: ipc.TypeCodeResult, ReqID: reqID, CodeResult: &res}); err != nil {
					s.log.Warn("answering a helper's connection code", "desktop", key, "error", err)
				}
			}(m.ReqID, m.Code)
			continue
		}
		if m.Type == ipc.TypeSAS {
			s.mu.Lock()
			ts := s.sessions[m.SessionID]
			live := ts != nil && ts.desktop == key
			s.mu.Unlock()
			if !live {
				s.log.Warn("Ctrl+Alt+Del asked for a session this helper does not hold", "session_id", m.SessionID, "desktop", key)
				continue
			}
			if err := sendSAS(); err != nil {
				s.log.Warn("Ctrl+Alt+Del", "session_id", m.SessionID, "error", err)
			} else {
				s.log.Info("Ctrl+Alt+Del sent", "session_id", m.SessionID)
			}
			continue
		}
		if m.Type == ipc.TypeState {
			attrs := []any{"session_id", m.SessionID, "state", m.State, "desktop", key}
			if m.Reason != "" {
				attrs = append(attrs, "reason", m.Reason)
			}
			if m.Error != "" {
				attrs = append(attrs, "error", m.Error)
			}
			s.log.Info("helper session state", attrs...)
			s.mu.Lock()
			if ts := s.sessions[m.SessionID]; ts != nil && ts.desktop == key {
				if m.State == protocol.SessionEnded {
					delete(s.sessions, m.SessionID)
				} else {
					ts.state = m.State
				}
			}
			s.mu.Unlock()
		}
	}
}

func (s *Supervisor) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// HandOutput is the result of a screenshare.start the service handed over.
type HandOutput struct {
	HandedOver bool   `json:"handed_over"`
	Desktop    string `json:"desktop"`
}

// Handle is the action handler for protocol.ActionScreenShareStart: it
// passes the session to the active desktop's helper and returns at once.
func (s *Supervisor) Handle(ctx context.Context, payload json.RawMessage) (any, error) {
	var start protocol.ScreenShareStart
	if err := json.Unmarshal(payload, &start); err != nil {
		return nil, fmt.Errorf("decoding screenshare.start payload: %w", err)
	}
	if start.SessionID == "" || start.AgentToken == "" {
		return nil, errors.New("screenshare.start payload lacks session_id or agent_token")
	}
	pol := s.cfg.Policy()
	msg := ipc.Msg{Type: ipc.TypeStart, Start: &start, Server: s.cfg.Server, Fingerprint: s.cfg.Fingerprint, Policy: &pol}
	timer := time.NewTimer(s.cfg.ReadyTimeout)
	defer timer.Stop()
	for {
		s.handMu.Lock()
		s.mu.Lock()
		key, conn, known := s.activeLocked()
		changed, unavailable := s.changed, s.unavailable
		if conn != nil && unavailable == nil {
			if _, dup := s.sessions[start.SessionID]; dup {
				s.mu.Unlock()
				s.handMu.Unlock()
				return HandOutput{HandedOver: true, Desktop: key}, nil
			}
			s.sessions[start.SessionID] = &tracked{start: start, desktop: key, state: protocol.SessionRequested}
		}
		s.mu.Unlock()
		if unavailable != nil {
			s.handMu.Unlock()
			return nil, unavailable
		}
		if conn != nil {
			err := conn.Send(msg)
			if err != nil {
				s.mu.Lock()
				delete(s.sessions, start.SessionID)
				s.mu.Unlock()
			}
			s.handMu.Unlock()
			if err != nil {
				return nil, fmt.Errorf("handing the session to the helper of %s: %w", key, err)
			}
			s.log.Info("session handed to helper", "session_id", start.SessionID, "desktop", key)
			return HandOutput{HandedOver: true, Desktop: key}, nil
		}
		s.handMu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			if !known {
				return nil, ErrNoDesktop
			}
			return nil, fmt.Errorf("the session helper of desktop %s did not connect within %s", key, s.cfg.ReadyTimeout)
		case <-ctx.Done():
			return nil, fmt.Errorf("agent stopping: %w", ctx.Err())
		}
	}
}

// activeLocked picks the active desktop's helper (or any, if none is
// marked active).
func (s *Supervisor) activeLocked() (key string, conn *ipc.Conn, known bool) {
	keys := make([]string, 0, len(s.helpers))
	for k := range s.helpers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if s.helpers[k].desk.Active {
			return k, s.helpers[k].conn, true
		}
	}
	if len(keys) > 0 {
		return keys[0], s.helpers[keys[0]].conn, true
	}
	return "", nil, false
}

// reconcileLoop moves sessions to the active desktop's helper whenever a
// helper (dis)connects or the active desktop changes.
func (s *Supervisor) reconcileLoop(ctx context.Context) {
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		s.reconcile()
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// reconcile hands each session that is not on the active desktop to that
// desktop's helper, once it is connected: the old helper drops it (closes
// its peers, keeps nothing), the new one takes it with the same session and
// token. A session that was accepted already (connecting, active) resumes
// without a new prompt; one still awaiting acceptance asks again there.
// Sessions stay where they are while no desktop is marked active (say, a
// text console is in front), unless their desktop vanished.
func (s *Supervisor) reconcile() {
	s.handMu.Lock()
	defer s.handMu.Unlock()
	type move struct {
		id       string
		msg      ipc.Msg
		from     string
		fromConn *ipc.Conn
	}
	var moves []move
	s.mu.Lock()
	key, conn, _ := s.activeLocked()
	explicit := key != "" && s.helpers[key].desk.Active
	if conn == nil || s.unavailable != nil {
		s.mu.Unlock()
		return
	}
	pol := s.cfg.Policy()
	for id, ts := range s.sessions {
		if ts.desktop == key {
			continue
		}
		var fromConn *ipc.Conn
		if h := s.helpers[ts.desktop]; h != nil {
			if !explicit {
				continue
			}
			fromConn = h.conn
		}
		start := ts.start
		resume := ts.state == protocol.SessionConnecting || ts.state == protocol.SessionActive
		moves = append(moves, move{id: id, from: ts.desktop, fromConn: fromConn,
			msg: ipc.Msg{Type: ipc.TypeStart, Start: &start, Server: s.cfg.Server, Fingerprint: s.cfg.Fingerprint, Policy: &pol, Resume: resume}})
		ts.desktop = key
	}
	s.mu.Unlock()
	for _, m := range moves {
		if m.fromConn != nil {
			if err := m.fromConn.Send(ipc.Msg{Type: ipc.TypeDrop, SessionID: m.id}); err != nil {
				s.log.Warn("telling the old helper to drop a session", "session_id", m.id, "desktop", m.from, "error", err)
			}
		}
		if err := conn.Send(m.msg); err != nil {
			s.log.Error("handing a session to the active desktop's helper", "session_id", m.id, "desktop", key, "error", err)
			s.mu.Lock()
			delete(s.sessions, m.id)
			s.mu.Unlock()
			continue
		}
		s.log.Info("session moved to the active desktop", "session_id", m.id, "from", m.from, "to", key, "resume", m.msg.Resume)
	}
}
