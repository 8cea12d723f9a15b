// Package runner is the agent's service logic: enroll once, then long-poll
// the server, run the actions it hands out at most once each, report their
// results, keep the inventory current and store the policy. Transient
// failures are retried with jittered exponential back-off; rejected
// credentials either end Run (foreground `run`) or are retried with a long
// back-off (the OS service), never in a tight loop.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/tetherdesk/tether/agent/actions"
	"github.com/tetherdesk/tether/agent/client"
	"github.com/tetherdesk/tether/agent/inventory"
	"github.com/tetherdesk/tether/agent/state"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Errors Run returns when RetryFatal is false. The CLI maps them to exit
// codes; their text is meant for a human as is.
var (
	ErrBadToken  = errors.New("enrollment token rejected by server")
	ErrBadSecret = errors.New("agent credentials rejected by server")
	ErrNoToken   = errors.New("agent is not enrolled and no enrollment token is configured")
	// ErrNotEnrolled: RedeemCode was called before the agent had an
	// identity.
	ErrNotEnrolled = errors.New("this computer is not enrolled with the server yet")
)

// InterruptedError is the result error of an action that was running when
// the agent stopped. Such an action is never run a second time.
const InterruptedError = "interrupted: agent restarted while the action ran"

// Defaults.
const (
	DefaultInventoryInterval = 60 * time.Second
	DefaultBackoffInitial    = 500 * time.Millisecond
	DefaultBackoffMax        = 60 * time.Second
	DefaultFatalBackoff      = 5 * time.Minute
	DefaultMinPollInterval   = 2 * time.Second
	DefaultMaxNextPoll       = 10 * time.Minute
	DefaultStatusInterval    = 5 * time.Second
	// DefaultHold is how long the agent asks the server to hold a poll:
	// long, because every renewal costs the server a request. MinHold is
	// as far as it comes down when something on the way cuts held polls.
	DefaultHold = 2 * time.Minute
	MinHold     = protocol.LegacyHold
	// maxResultsPerPoll keeps one poll body small after a long outage; the
	// rest go in the polls that follow at once.
	maxResultsPerPoll = 100
)

// UpdateHooks connect the runner to the self-updater. Every hook must not
// block.
type UpdateHooks interface {
	// Offer is called with each update the server offers.
	Offer(u protocol.AgentUpdate, download func(ctx context.Context, path string, w io.Writer, max int64) error)
	// Report is the next step report to send, or nil.
	Report() *protocol.UpdateReport
	// Sent is called when the report given last reached the server.
	Sent(r protocol.UpdateReport)
	// Polled is called after each poll the server answered.
	Polled()
}

// Notifications is the agent's notification journal as the poll uses it.
type Notifications interface {
	// Receive takes the notifications a poll answer handed.
	Receive([]protocol.AgentNotification)
	// Withdraw takes down notifications that were cancelled.
	Withdraw(ids []string)
	// Outbox is the events to carry on the next poll.
	Outbox() []protocol.NotificationEvent
	// Sent is told the events a poll the server answered carried.
	Sent([]protocol.NotificationEvent)
}

// Config configures a Runner. Zero values take the defaults above.
type Config struct {
	Server      string
	Token       string
	Fingerprint string
	// Proxy picks the proxy of each request to the server; nil: the
	// environment's.
	Proxy    func(*http.Request) (*url.URL, error)
	StateDir string

	// RetryFatal keeps retrying (with FatalBackoff) when the server rejects
	// the enrollment token or the agent secret, instead of returning
	// ErrBadToken / ErrBadSecret. The OS service sets it: exiting would
	// only make the service manager restart it in a loop.
	RetryFatal bool

	InventoryInterval time.Duration
	// Inventory collects the inventory; default inventory.Collect.
	Inventory func(ctx context.Context) protocol.Inventory
	// Handlers adds or replaces action handlers (echo and
	// inventory.refresh are built in).
	Handlers map[string]actions.Handler
	// ServerState, when set, is told whether the server answers: true
	// after an enrollment or poll it answered, false after one that failed
	// (rejected credentials included). Only changes are reported; the
	// tray's icon shows them. It must not block.
	ServerState func(connected bool)

	// Update, when set, takes the server's update offers and gives the
	// reports of update steps to send (agent/update).
	Update UpdateHooks

	// Notifications, when set, takes the end-user notifications the
	// server hands and gives the events to report (agent/notify).
	Notifications Notifications

	Logger *slog.Logger
	// Client overrides the API client built from Server and Fingerprint.
	Client *client.Client

	BackoffInitial time.Duration
	BackoffMax     time.Duration
	// FatalBackoff is the (jittered ±20%) wait after rejected credentials
	// when RetryFatal is set.
	FatalBackoff time.Duration
	// MinPollInterval is the least time between the starts of two waiting
	// polls that came back empty, in case a server answers without holding.
	MinPollInterval time.Duration
	// MaxNextPoll caps the server's next_poll_ms advice.
	MaxNextPoll time.Duration
	// Hold is how long the agent asks the server to hold a poll
	// (DefaultHold).
	Hold time.Duration
	// StatusInterval is the least time between two writes of status.json.
	StatusInterval time.Duration
	// JournalSize bounds the action journal; default state.DefaultJournalSize.
	JournalSize int

	// Rand returns a value in [0, n) for jitter; default math/rand/v2.
	Rand func(n int64) int64
	// After is used for every back-off and poll delay; default time.After.
	// Tests use it to observe delays.
	After func(time.Duration) <-chan time.Time
	Now   func() time.Time
}

// CheckAndSetDefaults validates the config and fills in defaults.
func (c *Config) CheckAndSetDefaults() error {
	if c.StateDir == "" {
		return errors.New("runner: state directory not set")
	}
	if c.Client == nil {
		if _, err := client.ParseServerURL(c.Server); err != nil {
			return fmt.Errorf("runner: %w", err)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.InventoryInterval <= 0 {
		c.InventoryInterval = DefaultInventoryInterval
	}
	if c.Inventory == nil {
		log := c.Logger
		c.Inventory = func(ctx context.Context) protocol.Inventory { return inventory.Collect(ctx, log) }
	}
	if c.BackoffInitial <= 0 {
		c.BackoffInitial = DefaultBackoffInitial
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.BackoffMax < c.BackoffInitial {
		return fmt.Errorf("runner: back-off max %s below initial %s", c.BackoffMax, c.BackoffInitial)
	}
	if c.FatalBackoff <= 0 {
		c.FatalBackoff = DefaultFatalBackoff
	}
	if c.Hold <= 0 {
		c.Hold = DefaultHold
	}
	if c.MinPollInterval < 0 {
		return errors.New("runner: negative MinPollInterval")
	}
	if c.MinPollInterval == 0 {
		c.MinPollInterval = DefaultMinPollInterval
	}
	if c.MaxNextPoll <= 0 {
		c.MaxNextPoll = DefaultMaxNextPoll
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = DefaultStatusInterval
	}
	if c.After == nil {
		c.After = time.After
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Runner runs the agent service logic. Use it for one Run.
type Runner struct {
	cfg      Config
	log      *slog.Logger
	client   *client.Client
	registry *actions.Registry
	// hold is the hold the polls ask for: Config.Hold, lowered when held
	// polls are cut on the way (loop's goroutine only).
	hold time.Duration

	// Set up by Run.
	store   *state.Store
	journal *state.Journal
	status  *statusReporter
	actions sync.WaitGroup

	// wake is signalled when a result is ready, to cut a held poll short.
	wake chan struct{}

	connMu    sync.Mutex
	connKnown bool
	connected bool

	mu      sync.Mutex
	secret  string // the agent's secret once the identity is known (RedeemCode)
	running map[string]bool
	acks    []string // ids to acknowledge, in arrival order
	outbox  []protocol.ActionResult
	inv     protocol.Inventory
	invAt   time.Time
	invGen  uint64 // bumped to force a resend (inventory.refresh)

	// Owned by the poll loop.
	sentInv       *protocol.Inventory // last inventory the server answered 200 to
	sentInvGen    uint64
	policyVersion int64
}

// New checks cfg and builds a Runner.
func New(cfg Config) (*Runner, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	r := &Runner{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "runner"),
		client:  cfg.Client,
		wake:    make(chan struct{}, 1),
		running: map[string]bool{},
		hold:    cfg.Hold,
	}
	if r.client == nil {
		c, err := client.New(client.Config{Server: cfg.Server, Fingerprint: cfg.Fingerprint, Proxy: cfg.Proxy, Logger: cfg.Logger})
		if err != nil {
			return nil, fmt.Errorf("runner: %w", err)
		}
		r.client = c
	}
	r.registry = actions.NewRegistry()
	r.registry.Register(protocol.ActionInventoryRefresh, actions.InventoryRefresh(r.forceInventory))
	for typ, h := range cfg.Handlers {
		r.registry.Register(typ, h)
	}
	return r, nil
}

// Run enrolls if needed and polls until ctx is cancelled, then waits for
// running actions to stop and returns nil. It returns early with an error
// wrapping ErrBadToken, ErrBadSecret or ErrNoToken (unless RetryFatal), or
// when the state directory cannot be used.
func (r *Runner) Run(ctx context.Context) error {
	store, err := state.Open(r.cfg.StateDir, r.cfg.Logger)
	if err != nil {
		return err
	}
	r.store = store
	if r.journal, err = store.OpenJournal(r.cfg.JournalSize); err != nil {
		return err
	}
	switch p, err := store.LoadPolicy(); {
	case err != nil:
		// Version 0 makes the server send the policy again.
		r.log.Warn("ignoring unreadable stored policy", "error", err)
	case p != nil:
		r.policyVersion = p.Version
	}
	r.status = newStatusReporter(store, r.cfg.StatusInterval, r.cfg.Now, r.log)
	defer r.status.close()
	r.status.update(func(st *state.Status) { st.Server = r.cfg.Server })

	id, err := r.identity(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	r.status.update(func(st *state.Status) { st.AgentID = id.AgentID })
	r.mu.Lock()
	r.secret = id.Secret
	r.mu.Unlock()
	r.recoverJournal()

	defer r.actions.Wait() // runs before status.close: results get journaled
	return r.loop(ctx, id)
}

// setConnected reports a change of whether the server answers.
func (r *Runner) setConnected(ok bool) {
	if r.cfg.ServerState == nil {
		return
	}
	r.connMu.Lock()
	defer r.connMu.Unlock()
	if r.connKnown && r.connected == ok {
		return
	}
	r.connKnown, r.connected = true, ok
	// Called under connMu so that two changes cannot overtake each other.
	r.cfg.ServerState(ok)
}
