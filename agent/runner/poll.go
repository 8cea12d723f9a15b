package runner

import (
	"context"
	"errors"
	"io"
	"slices"
	"time"

	"github.com/tetherdesk/tether/agent/client"
	"github.com/tetherdesk/tether/agent/inventory"
	"github.com/tetherdesk/tether/agent/state"
	"github.com/tetherdesk/tether/shared/protocol"
)

// pollState is what one poll carried, to settle once it is answered 200.
type pollState struct {
	inv     *protocol.Inventory
	invGen  uint64
	acks    []string
	results []string
	update  *protocol.UpdateReport
	events  []protocol.NotificationEvent
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
			if req.Wait {
				r.shortenHold(err, r.cfg.Now().Sub(start))
			}
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
	if u := r.cfg.Update; u != nil {
		req.Update = u.Report()
		sent.update = req.Update
	}
	if n := r.cfg.Notifications; n != nil {
		req.NotificationEvents = n.Outbox()
		sent.events = req.NotificationEvents
	}
	// Hold only when there is nothing to deliver; acks, results, update
	// reports and notification events should land at once.
	req.Wait = len(req.Acks) == 0 && len(r.outbox) == 0 && req.Update == nil && len(req.NotificationEvents) == 0
	if req.Wait {
		req.HoldMS = r.hold.Milliseconds()
	}
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
	if n := r.cfg.Notifications; n != nil {
		n.Sent(sent.events)
	}
	if u := r.cfg.Update; u != nil {
		if sent.update != nil {
			u.Sent(*sent.update)
		}
		u.Polled()
	}
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
	if n := r.cfg.Notifications; n != nil {
		n.Receive(resp.Notifications)
		n.Withdraw(resp.WithdrawnNotifications)
	}
	if u := resp.Update; u != nil && r.cfg.Update != nil {
		r.cfg.Update.Offer(*u, r.download)
	}
}

// download fetches a path on the server with the agent's credentials.
func (r *Runner) download(ctx context.Context, path string, w io.Writer, max int64) error {
	r.mu.Lock()
	secret := r.secret
	r.mu.Unlock()
	return r.client.Download(ctx, secret, path, w, max)
}

// nextDelay is the pause before the next poll.
func (r *Runner) nextDelay(req protocol.PollRequest, resp protocol.PollResponse, start time.Time) time.Duration {
	if resp.NextPollMS > 0 {
		return min(time.Duration(resp.NextPollMS)*time.Millisecond, r.cfg.MaxNextPoll)
	}
	if req.Wait && len(resp.Actions) == 0 && resp.Policy == nil && len(resp.Notifications) == 0 && len(resp.WithdrawnNotifications) == 0 {
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
// shortenHold lowers the hold the polls ask for when a held poll failed
// on the way after held for a while: a proxy, load balancer or NAT that
// closes idle requests sooner than the hold. The server's own refusals
// (an API error with a code) say nothing of the path.
func (r *Runner) shortenHold(err error, held time.Duration) {
	var ae *client.APIError
	if errors.As(err, &ae) && ae.Code != "" {
		return
	}
	if held < MinHold || r.hold <= MinHold {
		return
	}
	next := max(MinHold, (held - 10*time.Second).Truncate(time.Second))
	if next >= r.hold {
		return
	}
	r.log.Info("a held poll was cut on the way to the server; asking for shorter holds", "held", held.Truncate(time.Second), "hold", next, "error", err)
	r.hold = next
}

func retryDelay(bo *Backoff, err error) time.Duration {
	d := bo.Next()
	var ae *client.APIError
	if errors.As(err, &ae) && ae.RetryAfter > d {
		d = min(ae.RetryAfter, DefaultFatalBackoff)
	}
	return d
}
