// Package hub wakes held long-polls when something is queued for an agent.
// The local hub serves one node; a cross-node implementation (NATS) plugs in
// behind the same interface.
package hub

import "sync"

// Notifier delivers "something is pending" signals to waiting polls.
type Notifier interface {
	// Subscribe returns a channel closed at the next Notify for agentID, and
	// a cancel func that must be called when the waiter gives up.
	Subscribe(agentID string) (<-chan struct{}, func())
	// OnWake has fn called once, at the next Notify for agentID, from the
	// notifying goroutine (so fn must not block); cancel drops it. A held
	// poll parked without a goroutine of its own waits this way.
	OnWake(agentID string, fn func()) (cancel func())
	// Notify wakes every current waiter for agentID.
	Notify(agentID string)
}

// Local is an in-process Notifier.
type Local struct {
	mu      sync.Mutex
	waiters map[string][]*waiter
	observe func(agentID string)
}

// waiter is one subscription; its pointer tells it from the others.
type waiter struct{ fire func() }

// Observe has fn told of every wake-up this node hears, for any agent,
// held here or not ("" for all of them): what a node keeps of an agent
// may be out of date after one.
func (h *Local) Observe(fn func(agentID string)) {
	h.mu.Lock()
	h.observe = fn
	h.mu.Unlock()
}

// NewLocal returns an empty in-process hub.
func NewLocal() *Local { return &Local{waiters: map[string][]*waiter{}} }

// Subscribe implements Notifier.
func (h *Local) Subscribe(agentID string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	return ch, h.OnWake(agentID, func() { close(ch) })
}

// OnWake implements Notifier.
func (h *Local) OnWake(agentID string, fn func()) (cancel func()) {
	w := &waiter{fire: fn}
	h.mu.Lock()
	h.waiters[agentID] = append(h.waiters[agentID], w)
	h.mu.Unlock()
	return func() { h.remove(agentID, w) }
}

func (h *Local) remove(agentID string, w *waiter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := h.waiters[agentID]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(h.waiters, agentID)
	} else {
		h.waiters[agentID] = ws
	}
}

// Notify implements Notifier.
func (h *Local) Notify(agentID string) {
	h.mu.Lock()
	ws := h.waiters[agentID]
	delete(h.waiters, agentID)
	observe := h.observe
	h.mu.Unlock()
	if observe != nil {
		observe(agentID)
	}
	for _, w := range ws {
		w.fire()
	}
}

// Waiting reports how many polls are held, for metrics.
func (h *Local) Waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, ws := range h.waiters {
		n += len(ws)
	}
	return n
}

// NotifyAll wakes every held poll: after a gap in what other nodes said
// (NATS was away), each agent asks again.
func (h *Local) NotifyAll() {
	h.mu.Lock()
	all := h.waiters
	h.waiters = map[string][]*waiter{}
	observe := h.observe
	h.mu.Unlock()
	if observe != nil {
		observe("")
	}
	for _, ws := range all {
		for _, w := range ws {
			w.fire()
		}
	}
}
