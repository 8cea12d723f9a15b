package signal

import (
	"encoding/json"
	"log/slog"
	"sync/atomic"

	"github.com/tetherdesk/tether/shared/protocol"
)

// Bus is what Clustered needs of the nodes' message bus (cluster.Bus).
type Bus interface {
	Publish(subject string, data []byte) error
	Subscribe(subject string, fn func(data []byte)) (func(), error)
}

// EventsSubject carries the service's session events to every node: the
// sockets of a session may be on any of them.
const EventsSubject = "tether.sessions"

// event is one app.SessionEvents call, as it travels between nodes.
type event struct {
	Kind      string            `json:"k"` // session, control, control_request, close_viewers
	Session   *protocol.Session `json:"s,omitempty"`
	SessionID string            `json:"sid,omitempty"`
	Holder    string            `json:"holder,omitempty"`
	ViewerID  string            `json:"vid,omitempty"`
	User      string            `json:"user,omitempty"`
	UserID    string            `json:"uid,omitempty"`
	// Recheck: close only the viewers the user may no longer see, as
	// each node's service judges; otherwise close them all.
	Recheck bool `json:"recheck,omitempty"`
}

// Clustered is a Hub whose session events reach the sockets on every
// node: an event here is applied here at once and published for the
// others.
type Clustered struct {
	*Hub
	bus   Bus
	log   *slog.Logger
	unsub func()
	keep  atomic.Pointer[func(userID string) func(sessionID string) bool]
}

// NewClustered shares h's session events with the other nodes on bus.
func NewClustered(h *Hub, bus Bus) (*Clustered, error) {
	c := &Clustered{Hub: h, bus: bus, log: h.log.With("component", "signal-cluster")}
	unsub, err := bus.Subscribe(EventsSubject, c.apply)
	if err != nil {
		return nil, err
	}
	c.unsub = unsub
	return c, nil
}

// SetViewerKeep gives the service's judgement of which of a user's
// sessions the user may still see (nil: none), for a user whose roles
// another node changed.
func (c *Clustered) SetViewerKeep(fn func(userID string) func(sessionID string) bool) {
	c.keep.Store(&fn)
}

func (c *Clustered) publish(e event) {
	b, err := json.Marshal(e)
	if err == nil {
		err = c.bus.Publish(EventsSubject, b)
	}
	if err != nil {
		// The other nodes' sockets learn at their next exchange with the
		// service (a session's end is also in the store).
		c.log.Warn("telling the other nodes of a session event", "kind", e.Kind, "err", err)
	}
}

// apply runs an event another node published on this node's sockets.
func (c *Clustered) apply(data []byte) {
	var e event
	if err := json.Unmarshal(data, &e); err != nil {
		c.log.Warn("a session event from another node is unreadable", "err", err)
		return
	}
	switch e.Kind {
	case "session":
		if e.Session != nil {
			c.Hub.SessionChanged(*e.Session)
		}
	case "control":
		c.Hub.ControlChanged(e.SessionID, e.Holder)
	case "control_request":
		c.Hub.ControlRequested(e.SessionID, e.Holder, e.ViewerID, e.User)
	case "close_viewers":
		var keep func(string) bool
		if fn := c.keep.Load(); e.Recheck && fn != nil {
			keep = (*fn)(e.UserID)
		}
		c.Hub.CloseViewers(e.UserID, keep)
	}
}

// SessionChanged implements app.SessionEvents on every node.
func (c *Clustered) SessionChanged(s protocol.Session) {
	c.Hub.SessionChanged(s)
	c.publish(event{Kind: "session", Session: &s})
}

// ControlChanged implements app.SessionEvents on every node.
func (c *Clustered) ControlChanged(sessionID, holder string) {
	c.Hub.ControlChanged(sessionID, holder)
	c.publish(event{Kind: "control", SessionID: sessionID, Holder: holder})
}

// ControlRequested implements app.SessionEvents on every node.
func (c *Clustered) ControlRequested(sessionID, holder, viewerID, user string) {
	c.Hub.ControlRequested(sessionID, holder, viewerID, user)
	c.publish(event{Kind: "control_request", SessionID: sessionID, Holder: holder, ViewerID: viewerID, User: user})
}

// CloseViewers implements app.SessionEvents on every node.
func (c *Clustered) CloseViewers(userID string, keep func(sessionID string) bool) {
	c.Hub.CloseViewers(userID, keep)
	c.publish(event{Kind: "close_viewers", UserID: userID, Recheck: keep != nil})
}

// Close stops listening to the other nodes and closes this node's sockets.
func (c *Clustered) Close() {
	c.unsub()
	c.Hub.Close()
}
