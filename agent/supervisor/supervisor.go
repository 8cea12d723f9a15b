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
	"strconv"
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
	// Greeter marks a login screen (a display manager's greeter, Windows'
	// Winlogon desktop): nobody's desktop. Consent given on a greeter never
	// carries to another desktop, nor consent given elsewhere to it.
	Greeter bool
	// Owner names the desktop's user where UID does not (on Windows the
	// user's SID: UID is the WTS session id there). Empty: UID does.
	Owner string
	// ServerAuth is the X server's own authority file of a login screen
	// whose helper runs as the display manager's user, who may not read
	// it: for as long as the helper runs, the supervisor gives it a
	// private copy of the cookie (XAUTHORITY). Linux only.
	ServerAuth string
}

// deskUser is whom a desktop belongs to, as far as consent goes.
type deskUser struct {
	id      string // Owner, else "uid:<UID>" (-1: the service's own user)
	greeter bool
}

func userOf(d Desktop) deskUser {
	id := d.Owner
	if id == "" {
		id = "uid:" + strconv.Itoa(d.UID)
	}
	return deskUser{id: id, greeter: d.Greeter}
}

// sameUser reports whether consent given on a desktop of u carries to a
// desktop of v: the same user, and neither is a login screen.
func (u deskUser) sameUser(v deskUser) bool {
	return !u.greeter && !v.greeter && u.id == v.id
}

func (u deskUser) String() string {
	if u.greeter {
		return "login screen (" + u.id + ")"
	}
	return u.id
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
	// EndSession tells the server that a session no helper runs any more
	// ended with reason, as its helper would have (over the session's
	// agent signalling, with its token). Default: reportEnded.
	EndSession func(ctx context.Context, start protocol.ScreenShareStart, reason protocol.Reason) error
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
	if c.EndSession == nil {
		c.EndSession = c.reportEnded
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

	// dropWaits are the hand-overs of vanished desktops' helpers that wait
	// for the helper to confirm its drops before it is stopped.
	dropWaits []*dropWait

	// bg counts background work Run waits for: the reports of sessions
	// the supervisor ends itself (endLater), the stopping of vanished
	// desktops' helpers.
	bg sync.WaitGroup
}

// dropWait waits for the helper of desktop key to confirm it dropped ids.
type dropWait struct {
	key  string
	ids  map[string]bool
	done chan struct{} // closed when ids is empty or the helper disconnected
}

// dropAckWait bounds how long a vanished desktop's helper is given to
// confirm its drops before it is stopped.
const dropAckWait = 2 * time.Second

// tracked is a session handed to a helper, until it ends.
type tracked struct {
	start   protocol.ScreenShareStart
	desktop string                // key of the helper that has it; "" when its desktop vanished
	state   protocol.SessionState // last state the helper reported
	// acceptedBy is the user of the desktop an attended session was on
	// when it left awaiting_acceptance (nil until then): consent carries
	// to that user's desktops only.
	acceptedBy *deskUser
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
	s.bg.Wait()
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
		s.dropConfirmedLocked(key, "")
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
		if m.Type == ipc.TypeState && m.State == ipc.StateDropped {
			s.log.Debug("helper dropped a session", "session_id", m.SessionID, "desktop", key)
			s.mu.Lock()
			s.dropConfirmedLocked(key, m.SessionID)
			s.mu.Unlock()
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
			// Only the helper that holds the session speaks for it: a
			// late answer from the desktop it left counts for nothing.
			if ts := s.sessions[m.SessionID]; ts != nil && ts.desktop == key {
				if m.State == protocol.SessionEnded {
					delete(s.sessions, m.SessionID)
				} else {
					if ts.start.Attended && ts.acceptedBy == nil && accepted(m.State) {
						u := userOf(h.desk)
						ts.acceptedBy = &u
						s.log.Info("attended session accepted", "session_id", m.SessionID, "desktop", key, "user", u.String())
					}
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
// A session this agent already holds (one a connection code started) is
// answered as handed over, and not started twice.
func (s *Supervisor) Handle(ctx context.Context, payload json.RawMessage) (any, error) {
	var start protocol.ScreenShareStart
	if err := json.Unmarshal(payload, &start); err != nil {
		return nil, fmt.Errorf("decoding screenshare.start payload: %w", err)
	}
	return s.handOver(ctx, start)
}

// handOver passes a session to the active desktop's helper.
func (s *Supervisor) handOver(ctx context.Context, start protocol.ScreenShareStart) (HandOutput, error) {
	if start.SessionID == "" || start.AgentToken == "" {
		return HandOutput{}, errors.New("screenshare.start payload lacks session_id or agent_token")
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
			return HandOutput{}, unavailable
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
				return HandOutput{}, fmt.Errorf("handing the session to the helper of %s: %w", key, err)
			}
			s.log.Info("session handed to helper", "session_id", start.SessionID, "desktop", key)
			return HandOutput{HandedOver: true, Desktop: key}, nil
		}
		s.handMu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			if !known {
				return HandOutput{}, ErrNoDesktop
			}
			return HandOutput{}, fmt.Errorf("the session helper of desktop %s did not connect within %s", key, s.cfg.ReadyTimeout)
		case <-ctx.Done():
			return HandOutput{}, fmt.Errorf("agent stopping: %w", ctx.Err())
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
		s.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// accepted reports whether a session in state has left the prompt behind.
func accepted(state protocol.SessionState) bool {
	return state == protocol.SessionConnecting || state == protocol.SessionActive
}

// moveKind is what becomes of a session when the active desktop changes.
type moveKind int

const (
	// moveStart: the new desktop's helper starts it afresh; an attended
	// session not yet accepted asks that desktop's user.
	moveStart moveKind = iota
	// moveResume: the new desktop's helper takes it over without a prompt.
	moveResume
	// moveEnd: the session ends user_changed; no helper gets it.
	moveEnd
)

func (k moveKind) String() string {
	return [...]string{"start", "resume", "end"}[k]
}

// decideMove is the consent rule of a desktop change. A session that was
// not accepted yet starts again on the new desktop (attended: its user is
// asked; the old desktop's answer no longer counts). An accepted
// unattended session resumes there: no one's consent is involved. An
// accepted attended session resumes only on a desktop of the user who
// accepted it; on another user's desktop or a login screen it ends
// (protocol.EndedUserChanged).
func decideMove(ts *tracked, to Desktop) moveKind {
	switch {
	case !accepted(ts.state):
		return moveStart
	case !ts.start.Attended:
		return moveResume
	case ts.acceptedBy != nil && ts.acceptedBy.sameUser(userOf(to)):
		return moveResume
	default:
		return moveEnd
	}
}

// reconcile hands each session that is not on the active desktop to that
// desktop's helper, once it is connected: the old helper drops it (closes
// its peers, keeps nothing), the new one takes it with the same session and
// token, resuming it or asking again as decideMove says. A session whose
// consent does not carry to the new desktop's user ends at once, whether
// or not that desktop's helper is up: the old helper (if any) drops it and
// the supervisor reports the end itself, so no helper of the new desktop
// ever holds it. Sessions stay where they are while no desktop is marked
// active (say, a text console is in front), unless their desktop vanished.
func (s *Supervisor) reconcile(ctx context.Context) {
	s.handMu.Lock()
	defer s.handMu.Unlock()
	type move struct {
		id       string
		msg      ipc.Msg
		from     string
		fromConn *ipc.Conn
		end      bool
		by       deskUser
	}
	var moves []move
	s.mu.Lock()
	key, conn, _ := s.activeLocked()
	if key == "" || s.unavailable != nil {
		s.mu.Unlock()
		return
	}
	target := s.helpers[key].desk
	explicit := target.Active
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
		kind := decideMove(ts, target)
		if kind == moveEnd {
			start := ts.start
			m := move{id: id, from: ts.desktop, fromConn: fromConn, end: true, msg: ipc.Msg{Start: &start}}
			if ts.acceptedBy != nil {
				m.by = *ts.acceptedBy
			}
			moves = append(moves, m)
			delete(s.sessions, id)
			continue
		}
		if conn == nil {
			continue // the new desktop's helper is not up yet
		}
		start := ts.start
		moves = append(moves, move{id: id, from: ts.desktop, fromConn: fromConn,
			msg: ipc.Msg{Type: ipc.TypeStart, Start: &start, Server: s.cfg.Server, Fingerprint: s.cfg.Fingerprint, Policy: &pol, Resume: kind == moveResume}})
		ts.desktop = key
	}
	s.mu.Unlock()
	for _, m := range moves {
		if m.fromConn != nil {
			if err := m.fromConn.Send(ipc.Msg{Type: ipc.TypeDrop, SessionID: m.id}); err != nil {
				s.log.Warn("telling the old helper to drop a session", "session_id", m.id, "desktop", m.from, "error", err)
			}
		}
		if m.end {
			s.log.Warn("the active desktop belongs to another user (or is the login screen): consent does not carry over; ending the attended session",
				"session_id", m.id, "from", m.from, "to", key, "accepted_by", m.by.String(), "now", userOf(target).String(), "reason", protocol.EndedUserChanged)
			s.endLater(ctx, *m.msg.Start, protocol.EndedUserChanged)
			continue
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
