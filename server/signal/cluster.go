package signal

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

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

// Clustered is a Hub whose sessions span the nodes: the service's session
// events reach the sockets on every node (applied here at once and
// published for the others), and a session's viewers and agent reach each
// other whichever nodes serve their sockets.
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
	h.mu.Lock()
	h.net = newNetwork(h, bus)
	h.mu.Unlock()
	if rb, ok := bus.(interface{ OnReconnect(func()) }); ok {
		rb.OnReconnect(h.net.resync)
	}
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

// The signalling of one session between nodes: a node serving any of the
// session's sockets subscribes to the session's subject and says there
// what its peers do and say. Each node keeps its own peers in its room and
// what the others announced (remote viewers, the agent's node); a message
// for a peer on another node is published for that node to deliver. NATS
// keeps one node's messages on a subject in order, so a viewer's offer
// never overtakes its join.
const (
	kindUp            = "up"   // a peer attached here (a newer one takes the place of its namesake)
	kindDown          = "down" // a peer detached here
	kindHere          = "here" // the peers here, in answer to "up", or asking for the others' (Ask)
	kindAsk           = "ask"  // is the agent (or this viewer) on your node? answered on Reply
	kindToAgent       = "to_agent"
	kindToViewer      = "to_viewer"
	kindToViewers     = "to_viewers"
	kindRelay         = "relay" // a viewer wants the WebSocket relay
	kindFrameToAgent  = "frame_to_agent"
	kindFrameToViewer = "frame_to_viewer"
	kindKick          = "kick" // a remote viewer relays too fast for the agent: drop it
)

// sigSubjectPrefix: one subject per session.
const sigSubjectPrefix = "tether.sig."

// envelope is one message about a session between nodes; a relay frame
// travels after it, as it is.
type envelope struct {
	From     string           `json:"from"`
	Kind     string           `json:"k"`
	ViewerID string           `json:"vid,omitempty"`
	Agent    bool             `json:"agent,omitempty"` // up/down/here: the agent; here: there is one
	Relayed  bool             `json:"relayed,omitempty"`
	Viewers  []hereViewer     `json:"viewers,omitempty"`
	Ask      bool             `json:"ask,omitempty"`
	Any      bool             `json:"any,omitempty"` // ask: any of the session's peers
	Reply    string           `json:"reply,omitempty"`
	Signal   *protocol.Signal `json:"sig,omitempty"`
}

type hereViewer struct {
	ID      string `json:"id"`
	Relayed bool   `json:"relayed,omitempty"`
}

// remoteViewer is a viewer of a session whose socket another node serves.
type remoteViewer struct {
	node    string
	relayed bool
}

// network is a Hub's link to the other nodes' hubs. Its methods do
// nothing on a nil network (one node).
type network struct {
	h   *Hub
	bus Bus
	id  string // this node's hub, as the others know it
	log *slog.Logger
}

func newNetwork(h *Hub, bus Bus) *network {
	return &network{h: h, bus: bus, id: randomID(), log: h.log.With("component", "signal-cluster")}
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sessionSubject is the session's subject; an id that is not a plain
// token is hashed into one.
func sessionSubject(sessionID string) string {
	plain := sessionID != ""
	for _, c := range sessionID {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			plain = false
			break
		}
	}
	if plain {
		return sigSubjectPrefix + sessionID
	}
	sum := sha256.Sum256([]byte(sessionID))
	return sigSubjectPrefix + "h" + hex.EncodeToString(sum[:16])
}

// encode lays out an envelope: its length (4 bytes), its JSON, the frame.
func encode(e envelope, frame []byte) ([]byte, error) {
	head, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 4, 4+len(head)+len(frame))
	binary.BigEndian.PutUint32(b, uint32(len(head)))
	return append(append(b, head...), frame...), nil
}

func decode(b []byte) (envelope, []byte, error) {
	var e envelope
	if len(b) < 4 {
		return e, nil, errors.New("short message")
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return e, nil, errors.New("truncated message")
	}
	if err := json.Unmarshal(b[4:4+n], &e); err != nil {
		return e, nil, err
	}
	if e.From == "" || e.Kind == "" {
		return e, nil, errors.New("message without sender or kind")
	}
	return e, b[4+n:], nil
}

func (n *network) publishTo(subject string, e envelope, frame []byte) {
	e.From = n.id
	b, err := encode(e, frame)
	if err == nil {
		err = n.bus.Publish(subject, b)
	}
	if err != nil {
		n.log.Warn("telling the other nodes of a session's signalling", "kind", e.Kind, "err", err)
	}
}

func (n *network) publish(sessionID string, e envelope, frame []byte) {
	n.publishTo(sessionSubject(sessionID), e, frame)
}

// subscribe has r hear what the other nodes say of sessionID.
func (n *network) subscribe(sessionID string, r *room) func() {
	unsub, err := n.bus.Subscribe(sessionSubject(sessionID), func(b []byte) { n.receive(sessionID, r, b) })
	if err != nil {
		// The session's peers here still reach each other; those on other
		// nodes do not until the next connection.
		n.log.Warn("listening for a session's peers on other nodes", "session_id", sessionID, "err", err)
		return nil
	}
	return unsub
}

// announce tells the other nodes that p attached (kindUp) or detached
// (kindDown) here. Called with h.mu held.
func (n *network) announce(r *room, p *peer, kind string) {
	if n == nil {
		return
	}
	e := envelope{Kind: kind, ViewerID: p.viewerID, Agent: p.viewerID == ""}
	if !e.Agent {
		e.Relayed = r.relayed[p.viewerID]
	}
	n.publish(p.sessionID, e, nil)
}

// signal hands m to the session's peer (or viewers) on another node.
func (n *network) signal(sessionID, kind, viewerID string, m protocol.Signal) {
	if n == nil {
		return
	}
	n.publish(sessionID, envelope{Kind: kind, ViewerID: viewerID, Signal: &m}, nil)
}

// frame hands a relay frame to the session's agent, or one viewer, on
// another node.
func (n *network) frame(sessionID, kind, viewerID string, b []byte) {
	if n == nil {
		return
	}
	n.publish(sessionID, envelope{Kind: kind, ViewerID: viewerID}, b)
}

// here tells the others which of the session's peers this node serves.
// Called with h.mu held.
func (n *network) here(sessionID string, r *room, ask bool) {
	e := envelope{Kind: kindHere, Agent: r.agent != nil, Ask: ask}
	for _, id := range r.order {
		e.Viewers = append(e.Viewers, hereViewer{ID: id, Relayed: r.relayed[id]})
	}
	n.publish(sessionID, e, nil)
}

// present asks the other nodes whether one of them serves the session's
// agent (viewerID "") or that viewer; no answer within a second is no.
func (n *network) present(sessionID, viewerID string) bool {
	return n.ask(sessionID, envelope{Kind: kindAsk, ViewerID: viewerID, Agent: viewerID == ""})
}

// anyPresent asks the other nodes whether one of them serves any of the
// session's sockets (a node of the previous version answers for the agent
// only). Cut off from the others (NATS away), nobody can answer: that
// counts as yes, so that no node ends what it cannot see.
func (n *network) anyPresent(sessionID string) bool {
	if n == nil {
		return false
	}
	if c, ok := n.bus.(interface{ Connected() bool }); ok && !c.Connected() {
		return true
	}
	return n.ask(sessionID, envelope{Kind: kindAsk, Agent: true, Any: true})
}

func (n *network) ask(sessionID string, e envelope) bool {
	if n == nil {
		return false
	}
	reply := "tether.sigreply." + randomID()
	yes := make(chan struct{}, 1)
	unsub, err := n.bus.Subscribe(reply, func([]byte) {
		select {
		case yes <- struct{}{}:
		default:
		}
	})
	if err != nil {
		n.log.Warn("asking the other nodes for a session's peer", "session_id", sessionID, "err", err)
		return false
	}
	defer unsub()
	e.Reply = reply
	n.publish(sessionID, e, nil)
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-yes:
		return true
	case <-t.C:
		return false
	}
}

// receive acts on what another node said of sessionID's peers.
func (n *network) receive(sessionID string, r *room, b []byte) {
	e, frame, err := decode(b)
	if err != nil {
		n.log.Warn("a session message from another node is unreadable", "session_id", sessionID, "err", err)
		return
	}
	h := n.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rooms[sessionID] != r {
		return // the room is gone (its last connection here closed)
	}
	local := r.agent != nil || len(r.viewers) > 0
	switch e.Kind {
	case kindUp:
		if e.Agent {
			if r.agent != nil {
				replaced(r.agent)
			}
			r.remoteAgent = e.From
		} else {
			n.sawViewer(sessionID, r, e.From, e.ViewerID, e.Relayed, true)
		}
		if local {
			n.here(sessionID, r, false)
		}
	case kindHere:
		if e.Agent && r.agent == nil {
			r.remoteAgent = e.From
		}
		for _, v := range e.Viewers {
			n.sawViewer(sessionID, r, e.From, v.ID, v.Relayed, false)
		}
		if e.Ask && local {
			n.here(sessionID, r, false)
		}
	case kindDown:
		if e.Agent {
			if r.remoteAgent == e.From {
				r.remoteAgent = ""
			}
			return
		}
		if rv := r.remote[e.ViewerID]; rv != nil && rv.node == e.From {
			delete(r.remote, e.ViewerID)
			delete(r.ghosts, e.ViewerID)
			if r.agent != nil {
				r.agent.send(protocol.Signal{Type: protocol.SignalViewerLeft, ViewerID: e.ViewerID})
			}
		}
	case kindAsk:
		if e.Reply == "" || !strings.HasPrefix(e.Reply, "tether.sigreply.") {
			return
		}
		if e.Any || (e.Agent && r.agent != nil) || (!e.Agent && r.viewers[e.ViewerID] != nil) {
			n.publishTo(e.Reply, envelope{Kind: "yes"}, nil)
		}
	case kindToAgent:
		if r.agent != nil && e.Signal != nil {
			r.agent.send(*e.Signal)
		}
	case kindToViewer:
		if v := r.viewers[e.ViewerID]; v != nil && e.Signal != nil {
			v.send(*e.Signal)
		}
	case kindToViewers:
		if e.Signal != nil {
			for _, id := range r.order {
				r.viewers[id].send(*e.Signal)
			}
		}
	case kindRelay:
		if rv := r.remote[e.ViewerID]; rv != nil {
			rv.relayed = true
		}
		if r.agent != nil && e.Signal != nil {
			r.agent.send(*e.Signal)
		}
	case kindFrameToAgent:
		if r.agent == nil || r.remote[e.ViewerID] == nil {
			return
		}
		g := r.ghosts[e.ViewerID]
		if g == nil {
			vid := e.ViewerID
			g = &peer{h: h, sessionID: sessionID, viewerID: vid, quit: make(chan struct{}),
				kick: func() { n.publish(sessionID, envelope{Kind: kindKick, ViewerID: vid}, nil) }}
			r.ghosts[vid] = g
		}
		r.agent.sendFrame(frame, g)
	case kindFrameToViewer:
		if v := r.viewers[e.ViewerID]; v != nil {
			v.sendFrame(frame, nil)
		}
	case kindKick:
		if v := r.viewers[e.ViewerID]; v != nil {
			v.stop(websocket.StatusPolicyViolation, "relaying too fast")
		}
	}
}

// sawViewer records a viewer another node serves and, when it is new to
// this node's agent, tells the agent. A newer viewer (up) of the same id
// takes the place of one here: the viewer came back through that node.
// Called with h.mu held.
func (n *network) sawViewer(sessionID string, r *room, node, viewerID string, relayed, newer bool) {
	if viewerID == "" {
		return
	}
	if v := r.viewers[viewerID]; v != nil {
		if !newer {
			return
		}
		v.moved.Store(true)
		v.stop(websocket.StatusPolicyViolation, "replaced")
	}
	if newer {
		if t := n.h.seats[sessionID+"/"+viewerID]; t != nil {
			t.Stop() // its seat is the other node's now
			delete(n.h.seats, sessionID+"/"+viewerID)
		}
	}
	old := r.remote[viewerID]
	r.remote[viewerID] = &remoteViewer{node: node, relayed: relayed || (old != nil && old.node == node && old.relayed)}
	if r.agent == nil {
		return
	}
	if newer {
		joined(r.agent, viewerID)
		if relayed {
			r.agent.send(protocol.Signal{Type: protocol.SignalRelay, ViewerID: viewerID})
		}
	} else if old == nil || old.node != node {
		r.agent.send(protocol.Signal{Type: protocol.SignalViewerJoined, ViewerID: viewerID})
		if relayed {
			r.agent.send(protocol.Signal{Type: protocol.SignalRelay, ViewerID: viewerID})
		}
	} else if relayed && !old.relayed {
		r.agent.send(protocol.Signal{Type: protocol.SignalRelay, ViewerID: viewerID})
	}
}

// resync asks the other nodes again which peers they serve, for every
// session here: what they said while NATS was away is lost.
func (n *network) resync() {
	n.h.mu.Lock()
	defer n.h.mu.Unlock()
	for id, r := range n.h.rooms {
		n.here(id, r, true)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
