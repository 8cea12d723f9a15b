// Package app is the server's service layer: every operation the API offers,
// with its validation and its permission check. HTTP handlers stay thin
// wrappers over these methods.
package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherdesk/tether/installer"
	"github.com/tetherdesk/tether/server/app/accounts"
	"github.com/tetherdesk/tether/server/app/core"
	"github.com/tetherdesk/tether/server/app/groups"
	"github.com/tetherdesk/tether/server/app/notifications"
	"github.com/tetherdesk/tether/server/app/policyset"
	"github.com/tetherdesk/tether/server/app/presence"
	"github.com/tetherdesk/tether/server/auth"
	"github.com/tetherdesk/tether/server/hub"
	"github.com/tetherdesk/tether/server/releases"
	"github.com/tetherdesk/tether/server/store"
)

// Config configures a Service.
type Config struct {
	Store  store.Store
	Hub    hub.Notifier
	Logger *slog.Logger
	Now    func() time.Time
	// PoliciesChanged, when set, is told after this node changed a
	// policy or a group's membership, to tell the other nodes (which then
	// call ClearPolicies); each node caches effective policies.
	PoliciesChanged func()

	// PollHold is the longest a poll with nothing pending is held (2 min):
	// as long as the agent says it waits, at most protocol.LegacyHold for
	// agents that do not say.
	PollHold time.Duration
	// OnlineGrace is added to PollHold to decide whether an agent is online.
	OnlineGrace time.Duration
	// PresenceFlush is how often last-seen times are written (5 s).
	PresenceFlush time.Duration
	// SessionTTL is the lifetime of a console sign-in (12 h).
	SessionTTL time.Duration
	// Sign-in failures allowed within LoginWindow (15 min): per account and
	// address together (AccountFailures, 5) and per address (IPFailures,
	// 50; IPv6 by /64). Past AccountSprayFailures (100) for one account,
	// from any addresses, only addresses that have not failed for it may
	// try it. A stranger can never lock the owner out.
	AccountFailures      int
	IPFailures           int
	AccountSprayFailures int
	LoginWindow          time.Duration
	// PasswordParams are argon2id's costs (zero: auth.DefaultParams; tests
	// use light ones). HashConcurrency bounds hashes at once (0: sized to
	// memory); a caller waits up to HashWait (2 s) for a slot, then gets 503.
	PasswordParams  auth.Params
	HashConcurrency int
	HashWait        time.Duration
	// Hasher, when set, replaces the one made from the three above.
	Hasher *auth.Hasher

	// Enrollment attempts allowed within EnrollWindow (10 min) per address
	// (EnrollPerAddress, 600; IPv6 by /64), failed ones per address
	// (EnrollFailuresPerAddress, 20), and per enrollment token
	// (EnrollPerToken, 600).
	EnrollPerAddress         int
	EnrollFailuresPerAddress int
	EnrollPerToken           int
	EnrollWindow             time.Duration

	// Events is told about session changes (the signalling hub); nil
	// means nobody listens.
	Events SessionEvents
	// SecretKey keys the per-session agent tokens (random when empty; set
	// it to the same value on every node of a cluster and keep it across
	// restarts so queued screenshare.start actions stay valid).
	SecretKey []byte
	// StartTimeout ends a session still requested after it (the agent
	// never picked it up): agent_offline. Default 60 s.
	StartTimeout time.Duration
	// AcceptGrace is added to a session's acceptance timeout before the
	// server ends it acceptance_timeout itself. Default 10 s.
	AcceptGrace time.Duration
	// ConnectTimeout ends a session connecting longer than this: error.
	// Default 2 min.
	ConnectTimeout time.Duration
	// SessionSweep is how often those bounds are checked. Default 1 s.
	SessionSweep time.Duration
	// OrphanSweep is how often active sessions are checked for a node
	// serving them (SweepOrphans). Default 15 s.
	OrphanSweep time.Duration

	// RecordingDir holds the session recordings (<session id>.webm) and
	// their uploads in progress; "" stores none: uploads answer 503.
	// Nodes sharing one store need one directory they all reach.
	RecordingDir string
	// RecordingMaxBytes bounds one recording's upload (2 GiB).
	RecordingMaxBytes int64
	// RecordingSweep is how often expired recordings are deleted (10 min);
	// RecordingOrphanAge is how long a file of the recordings directory
	// that no row names (an upload left behind, a crash between file and
	// row) is left before the sweep removes it (1 h).
	RecordingSweep     time.Duration
	RecordingOrphanAge time.Duration

	// CodeTTL is how long a connection code stays valid (15 min).
	CodeTTL time.Duration
	// Wrong connection codes allowed per endpoint and per remote address
	// within CodeWindow (5 and 20 per 15 min), and for the whole server
	// within CodeGlobalWindow (100 per minute).
	CodeEndpointFailures int
	CodeIPFailures       int
	CodeWindow           time.Duration
	CodeGlobalFailures   int
	CodeGlobalWindow     time.Duration

	// PublicURL and Fingerprint are what installers need to reach and pin
	// the server; the console shows them with enrollment tokens. Optional.
	PublicURL   string
	Fingerprint string
	// Releases holds the agent builds installers are made of; nil: none.
	Releases *releases.Store
	// Signing signs the installers built for download; zero: unsigned.
	Signing installer.Signing
}

// CheckAndSetDefaults rejects missing dependencies and fills defaults.
func (c *Config) CheckAndSetDefaults() error {
	if c.Store == nil {
		return errors.New("app: Store is required")
	}
	if c.Hub == nil {
		c.Hub = hub.NewLocal()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	orDefault(&c.PollHold, 2*time.Minute)
	orDefault(&c.OnlineGrace, 10*time.Second)
	orDefault(&c.PresenceFlush, 5*time.Second)
	orDefault(&c.SessionTTL, 12*time.Hour)
	orDefault(&c.AccountFailures, 5)
	orDefault(&c.IPFailures, 50)
	orDefault(&c.AccountSprayFailures, 100)
	orDefault(&c.LoginWindow, 15*time.Minute)
	orDefault(&c.HashWait, 2*time.Second)
	if c.Hasher == nil {
		c.Hasher = auth.NewHasher(c.PasswordParams, c.HashConcurrency, c.HashWait)
	}
	orDefault(&c.EnrollPerAddress, 600)
	orDefault(&c.EnrollFailuresPerAddress, 20)
	orDefault(&c.EnrollPerToken, 600)
	orDefault(&c.EnrollWindow, 10*time.Minute)
	if c.Events == nil {
		c.Events = noEvents{}
	}
	if len(c.SecretKey) == 0 {
		c.SecretKey = []byte(auth.NewToken("", 32))
	}
	orDefault(&c.StartTimeout, 60*time.Second)
	orDefault(&c.AcceptGrace, 10*time.Second)
	orDefault(&c.ConnectTimeout, 2*time.Minute)
	orDefault(&c.SessionSweep, time.Second)
	orDefault(&c.OrphanSweep, 15*time.Second)
	orDefault(&c.RecordingMaxBytes, 2<<30)
	orDefault(&c.RecordingSweep, 10*time.Minute)
	orDefault(&c.RecordingOrphanAge, time.Hour)
	orDefault(&c.CodeTTL, 15*time.Minute)
	orDefault(&c.CodeEndpointFailures, 5)
	orDefault(&c.CodeIPFailures, 20)
	orDefault(&c.CodeWindow, 15*time.Minute)
	orDefault(&c.CodeGlobalFailures, 100)
	orDefault(&c.CodeGlobalWindow, time.Minute)
	return nil
}

// orDefault sets *v to def when it is unset (zero or negative).
func orDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// The domain services, embedded in Service under names of their own.
type (
	accountsPart      = accounts.Service
	groupsPart        = groups.Service
	notificationsPart = notifications.Service
)

// Service implements every server operation.
type Service struct {
	*core.Core
	// The domains: their methods are the Service's.
	*accountsPart
	*groupsPart
	*notificationsPart
	cfg      Config
	store    store.Store
	hub      hub.Notifier
	log      *slog.Logger
	now      func() time.Time
	enroll   enrollLimits
	presence *presence.Table
	policies policyset.Cache
	agents   *agentCache
	// controlMu orders control hand-offs with what is told of them, so a
	// request announced with the holder it saw cannot land after a grant
	// that changed it.
	controlMu sync.Mutex

	// orphans: active sessions no node served, since when (SweepOrphans).
	orphanMu sync.Mutex
	orphans  map[string]time.Time

	codeLimit *codeLimiter
	codeEvals atomic.Int64
	// auditChain is the result of the last CheckAuditChain.
	auditChain atomic.Pointer[auditChainState]

	closeOnce sync.Once
	// stopCtx ends at Close: the loops return, and held polls answer on it
	// without a goroutine of their own.
	stopCtx    context.Context
	stopCancel context.CancelFunc
	loops      sync.WaitGroup // flushLoop, orphanLoop and recordingLoop
}

// New returns a Service and starts its presence flusher; Close stops it.
func New(cfg Config) (*Service, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	s := &Service{
		Core:      &core.Core{Store: cfg.Store, Log: cfg.Logger.With("component", "app"), Now: cfg.Now, AuditLost: auditLost.Inc},
		cfg:       cfg,
		store:     cfg.Store,
		hub:       cfg.Hub,
		log:       cfg.Logger.With("component", "app"),
		now:       cfg.Now,
		enroll:    newEnrollLimits(cfg),
		presence:  presence.New(),
		agents:    newAgentCache(cfg.PollHold + 30*time.Second),
		codeLimit: newCodeLimiter(cfg),
		orphans:   map[string]time.Time{},
	}
	s.stopCtx, s.stopCancel = context.WithCancel(context.Background())
	s.accountsPart = accounts.New(s.Core, cfg.Store, accounts.Config{
		SessionTTL: cfg.SessionTTL, AccountFailures: cfg.AccountFailures, IPFailures: cfg.IPFailures,
		AccountSprayFailures: cfg.AccountSprayFailures, LoginWindow: cfg.LoginWindow, Hasher: cfg.Hasher,
		CloseViewers: func(userID string, keep func(string) bool) { s.cfg.Events.CloseViewers(userID, keep) },
		SessionVisible: func(ctx context.Context, id string) bool {
			_, _, _, err := s.visibleSession(ctx, id)
			return err == nil
		},
	})
	s.groupsPart = groups.New(s.Core, cfg.Store, groups.Config{
		VisibleAgent: s.visibleAgent,
		Endpoint:     s.Endpoint,
		Notify:       s.hub.Notify,
		PoliciesChanged: func() {
			s.policies.Clear()
			s.agents.drop("")
			if cfg.PoliciesChanged != nil {
				cfg.PoliciesChanged()
			}
		},
	})
	s.notificationsPart = notifications.New(s.Core, cfg.Store, notifications.Config{Notify: s.hub.Notify})
	if o, ok := cfg.Hub.(interface{ Observe(func(string)) }); ok {
		o.Observe(s.agents.drop)
	} else {
		s.agents.ttl = 0 // nothing would tell it of a revocation elsewhere
	}
	s.loops.Add(3)
	go s.flushLoop()
	go s.orphanLoop()
	go s.recordingLoop()
	return s, nil
}

// ClearPolicies drops the cached effective policies: another node changed
// one.
func (s *Service) ClearPolicies() {
	s.policies.Clear()
	s.agents.drop("")
}

// Close flushes presence and stops background work. It does not close the store.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		s.stopCancel()
		s.loops.Wait()
	})
}

// orphanLoop runs SweepOrphans apart from the other sweeps: asking the
// other nodes about a session nobody serves takes a second.
func (s *Service) orphanLoop() {
	defer s.loops.Done()
	t := time.NewTicker(s.cfg.OrphanSweep)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.SweepOrphans(s.stopCtx)
		case <-s.stopCtx.Done():
			return
		}
	}
}

func (s *Service) flushLoop() {
	defer s.loops.Done()
	t := time.NewTicker(s.cfg.PresenceFlush)
	defer t.Stop()
	sweep := time.NewTicker(s.cfg.SessionSweep)
	defer sweep.Stop()
	var pruned time.Time
	for {
		select {
		case <-sweep.C:
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			s.SweepSessions(ctx)
			s.notificationsPart.Sweep(ctx)
			if now := s.now(); now.Sub(pruned) >= time.Minute {
				pruned = now
				s.pruneLimits(ctx, now)
			}
			cancel()
		case <-t.C:
			s.flushPresence()
		case <-s.stopCtx.Done():
			s.flushPresence()
			return
		}
	}
}

// pruneLimits deletes the rate-limited events out of every limit's
// window (each node does; the deletes are idempotent).
func (s *Service) pruneLimits(ctx context.Context, now time.Time) {
	longest := max(s.cfg.CodeWindow, s.cfg.CodeGlobalWindow, s.cfg.LoginWindow, s.cfg.EnrollWindow)
	if _, err := s.store.PruneLimits(ctx, now.Add(-longest)); err != nil {
		s.log.Warn("pruning rate-limited events", "err", err)
	}
}

func (s *Service) flushPresence() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if n, err := s.presence.Flush(ctx, s.store); err != nil {
		s.log.Error("flush presence", "err", err, "agents", n)
	}
}

// Ready reports whether the service can answer (the store is reachable).
func (s *Service) Ready(ctx context.Context) error {
	Public(ctx)
	return s.store.Ping(ctx)
}
