package hub

import "log/slog"

// Bus is what Clustered needs of the nodes' message bus
// (cluster.Bus).
type Bus interface {
	Publish(subject string, data []byte) error
	Subscribe(subject string, fn func(data []byte)) (func(), error)
	OnReconnect(fn func())
}

// WakeSubject carries the id of an agent something was queued for. One
// subject for all agents: every node hears every wake-up and acts on those
// whose poll it holds, which costs less than a subscription per held poll.
const WakeSubject = "tether.wake"

// Clustered wakes held polls on every node: a Notify here wakes this
// node's waiters at once and tells the other nodes to wake theirs.
type Clustered struct {
	*Local
	bus   Bus
	log   *slog.Logger
	unsub func()
}

// NewClustered is a hub shared with the other nodes on bus.
func NewClustered(bus Bus, log *slog.Logger) (*Clustered, error) {
	h := &Clustered{Local: NewLocal(), bus: bus, log: log}
	unsub, err := bus.Subscribe(WakeSubject, func(id []byte) { h.Local.Notify(string(id)) })
	if err != nil {
		return nil, err
	}
	h.unsub = unsub
	// Wake-ups published while this node was cut off are lost: every
	// agent holding a poll here asks again.
	bus.OnReconnect(h.Local.NotifyAll)
	return h, nil
}

// Notify implements Notifier.
func (h *Clustered) Notify(agentID string) {
	h.Local.Notify(agentID)
	if err := h.bus.Publish(WakeSubject, []byte(agentID)); err != nil {
		// The agent's poll on another node ends within its hold anyway.
		h.log.Warn("telling the other nodes of a queued action", "agent_id", agentID, "err", err)
	}
}

// Close stops listening to the other nodes.
func (h *Clustered) Close() { h.unsub() }
