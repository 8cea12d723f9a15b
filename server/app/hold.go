package app

import (
	"context"
	"sync"
	"time"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/protocol"
)

// wakeTimeout bounds the store calls of a wake-up of a held poll: they run
// outside any request's context.
const wakeTimeout = 30 * time.Second

// Held is an agent's poll held open because there was nothing to say. It
// ends once: at a wake-up that finds something for the agent, when the
// hold runs out, at shutdown, or when the agent hangs up. It has no
// goroutine of its own while it waits, so a node can hold many.
type Held struct {
	s             *Service
	a             store.Agent
	secret        string
	policyVersion int64
	remoteIP      string
	start         time.Time
	hold          time.Duration

	mu     sync.Mutex
	resp   protocol.PollResponse
	done   func(protocol.PollResponse, error) // nil until Notify
	ended  bool
	woke   bool // a wake-up came before Notify
	unwake func()
	timer  *time.Timer
	unstop func() bool
}

// Wait blocks until the poll ends and returns its answer; ctx ending
// means the agent hung up.
func (h *Held) Wait(ctx context.Context) (protocol.PollResponse, error) {
	type answer struct {
		resp protocol.PollResponse
		err  error
	}
	ch := make(chan answer, 1)
	hangUp := h.Notify(func(resp protocol.PollResponse, err error) { ch <- answer{resp, err} })
	select {
	case a := <-ch:
		return a.resp, a.err
	case <-ctx.Done():
		if hangUp() {
			return protocol.PollResponse{}, ctx.Err()
		}
		a := <-ch // the answer was on its way
		return a.resp, a.err
	}
}

// Notify starts the hold: done is called once, on a goroutine of its own,
// with the answer. hangUp ends the hold because the agent went away; it
// reports false when the answer was already on its way to done.
func (h *Held) Notify(done func(protocol.PollResponse, error)) (hangUp func() bool) {
	s := h.s
	h.mu.Lock()
	defer h.mu.Unlock()
	h.done = done
	s.presence.Hold(h.a.ID, +1)
	pollsHeld.Inc()
	h.timer = time.AfterFunc(h.hold, h.expired)
	h.unstop = context.AfterFunc(s.stopCtx, h.stopped)
	if h.woke {
		go h.wake()
	}
	return h.hangUp
}

// woken is the hub's call: it must not block, and its caller may hold
// anything (even h.mu, were a wake-up to notify this agent again).
func (h *Held) woken() { go h.wake() }

// wake looks for something to say after a wake-up; with nothing (a
// notification's wake that found it done) the hold goes on.
func (h *Held) wake() {
	s := h.s
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended {
		return
	}
	if h.done == nil {
		h.woke = true // before Notify: it looks again
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), wakeTimeout)
	defer cancel()
	// A wake may mean the agent was revoked: tell it now.
	if _, err := s.agentBySecret(ctx, h.secret); err != nil {
		h.end(protocol.PollResponse{}, err)
		return
	}
	// Subscribe again before looking, for a wake-up that finds nothing.
	h.unwake()
	h.unwake = s.hub.OnWake(h.a.ID, h.woken)
	resp := h.resp
	var err error
	// If the agent hangs up right now, actions marked delivered are
	// offered again on its next poll, so nothing is lost.
	if resp.Actions, err = s.pending(ctx, h.a.ID); err != nil {
		h.end(protocol.PollResponse{}, err)
		return
	}
	resp.Notifications, resp.WithdrawnNotifications = s.DueNotifications(ctx, h.a)
	// The policy may have changed while we held (a technician allowing
	// unattended access and starting a session at once): the agent
	// applies it before the actions, so send the current one.
	pol, err := s.freshPolicy(ctx, h.a.Groups())
	if err != nil {
		h.end(protocol.PollResponse{}, err)
		return
	}
	if pol.Version != h.policyVersion {
		resp.Policy = &pol
	}
	if !hasNews(resp) {
		pollsTotal.WithLabelValues("woken_empty").Inc()
		return
	}
	pollsTotal.WithLabelValues("woken").Inc()
	h.end(resp, nil)
}

func (h *Held) expired() { h.endWith("timeout") }

// stopped answers at shutdown, so the agent reconnects rather than holding
// the server's exit for a whole hold.
func (h *Held) stopped() { h.endWith("shutdown") }

func (h *Held) endWith(why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended {
		return
	}
	pollsTotal.WithLabelValues(why).Inc()
	h.end(h.resp, nil)
}

func (h *Held) hangUp() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended {
		return false
	}
	h.release()
	// Its last sign of life is the start.
	h.s.presence.Gone(h.a.ID, h.start)
	pollsTotal.WithLabelValues("disconnected").Inc()
	return true
}

// end answers; h.mu is held.
func (h *Held) end(resp protocol.PollResponse, err error) {
	h.release()
	if err == nil {
		h.s.presence.Seen(h.a.ID, h.s.now().UTC(), h.remoteIP)
	}
	go h.done(resp, err)
}

// release stops the hold's timer and subscriptions and counts it out of
// the held polls; h.mu is held. Only what Notify started ends, once.
func (h *Held) release() {
	h.ended = true
	h.unwake()
	h.timer.Stop()
	h.unstop()
	pollsHeld.Dec()
	h.s.presence.Hold(h.a.ID, -1)
}

// hasNews reports whether resp says anything beyond "nothing yet".
func hasNews(resp protocol.PollResponse) bool {
	return len(resp.Actions) > 0 || resp.Policy != nil || len(resp.Notifications) > 0 || len(resp.WithdrawnNotifications) > 0
}
