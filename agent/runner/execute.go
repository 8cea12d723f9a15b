package runner

import (
	"context"
	"log/slog"
	"slices"

	"github.com/tetherdesk/tether/shared/protocol"
)

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

func interrupted(id string) protocol.ActionResult {
	return protocol.ActionResult{ID: id, Error: InterruptedError}
}

// Poke cuts a held poll short so that something new to report (a
// notification event) reaches the server at once.
func (r *Runner) Poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}
