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
	"log/slog"
	"net/http"
	"slices"
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
	// maxResultsPerPoll keeps one poll body small after a long outage; the
	// rest go in the polls that follow at once.
	maxResultsPerPoll = 100
)

// Config configures a Runner. Zero values take the defaults above.
type Config struct {
	Server      string
	Token       string
	Fingerprint string
	StateDir    string

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
	}
	if r.client == nil {
		c, err := client.New(client.Config{Server: cfg.Server, Fingerprint: cfg.Fingerprint, Logger: cfg.Logger})
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

// identity loads the stored identity or enrolls with the token.
func (r *Runner) identity(ctx context.Context) (state.Identity, error) {
	bo := r.backoff()
	for {
		id, err := r.store.LoadIdentity()
		if err == nil {
			if !sameServer(id.Server, r.cfg.Server) {
				r.log.Warn("configured server differs from the one this agent enrolled with; keeping the identity and using the configured server",
					"enrolled_server", id.Server, "server", r.cfg.Server)
			}
			return id, nil
		}
		if !errors.Is(err, state.ErrNoIdentity) {
			return state.Identity{}, err
		}
		if r.cfg.Token == "" {
			if !r.cfg.RetryFatal {
				return state.Identity{}, ErrNoToken
			}
			r.status.failed(ErrNoToken)
			d := Jitter(r.cfg.FatalBackoff, 0.2, r.cfg.Rand)
			r.log.Error("cannot enroll: no enrollment token configured", "retry_in", d)
			if !r.sleep(ctx, d, nil) {
				return state.Identity{}, ctx.Err()
			}
			continue
		}

		nonce, err := r.store.EnrollNonce()
		if err != nil {
			return state.Identity{}, err
		}
		inv := r.forceInventory(ctx)
		resp, err := r.client.Enroll(ctx, protocol.EnrollRequest{Token: r.cfg.Token, Inventory: inv, Protocol: protocol.Version, Nonce: nonce})
		if err != nil {
			if ctx.Err() != nil {
				return state.Identity{}, ctx.Err()
			}
			r.status.failed(err)
			r.setConnected(false)
			if msg, ok := rejected(err, protocol.CodeBadToken); ok {
				fatal := withMessage(ErrBadToken, msg)
				if !r.cfg.RetryFatal {
					return state.Identity{}, fatal
				}
				d := Jitter(r.cfg.FatalBackoff, 0.2, r.cfg.Rand)
				r.log.Error("enrollment token rejected; retrying later", "error", fatal, "retry_in", d)
				if !r.sleep(ctx, d, nil) {
					return state.Identity{}, ctx.Err()
				}
				continue
			}
			d := retryDelay(&bo, err)
			r.log.Warn("enrollment failed", "error", err, "retry_in", d)
			if !r.sleep(ctx, d, nil) {
				return state.Identity{}, ctx.Err()
			}
			continue
		}
		r.setConnected(true)
		id = state.Identity{Server: r.cfg.Server, AgentID: resp.AgentID, Secret: resp.Secret}
		if err := r.store.SaveIdentity(id); err != nil {
			return state.Identity{}, fmt.Errorf("enrolled as %s but could not keep the identity: %w", id.AgentID, err)
		}
		if err := r.store.DropEnrollNonce(); err != nil {
			r.log.Warn("enrolled", "error", err)
		}
		r.log.Info("enrolled", "agent_id", id.AgentID, "server", r.cfg.Server)
		return id, nil
	}
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

// RedeemCode enters a connection code the end user typed (the tray's
// "Enter Connection Code…") with the agent's own credentials, which only
// the service holds. Errors are those of client.RedeemCode, or
// ErrNotEnrolled before the agent has an identity.
func (r *Runner) RedeemCode(ctx context.Context, code string) (protocol.RedeemCodeResponse, error) {
	r.mu.Lock()
	secret := r.secret
	r.mu.Unlock()
	if secret == "" {
		return protocol.RedeemCodeResponse{}, ErrNotEnrolled
	}
	return r.client.RedeemCode(ctx, secret, code)
}

// recoverJournal turns actions a previous process left running into
// "interrupted" failures (never re-running them) and queues every result the
// server may not have received.
func (r *Runner) recoverJournal() {
	for _, e := range r.journal.Unfinished() {
		r.log.Warn("action was interrupted by an agent restart; reporting it failed", "action_id", e.ID, "type", e.Type)
		if err := r.journal.Finish(e.ID, interrupted(e.ID)); err != nil {
			r.log.Error("journaling interrupted action", "action_id", e.ID, "error", err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.journal.Unreported() {
		r.addResultLocked(*e.Result)
	}
}

// pollState is what one poll carried, to settle once it is answered 200.
type pollState struct {
	inv     *protocol.Inventory
	invGen  uint64
	acks    []string
	results []string
}

func (r *Runner) loop(ctx context.Context, id state.Identity) error {
	bo := r.backoff()
	for ctx.Err() == nil {
		r.refreshInventoryIfDue(ctx)
		req, sent := r.buildPoll()
		start := r.cfg.Now()
		resp, err := r.poll(ctx, id.Secret, req)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errPollCut):
			continue // a result is ready: poll again at once, without waiting
		case err != nil:
			r.status.failed(err)
			r.setConnected(false)
			if msg, ok := rejected(err, protocol.CodeBadSecret); ok {
				fatal := withMessage(ErrBadSecret, msg)
				if !r.cfg.RetryFatal {
					return fatal
				}
				d := Jitter(r.cfg.FatalBackoff, 0.2, r.cfg.Rand)
				r.log.Error("agent credentials rejected; retrying later", "error", fatal, "retry_in", d)
				r.sleep(ctx, d, nil)
				continue
			}
			d := retryDelay(&bo, err)
			r.log.Warn("poll failed", "error", err, "retry_in", d)
			r.sleep(ctx, d, nil)
			continue
		}
		bo.Reset()
		r.status.pollOK()
		r.setConnected(true)
		r.settle(sent)
		r.handleResponse(ctx, resp)
		if d := r.nextDelay(req, resp, start); d > 0 {
			r.sleep(ctx, d, r.wake)
		}
	}
	return nil
}

// buildPoll snapshots what the next poll carries.
func (r *Runner) buildPoll() (protocol.PollRequest, pollState) {
	// A wake-up from before this snapshot is covered by it; keeping it would
	// cut the next held poll for nothing.
	select {
	case <-r.wake:
	default:
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var sent pollState
	req := protocol.PollRequest{Protocol: protocol.Version, PolicyVersion: r.policyVersion}
	if r.sentInv == nil || r.invGen != r.sentInvGen || !inventory.Equal(r.inv, *r.sentInv) {
		inv := r.inv
		req.Inventory = &inv
		sent.inv = &inv
	}
	sent.invGen = r.invGen
	req.Acks = slices.Clone(r.acks)
	sent.acks = req.Acks
	req.Results = slices.Clone(r.outbox[:min(len(r.outbox), maxResultsPerPoll)])
	for _, res := range req.Results {
		sent.results = append(sent.results, res.ID)
	}
	// Hold only when there is nothing to deliver; acks and results should
	// land at once.
	req.Wait = len(req.Acks) == 0 && len(r.outbox) == 0
	return req, sent
}

var errPollCut = errors.New("held poll cut short: results are ready")

// poll sends req. A waiting poll is cancelled as soon as a result is ready
// (errPollCut); that is safe because the server re-offers actions it
// delivered but never saw acknowledged.
func (r *Runner) poll(ctx context.Context, secret string, req protocol.PollRequest) (protocol.PollResponse, error) {
	if !req.Wait {
		return r.client.Poll(ctx, secret, req)
	}
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		resp protocol.PollResponse
		err  error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		resp, err = r.client.Poll(pctx, secret, req)
	}()
	select {
	case <-done:
		return resp, err
	case <-r.wake:
		cancel(errPollCut)
		<-done
		if err == nil {
			return resp, nil // the answer won the race; use it
		}
		return protocol.PollResponse{}, errPollCut
	}
}

// settle applies a poll the server answered 200: what it carried arrived.
func (r *Runner) settle(sent pollState) {
	if sent.inv != nil {
		r.sentInv = sent.inv
	}
	r.sentInvGen = sent.invGen
	r.mu.Lock()
	r.acks = slices.DeleteFunc(r.acks, func(id string) bool { return slices.Contains(sent.acks, id) })
	r.outbox = slices.DeleteFunc(r.outbox, func(res protocol.ActionResult) bool { return slices.Contains(sent.results, res.ID) })
	r.mu.Unlock()
	if err := r.journal.MarkReported(sent.results...); err != nil {
		// Worst case the result is sent again after a restart; the server
		// ignores results for finished actions.
		r.log.Warn("journaling reported results", "error", err)
	}
}

func (r *Runner) handleResponse(ctx context.Context, resp protocol.PollResponse) {
	if p := resp.Policy; p != nil && p.Version != r.policyVersion {
		if err := r.store.SavePolicy(*p); err != nil {
			// Keep the old version so that the server sends it again.
			r.log.Error("storing policy", "version", p.Version, "error", err)
		} else {
			r.log.Info("policy received", "version", p.Version, "previous_version", r.policyVersion)
			r.policyVersion = p.Version
		}
	}
	for _, a := range resp.Actions {
		r.receive(ctx, a)
	}
}

// receive decides what to do with an action the server handed out; the
// journal makes the decision hold across restarts.
func (r *Runner) receive(ctx context.Context, a protocol.Action) {
	log := r.log.With("action_id", a.ID, "type", a.Type)
	if a.ID == "" {
		log.Warn("ignoring action without id")
		return
	}
	r.mu.Lock()
	switch {
	case r.running[a.ID]:
		// Our ack was lost or not yet sent: acknowledge again.
		r.addAckLocked(a.ID)
		r.mu.Unlock()
		return
	case slices.ContainsFunc(r.outbox, func(res protocol.ActionResult) bool { return res.ID == a.ID }):
		r.mu.Unlock()
		return // its result goes out with the next poll
	}
	r.mu.Unlock()

	if e, ok := r.journal.Get(a.ID); ok {
		res := interrupted(a.ID)
		if e.Done() {
			log.Debug("action already ran; reporting its result again")
			res = *e.Result
		} else {
			// Journaled as started, not running in this process: whoever ran
			// it is gone. Report, never run twice.
			log.Warn("action was interrupted by an agent restart; reporting it failed")
			if err := r.journal.Finish(a.ID, res); err != nil {
				log.Error("journaling interrupted action", "error", err)
			}
		}
		r.addResult(res)
		return
	}

	if err := r.journal.Start(a.ID, a.Type); err != nil {
		// Without a journal entry a restart could run it twice: refuse.
		log.Error("not running action that cannot be journaled", "error", err)
		r.addResult(protocol.ActionResult{ID: a.ID, Error: "agent could not journal the action: " + err.Error()})
		return
	}
	if !r.registry.Has(a.Type) {
		res := r.registry.Run(ctx, a) // the "unsupported action type" result
		log.Warn("unsupported action type")
		r.finish(a, res)
		return
	}
	r.mu.Lock()
	r.running[a.ID] = true
	r.addAckLocked(a.ID)
	r.mu.Unlock()
	log.Info("running action")
	r.actions.Add(1)
	go r.execute(ctx, a, log)
}

func (r *Runner) execute(ctx context.Context, a protocol.Action, log *slog.Logger) {
	defer r.actions.Done()
	start := r.cfg.Now()
	res := r.registry.Run(ctx, a)
	if ctx.Err() != nil && !res.OK {
		// Stopped by shutdown: leave the entry unfinished so the next start
		// reports the action interrupted.
		r.mu.Lock()
		delete(r.running, a.ID)
		r.mu.Unlock()
		log.Info("action stopped by agent shutdown")
		return
	}
	log.Info("action finished", "ok", res.OK, "duration", r.cfg.Now().Sub(start))
	r.finish(a, res)
}

// finish journals and queues a result and wakes the poll loop.
func (r *Runner) finish(a protocol.Action, res protocol.ActionResult) {
	if err := r.journal.Finish(a.ID, res); err != nil {
		// Still report it; the unfinished entry keeps it from running again.
		r.log.Error("journaling action result", "action_id", a.ID, "error", err)
	}
	r.mu.Lock()
	delete(r.running, a.ID)
	r.mu.Unlock()
	r.addResult(res)
}

func (r *Runner) addResult(res protocol.ActionResult) {
	r.mu.Lock()
	r.addResultLocked(res)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Runner) addResultLocked(res protocol.ActionResult) {
	// A result acknowledges too.
	r.acks = slices.DeleteFunc(r.acks, func(id string) bool { return id == res.ID })
	if i := slices.IndexFunc(r.outbox, func(o protocol.ActionResult) bool { return o.ID == res.ID }); i >= 0 {
		r.outbox[i] = res
		return
	}
	r.outbox = append(r.outbox, res)
}

func (r *Runner) addAckLocked(id string) {
	if !slices.Contains(r.acks, id) {
		r.acks = append(r.acks, id)
	}
}

// nextDelay is the pause before the next poll.
func (r *Runner) nextDelay(req protocol.PollRequest, resp protocol.PollResponse, start time.Time) time.Duration {
	if resp.NextPollMS > 0 {
		return min(time.Duration(resp.NextPollMS)*time.Millisecond, r.cfg.MaxNextPoll)
	}
	if req.Wait && len(resp.Actions) == 0 && resp.Policy == nil {
		// A waiting poll that came back empty early means the server did not
		// hold it; do not spin.
		return r.cfg.MinPollInterval - r.cfg.Now().Sub(start)
	}
	return 0
}

// refreshInventoryIfDue recollects the inventory every InventoryInterval.
func (r *Runner) refreshInventoryIfDue(ctx context.Context) {
	r.mu.Lock()
	due := r.invAt.IsZero() || r.cfg.Now().Sub(r.invAt) >= r.cfg.InventoryInterval
	r.mu.Unlock()
	if !due {
		return
	}
	inv := inventory.Normalize(r.cfg.Inventory(ctx))
	r.mu.Lock()
	r.inv, r.invAt = inv, r.cfg.Now()
	r.mu.Unlock()
}

// forceInventory recollects the inventory and makes the next poll carry it
// even if unchanged.
func (r *Runner) forceInventory(ctx context.Context) protocol.Inventory {
	inv := inventory.Normalize(r.cfg.Inventory(ctx))
	r.mu.Lock()
	r.inv, r.invAt = inv, r.cfg.Now()
	r.invGen++
	r.mu.Unlock()
	return inv
}

func (r *Runner) backoff() Backoff {
	return Backoff{Initial: r.cfg.BackoffInitial, Max: r.cfg.BackoffMax, Rand: r.cfg.Rand}
}

// sleep waits d, or less if ctx ends or wake fires. It reports false when
// ctx ended.
func (r *Runner) sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	select {
	case <-r.cfg.After(d):
		return true
	case <-wake:
		return true
	case <-ctx.Done():
		return false
	}
}

// retryDelay is the next back-off delay, stretched to the server's
// Retry-After if that is longer.
func retryDelay(bo *Backoff, err error) time.Duration {
	d := bo.Next()
	var ae *client.APIError
	if errors.As(err, &ae) && ae.RetryAfter > d {
		d = min(ae.RetryAfter, DefaultFatalBackoff)
	}
	return d
}

// rejected reports whether err is the server refusing our credentials with
// code, and returns the server's message.
func rejected(err error, code string) (string, bool) {
	var ae *client.APIError
	if !errors.As(err, &ae) {
		return "", false
	}
	if (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden) && ae.Code == code {
		return ae.Message, true
	}
	return "", false
}

func withMessage(sentinel error, msg string) error {
	if msg == "" {
		return sentinel
	}
	return fmt.Errorf("%w: %s", sentinel, msg)
}

func interrupted(id string) protocol.ActionResult {
	return protocol.ActionResult{ID: id, Error: InterruptedError}
}

func sameServer(a, b string) bool {
	ua, errA := client.ParseServerURL(a)
	ub, errB := client.ParseServerURL(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return ua.String() == ub.String()
}
