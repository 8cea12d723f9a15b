// Package supervisor is the service side of screen sharing: it starts and
// supervises one session helper (`tether-agent session`) per interactive
// desktop session, restarting a crashed helper with back-off, accepts the
// helpers' IPC connections (peer credentials checked), and hands each
// screenshare.start action to the helper of the active desktop. The agent's
// secret never crosses to a helper: only the per-session token does.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/agent/netproxy"
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
	// Proxy is the agent's proxy setting. When it puts a proxy between the
	// agent and the server, helpers get a local relay to it instead
	// (netproxy.Relay): its credentials stay in the service.
	Proxy netproxy.Setting
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
	// NotifyResult is told what a desktop's user did with an end-user
	// notification (agent/notify); nil drops it.
	NotifyResult func(key, user string, r ipc.NotifyResult)
	// HelpersChanged is called (it must not block) when a helper comes or
	// goes or the active desktop changes.
	HelpersChanged func()
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

	// helperProxy is the proxy URL handed to helpers ("" for none); set
	// by Run before it serves them.
	helperProxy string

	// bg counts background work Run waits for: the reports of sessions
	// the supervisor ends itself (endLater), the stopping of vanished
	// desktops' helpers.
	bg sync.WaitGroup

	// Support tools the service runs (tools.go), under mu.
	toolSeq     uint64
	toolAnswers map[string]toolWaiter
	toolEnds    map[string]toolEnd
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
	if relay := s.startProxyRelay(); relay != nil {
		defer relay.Close()
		s.helperProxy = relay.URL().String()
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

// startProxyRelay starts the helpers' relay when a proxy stands between
// the agent and the server; nil otherwise, or when it cannot listen (the
// helpers then connect directly, which is logged).
func (s *Supervisor) startProxyRelay() *netproxy.Relay {
	server, err := url.Parse(s.cfg.Server)
	if err != nil {
		return nil
	}
	up, err := s.cfg.Proxy.For(server)
	if err != nil || up == nil {
		return nil
	}
	relay, err := netproxy.StartRelay(up, netproxy.ServerHosts(server), s.log)
	if err != nil {
		s.log.Error("no proxy relay for the session helpers; their connections go direct", "proxy", netproxy.Redact(up), "err", err)
		return nil
	}
	s.log.Info("session helpers reach the server through the proxy", "proxy", netproxy.Redact(up))
	return relay
}
