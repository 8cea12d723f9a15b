// Package signal relays WebRTC signalling between a session's agent (the
// session helper) and its viewers over websockets, following the flow in
// protocol.Signal's doc comment. The server decides; it never trusts a
// viewer id a viewer claims, and routes the agent's messages by viewer id.
//
// Hub is the in-process implementation; Clustered joins the hubs of
// several server nodes over NATS, so a viewer on one node and a session's
// agent on another reach each other.
package signal

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/tetherdesk/tether/server/app"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Relay is what the HTTP layer needs of a signalling hub: serve one admitted
// websocket until it closes, and receive session events from the service.
type Relay interface {
	app.SessionEvents
	ServeAgent(conn *websocket.Conn, s protocol.Session, svc Sessions)
	ServeViewer(conn *websocket.Conn, j app.ViewerJoin, svc Sessions)
	Close()
}

// Sessions is what the hub asks of the service layer for an admitted
// connection.
type Sessions interface {
	ReportState(ctx context.Context, sessionID string, state protocol.SessionState, reason protocol.Reason, mode protocol.Mode) (protocol.Session, error)
	LeaveSession(ctx context.Context, sessionID, viewerID, user string)
	// RecordChat and RecordFile keep what the helper reports of the
	// session's chat and file transfers.
	RecordChat(ctx context.Context, sessionID, viewerID string, line protocol.ChatLine) error
	RecordFile(ctx context.Context, sessionID string, f protocol.FileRecord) error
	// RecordToolAction keeps what a support tool changed.
	RecordToolAction(ctx context.Context, sessionID string, a protocol.ToolAction) error
}

// Config configures a Hub.
type Config struct {
	Logger *slog.Logger
	// ICE returns the ICE servers (TURN credentials) handed in hello to
	// one side of a session: subject is the viewer id, or "agent"; nil
	// hands out none.
	ICE func(sessionID, subject string) []protocol.ICEServer
	// RelayOnly makes hello say ice_transport_policy "relay".
	RelayOnly bool
	// WriteTimeout bounds one websocket write (5 s).
	WriteTimeout time.Duration
	// PingInterval is the keepalive period (20 s); a ping unanswered
	// within PingTimeout (10 s) closes the connection.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// SendBuffer is how many messages may queue for one connection before
	// it is dropped as too slow (256).
	SendBuffer int
	// RelayBuffer is how many bytes of relay frames (the WebSocket relay
	// of data channels) may queue for one connection before it is dropped
	// as too slow (8 MiB). Both ends keep their own data in flight far
	// below it (protocol.RelayAckChannel).
	RelayBuffer int
	// AgentGrace is how long a session's agent may stay disconnected from
	// the signalling (it dials again on its own within its outage limit,
	// 60 s) before the session ends connection_lost: what the sessions'
	// service says for the session (its policy's limit) when it can,
	// else this. Default 75 s; set, it is used as it is (tests).
	AgentGrace time.Duration
	fixedGrace bool
}

// CheckAndSetDefaults fills defaults.
func (c *Config) CheckAndSetDefaults() error {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ICE == nil {
		c.ICE = func(string, string) []protocol.ICEServer { return nil }
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 5 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 20 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 10 * time.Second
	}
	if c.SendBuffer <= 0 {
		c.SendBuffer = 256
	}
	if c.RelayBuffer <= 0 {
		c.RelayBuffer = 8 << 20
	}
	if c.AgentGrace <= 0 {
		c.AgentGrace = 75 * time.Second
	} else {
		c.fixedGrace = true
	}
	return nil
}

// Hub is the in-process Relay.
type Hub struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	rooms map[string]*room
	ended map[string]time.Time // recently ended sessions: refuse late attaches
	// seats are the viewers whose signalling dropped, by session id and
	// viewer id: each leaves when its timer fires, unless it rejoins.
	seats  map[string]*time.Timer
	closed bool
	wg     sync.WaitGroup
	// net carries what a room's peers say to those on other nodes; nil
	// on a single node.
	net *network
}

var _ Relay = (*Hub)(nil)

type room struct {
	agent   *peer
	viewers map[string]*peer
	order   []string // viewer ids in joining order
	// relayed are the viewers that asked for the WebSocket relay: an agent
	// that connects (or connects again) is told after their joins.
	relayed map[string]bool
	// held counts the connections being served for the session here; the
	// room lives as long as one is.
	held int
	// On several nodes: the session's peers on the others, as they
	// announced themselves, and this node's subscription to their word.
	remote      map[string]*remoteViewer // by viewer id
	remoteAgent string                   // the node with the agent, "" if none known
	ghosts      map[string]*peer         // remote viewers' relay credits at the local agent
	subscribed  chan struct{}            // closed once the subscription is in place
	unsub       func()
}

// New returns a Hub.
func New(cfg Config) (*Hub, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	return &Hub{cfg: cfg, log: cfg.Logger.With("component", "signal"), rooms: map[string]*room{}, ended: map[string]time.Time{},
		seats: map[string]*time.Timer{}}, nil
}

// peer is one websocket: the agent side (viewerID "") or a viewer.
type peer struct {
	h         *Hub
	conn      *websocket.Conn
	sessionID string
	viewerID  string
	user      string
	userID    string
	out       chan outMsg
	relayed   atomic.Int64 // bytes of relay frames queued in out
	// ahead counts, on the agent's peer, each viewer's relay frames queued
	// in out: a viewer that sends faster than the agent takes in is
	// dropped, not the agent. It goes with the peer.
	aheadMu sync.Mutex
	ahead   map[*peer]*queued
	lost    atomic.Bool     // the hub dropped it for the network's sake (keepalive, write)
	moved   atomic.Bool     // the viewer came back through another node: its seat is there
	kick    func()          // a remote viewer's stand-in: stopping it stops the real one
	ctx     context.Context // the reader's; cancelling it drops the connection
	cancel  context.CancelFunc
	quit    chan struct{}
	once    sync.Once
	code    websocket.StatusCode
	reason  string
	wrote   chan struct{} // closed when the writer is done
}

func (h *Hub) newPeer(conn *websocket.Conn, sessionID, viewerID, user, userID string) *peer {
	ctx, cancel := context.WithCancel(context.Background())
	conn.SetReadLimit(BinaryLimit)
	return &peer{h: h, conn: conn, sessionID: sessionID, viewerID: viewerID, user: user, userID: userID,
		out: make(chan outMsg, h.cfg.SendBuffer), ctx: ctx, cancel: cancel,
		quit: make(chan struct{}), wrote: make(chan struct{})}
}

// outMsg is a signal (text) or a relay frame (binary) to write.
// queued is what one viewer has queued at the agent's peer.
type queued struct{ bytes, n int }

type outMsg struct {
	sig  protocol.Signal
	bin  []byte
	from *peer // the viewer a relay frame for the agent came from
}

// send queues m; a peer whose queue is full is dropped as too slow.
func (p *peer) send(m protocol.Signal) { p.queue(outMsg{sig: m}) }

// sendFrame queues a relay frame; past RelayBuffer queued bytes the peer
// is dropped as too slow.
func (p *peer) sendFrame(b []byte, from *peer) {
	if from != nil && !p.take(from, len(b)) {
		p.h.log.Warn("a viewer relays faster than the endpoint takes in; dropping the viewer", "session_id", from.sessionID, "viewer_id", from.viewerID)
		from.stop(websocket.StatusPolicyViolation, "relaying too fast")
		return
	}
	if p.relayed.Add(int64(len(b))) > int64(p.h.cfg.RelayBuffer) {
		p.relayed.Add(-int64(len(b)))
		p.done(from, len(b))
		p.h.log.Warn("relay frames pile up for a peer; dropping it", "session_id", p.sessionID, "viewer_id", p.viewerID)
		p.stop(websocket.StatusPolicyViolation, "too slow")
		return
	}
	if !p.queue(outMsg{bin: b, from: from}) {
		p.relayed.Add(-int64(len(b)))
		p.done(from, len(b))
	}
}

// take counts a frame of n bytes from viewer from as queued at p, unless
// from has a quarter of p's room (bytes or messages) queued already: one
// viewer can then neither crowd out the others nor get the agent dropped
// as too slow.
func (p *peer) take(from *peer, n int) bool {
	p.aheadMu.Lock()
	defer p.aheadMu.Unlock()
	q := p.ahead[from]
	if q == nil {
		q = &queued{}
		if p.ahead == nil {
			p.ahead = map[*peer]*queued{}
		}
		p.ahead[from] = q
	}
	if q.bytes+n > p.h.cfg.RelayBuffer/4 || q.n+1 > p.h.cfg.SendBuffer/4 {
		return false
	}
	q.bytes += n
	q.n++
	return true
}

// done counts a frame of from's (nil: none) as no longer queued at p.
func (p *peer) done(from *peer, n int) {
	if from == nil {
		return
	}
	p.aheadMu.Lock()
	defer p.aheadMu.Unlock()
	if q := p.ahead[from]; q != nil {
		q.bytes -= n
		if q.n--; q.n <= 0 {
			delete(p.ahead, from)
		}
	}
}

// queue queues m; false when it was not queued.
func (p *peer) queue(m outMsg) bool {
	select {
	case <-p.quit:
		return false
	default:
	}
	select {
	case p.out <- m:
		return true
	default:
		p.h.log.Warn("signalling peer too slow; dropping it", "session_id", p.sessionID, "viewer_id", p.viewerID)
		p.stop(websocket.StatusPolicyViolation, "too slow")
		return false
	}
}

// stop asks the writer to flush what is queued, close the socket with code
// and end; the reader then sees the close.
func (p *peer) stop(code websocket.StatusCode, reason string) {
	p.once.Do(func() {
		p.code, p.reason = code, reason
		close(p.quit)
		if p.kick != nil {
			p.kick()
		}
	})
}

// writeLoop writes queued messages; on stop it flushes the queue, closes
// with a handshake and, if the other side does not answer within a second,
// drops the connection, so a closing session is gone within 2 s.
func (p *peer) writeLoop() {
	defer close(p.wrote)
	write := func(m outMsg) error {
		typ, b := websocket.MessageBinary, m.bin
		if b != nil {
			defer func() {
				p.relayed.Add(-int64(len(b)))
				p.done(m.from, len(b))
			}()
		} else {
			var err error
			if b, err = json.Marshal(m.sig); err != nil {
				return err
			}
			typ = websocket.MessageText
		}
		ctx, cancel := context.WithTimeout(p.ctx, p.h.cfg.WriteTimeout)
		defer cancel()
		return p.conn.Write(ctx, typ, b)
	}
	ping := time.NewTicker(p.h.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case m := <-p.out:
			if err := write(m); err != nil {
				p.lost.Store(true)
				p.stop(websocket.StatusGoingAway, "write failed")
			}
		case <-ping.C:
			// Pings need the reader running, which it is; run it aside so a
			// slow pong does not hold up messages.
			go func() {
				ctx, cancel := context.WithTimeout(p.ctx, p.h.cfg.PingTimeout)
				defer cancel()
				if err := p.conn.Ping(ctx); err != nil {
					p.lost.Store(true)
					p.stop(websocket.StatusGoingAway, "keepalive timed out")
				}
			}()
		case <-p.quit:
			p.flush(write)
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = p.conn.Close(p.code, p.reason)
			}()
			t := time.NewTimer(time.Second)
			select {
			case <-done:
				t.Stop()
			case <-t.C:
				p.cancel() // drops the TCP connection; Close then returns
				<-done
			}
			p.cancel()
			return
		}
	}
}

// flush writes what is still queued, stopping at the first failure.
func (p *peer) flush(write func(outMsg) error) {
	for {
		select {
		case m := <-p.out:
			if write(m) != nil {
				return
			}
		default:
			return
		}
	}
}

func (h *Hub) hello(s protocol.Session, viewerID string) protocol.Signal {
	pol := "all"
	if h.cfg.RelayOnly {
		pol = "relay"
	}
	subject := viewerID
	if subject == "" {
		subject = "agent"
	}
	return protocol.Signal{Type: protocol.SignalHello, ViewerID: viewerID, Session: &s, ICEServers: h.cfg.ICE(s.ID, subject),
		ICETransportPolicy: pol, Holder: s.ControlHolder}
}

// attach registers p in its session's room; false when the hub is closed
// or the session has just ended.
func (h *Hub) attach(p *peer, s protocol.Session) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	if _, ended := h.ended[p.sessionID]; ended {
		return false
	}
	r := h.rooms[p.sessionID]
	if p.viewerID == "" {
		if old := r.agent; old != nil {
			replaced(old)
		}
		r.agent, r.remoteAgent = p, ""
		p.send(h.hello(s, ""))
		for _, id := range r.order {
			p.send(protocol.Signal{Type: protocol.SignalViewerJoined, ViewerID: id})
			if r.relayed[id] {
				p.send(protocol.Signal{Type: protocol.SignalRelay, ViewerID: id})
			}
		}
		for _, id := range sortedKeys(r.remote) {
			p.send(protocol.Signal{Type: protocol.SignalViewerJoined, ViewerID: id})
			if r.remote[id].relayed {
				p.send(protocol.Signal{Type: protocol.SignalRelay, ViewerID: id})
			}
		}
		h.net.announce(r, p, kindUp)
		return true
	}
	if t := h.seats[p.sessionID+"/"+p.viewerID]; t != nil {
		t.Stop() // back in time: the seat is its again
		delete(h.seats, p.sessionID+"/"+p.viewerID)
	}
	if old := r.viewers[p.viewerID]; old != nil {
		// The same viewer again (its old socket not yet seen dead): the
		// newer connection is the one.
		old.moved.Store(true)
		old.stop(websocket.StatusPolicyViolation, "replaced")
		r.order = slices.DeleteFunc(r.order, func(id string) bool { return id == p.viewerID })
	}
	delete(r.remote, p.viewerID)
	r.viewers[p.viewerID] = p
	r.order = append(r.order, p.viewerID)
	p.send(h.hello(s, p.viewerID))
	if r.agent != nil {
		joined(r.agent, p.viewerID)
	}
	h.net.announce(r, p, kindUp)
	return true
}

// joined tells the agent that a viewer (re)joined. A viewer that comes
// back with its id (?viewer=) has dropped its peer connection and waits
// for a new offer; the endpoint may not have heard that it left (its node
// died), so it is told first: it then drops what it kept and offers anew.
func joined(agent *peer, viewerID string) {
	agent.send(protocol.Signal{Type: protocol.SignalViewerLeft, ViewerID: viewerID})
	agent.send(protocol.Signal{Type: protocol.SignalViewerJoined, ViewerID: viewerID})
}

// replaced stops an agent connection a newer one took the place of.
func replaced(old *peer) {
	old.send(protocol.Signal{Type: protocol.SignalError, Message: "replaced by a newer agent connection"})
	old.stop(websocket.StatusPolicyViolation, "replaced")
}

// enter makes sure sessionID has a room for one more connection served
// here and, on several nodes, that the room hears the other nodes.
func (h *Hub) enter(sessionID string) {
	h.mu.Lock()
	r := h.rooms[sessionID]
	created := r == nil
	if created {
		r = &room{viewers: map[string]*peer{}, relayed: map[string]bool{}, remote: map[string]*remoteViewer{},
			ghosts: map[string]*peer{}, subscribed: make(chan struct{})}
		h.rooms[sessionID] = r
	}
	r.held++
	h.mu.Unlock()
	if !created {
		<-r.subscribed
		return
	}
	if h.net != nil {
		unsub := h.net.subscribe(sessionID, r)
		h.mu.Lock()
		r.unsub = unsub
		h.mu.Unlock()
	}
	close(r.subscribed)
}

// exit ends what enter began; the last connection's exit drops the room.
func (h *Hub) exit(sessionID string) {
	h.mu.Lock()
	r := h.rooms[sessionID]
	r.held--
	var unsub func()
	if r.held == 0 {
		delete(h.rooms, sessionID)
		unsub = r.unsub
	}
	h.mu.Unlock()
	if unsub != nil {
		unsub()
	}
}

// detach removes p (if it is still the registered one) and tells the agent
// when a viewer leaves. It reports whether p was registered.
func (h *Hub) detach(p *peer) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[p.sessionID]
	if r == nil {
		return false
	}
	was := false
	if p.viewerID == "" {
		if r.agent == p {
			r.agent, was = nil, true
			h.net.announce(r, p, kindDown)
			// The stand-ins' credits were at this agent; their viewers
			// stay (stopping a stand-in would drop its viewer).
			clear(r.ghosts)
		}
	} else if r.viewers[p.viewerID] == p {
		delete(r.viewers, p.viewerID)
		delete(r.relayed, p.viewerID)
		for i, id := range r.order {
			if id == p.viewerID {
				r.order = append(r.order[:i], r.order[i+1:]...)
				break
			}
		}
		was = true
		// A viewer that came back through another node has not left.
		if !p.moved.Load() {
			if r.agent != nil {
				r.agent.send(protocol.Signal{Type: protocol.SignalViewerLeft, ViewerID: p.viewerID})
			}
			h.net.announce(r, p, kindDown)
		}
	}
	return was
}

// toViewer routes a message to one viewer of a session.
func (h *Hub) toViewer(sessionID, viewerID string, m protocol.Signal) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[sessionID]
	if r == nil {
		return false
	}
	if v := r.viewers[viewerID]; v != nil {
		v.send(m)
		return true
	}
	if r.remote[viewerID] != nil {
		h.net.signal(sessionID, kindToViewer, viewerID, m)
		return true
	}
	return false
}

// toAgent routes a message to the session's agent.
func (h *Hub) toAgent(sessionID string, m protocol.Signal) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[sessionID]
	if r == nil {
		return false
	}
	if r.agent != nil {
		r.agent.send(m)
		return true
	}
	if r.remoteAgent != "" {
		h.net.signal(sessionID, kindToAgent, "", m)
		return true
	}
	return false
}

// isAgent reports whether p is its session's current agent connection.
func (h *Hub) isAgent(p *peer) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[p.sessionID]
	return r != nil && r.agent == p
}

// toViewers sends m to every viewer of a session.
func (h *Hub) toViewers(sessionID string, m protocol.Signal) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[sessionID]
	if r == nil {
		return
	}
	for _, id := range r.order {
		r.viewers[id].send(m)
	}
	if len(r.remote) > 0 {
		h.net.signal(sessionID, kindToViewers, "", m)
	}
}

// broadcast sends m to the agent and every viewer of a session.
func (h *Hub) broadcast(sessionID string, m protocol.Signal) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[sessionID]
	if r == nil {
		return
	}
	if r.agent != nil {
		r.agent.send(m)
	}
	for _, id := range r.order {
		r.viewers[id].send(m)
	}
}

// SessionChanged implements app.SessionEvents: "session" to everyone, or
// for an ended session "end" to everyone and every socket closed.
func (h *Hub) SessionChanged(s protocol.Session) {
	if s.State != protocol.SessionEnded {
		h.broadcast(s.ID, protocol.Signal{Type: protocol.SignalSession, Session: &s})
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	for id, t := range h.ended {
		if now.Sub(t) > 10*time.Minute {
			delete(h.ended, id)
		}
	}
	h.ended[s.ID] = now
	r := h.rooms[s.ID]
	if r == nil {
		return
	}
	end := protocol.Signal{Type: protocol.SignalEnd, Reason: s.Reason, Session: &s}
	if r.agent != nil {
		r.agent.send(end)
		r.agent.stop(websocket.StatusNormalClosure, "session ended")
	}
	for _, v := range r.viewers {
		v.send(end)
		v.stop(websocket.StatusNormalClosure, "session ended")
	}
}

// ControlChanged implements app.SessionEvents.
func (h *Hub) ControlChanged(sessionID, holder string) {
	h.broadcast(sessionID, protocol.Signal{Type: protocol.SignalControl, Holder: holder})
}

// ControlRequested implements app.SessionEvents: a "control" message that
// keeps the holder and names the requesting viewer in viewer_id.
func (h *Hub) ControlRequested(sessionID, holder, viewerID, user string) {
	h.broadcast(sessionID, protocol.Signal{Type: protocol.SignalControl, Holder: holder, ViewerID: viewerID,
		Message: user + " requests control"})
}

// Served reports whether this node or another serves one of the session's
// sockets. Asking the other nodes takes up to a second when none answers.
func (h *Hub) Served(sessionID string) bool {
	h.mu.Lock()
	_, here := h.rooms[sessionID]
	h.mu.Unlock()
	return here || h.net.anyPresent(sessionID)
}

// CloseViewers implements app.SessionEvents: the user's viewers are told
// the session is over for them and their sockets close (within about a
// second; the agent hears viewer_left and drops their peer connections).
func (h *Hub) CloseViewers(userID string, keep func(sessionID string) bool) {
	h.mu.Lock()
	var ps []*peer
	for _, r := range h.rooms {
		for _, v := range r.viewers {
			if v.userID == userID {
				ps = append(ps, v)
			}
		}
	}
	h.mu.Unlock()
	for _, p := range ps {
		if keep != nil && keep(p.sessionID) {
			continue
		}
		p.send(protocol.Signal{Type: protocol.SignalError, Message: "your access to this session was withdrawn"})
		p.stop(websocket.StatusPolicyViolation, "access withdrawn")
	}
}

// ServeAgent runs the agent side of a session's signalling until the
// socket closes. A newer agent connection replaces an older one.
func (h *Hub) ServeAgent(conn *websocket.Conn, s protocol.Session, svc Sessions) {
	h.serve(conn, s, "", "", "", svc)
}

// ServeViewer runs one viewer's signalling until the socket closes, then
// tells the service the viewer left.
func (h *Hub) ServeViewer(conn *websocket.Conn, j app.ViewerJoin, svc Sessions) {
	h.serve(conn, j.Session, j.ViewerID, j.User, j.UserID, svc)
}

func (h *Hub) serve(conn *websocket.Conn, s protocol.Session, viewerID, user, userID string, svc Sessions) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		conn.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()

	h.enter(s.ID)
	defer h.exit(s.ID)
	side := "viewer"
	if viewerID == "" {
		side = "agent"
	}
	sockets.WithLabelValues(side).Inc()
	defer sockets.WithLabelValues(side).Dec()
	p := h.newPeer(conn, s.ID, viewerID, user, userID)
	go p.writeLoop()
	log := h.log.With("session_id", s.ID, "viewer_id", viewerID)
	if !h.attach(p, s) {
		p.send(protocol.Signal{Type: protocol.SignalEnd, Reason: s.Reason})
		p.stop(websocket.StatusNormalClosure, "session ended")
	} else {
		log.Debug("signalling connected")
	}
	var readErr error
	for {
		typ, data, err := conn.Read(p.ctx)
		if err != nil {
			readErr = err
			break
		}
		if typ == websocket.MessageBinary {
			h.relay(p, data)
			continue
		}
		h.handle(p, data, svc)
	}
	// Stopped by the hub for a reason of its own (the session ended, the
	// user was disabled, the peer was too slow), or closed by the viewer:
	// gone. Dropped by the network: its seat is held (below).
	var byHub bool
	select {
	case <-p.quit:
		byHub = !p.lost.Load()
	default:
	}
	p.stop(websocket.StatusNormalClosure, "")
	<-p.wrote
	was := h.detach(p)
	if was && viewerID != "" {
		// A viewer that closed (1000, or 1001: the page went away) has
		// left; one whose connection dropped keeps its seat, and control,
		// for the outage limit, to rejoin with ?viewer=.
		st := websocket.CloseStatus(readErr)
		switch {
		case p.moved.Load():
			// Back through another node, which holds its seat now.
		case byHub || st == websocket.StatusNormalClosure || st == websocket.StatusGoingAway:
			h.leave(s.ID, viewerID, user, svc)
		default:
			h.holdSeat(s.ID, viewerID, user, svc)
		}
	}
	if was && viewerID == "" {
		h.agentGone(s.ID, svc)
	}
	log.Debug("signalling closed")
}

// leave tells the service that a viewer left.
func (h *Hub) leave(sessionID, viewerID, user string, svc Sessions) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	svc.LeaveSession(ctx, sessionID, viewerID, user)
}

// holdSeat keeps a dropped viewer's seat for the session's grace (as
// agentGone's); it leaves then unless it came back.
func (h *Hub) holdSeat(sessionID, viewerID, user string, svc Sessions) {
	grace := h.grace(sessionID, svc)
	key := sessionID + "/" + viewerID
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		go h.leave(sessionID, viewerID, user, svc)
		return
	}
	if old := h.seats[key]; old != nil {
		old.Stop()
	}
	h.seats[key] = time.AfterFunc(grace, func() {
		h.mu.Lock()
		t := h.seats[key]
		delete(h.seats, key)
		r := h.rooms[sessionID]
		back := r != nil && r.viewers[viewerID] != nil
		h.mu.Unlock()
		if t != nil && !back && !h.net.present(sessionID, viewerID) {
			h.leave(sessionID, viewerID, user, svc)
			h.log.Debug("a dropped viewer did not come back; its seat is released", "session_id", sessionID, "viewer_id", viewerID)
		}
	})
}

// grace is how long a session's agent or viewer may stay away.
func (h *Hub) grace(sessionID string, svc Sessions) time.Duration {
	if g, ok := svc.(interface {
		AgentGrace(ctx context.Context, sessionID string) time.Duration
	}); ok && !h.cfg.fixedGrace {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return g.AgentGrace(ctx, sessionID)
	}
	return h.cfg.AgentGrace
}

// agentGone gives a session whose agent's signalling dropped AgentGrace
// to come back; after that it ends connection_lost, so that neither the
// viewers nor the session list wait for it for ever.
func (h *Hub) agentGone(sessionID string, svc Sessions) {
	grace := h.grace(sessionID, svc)
	time.AfterFunc(grace, func() {
		h.mu.Lock()
		r := h.rooms[sessionID]
		back := r != nil && r.agent != nil
		_, ended := h.ended[sessionID]
		closed := h.closed
		h.mu.Unlock()
		if back || ended || closed || h.net.present(sessionID, "") {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := svc.ReportState(ctx, sessionID, protocol.SessionEnded, protocol.EndedConnectionLost, ""); err != nil {
			h.log.Debug("ending a session whose agent stayed away", "session_id", sessionID, "error", err)
			return
		}
		h.log.Info("session ended: its agent's signalling stayed away", "session_id", sessionID, "grace", grace)
	})
}

// wantRelay records that viewer p wants the WebSocket relay and tells the
// agent, now or when it connects.
func (h *Hub) wantRelay(p *peer, m protocol.Signal) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[p.sessionID]
	if r == nil || r.viewers[p.viewerID] != p {
		return
	}
	r.relayed[p.viewerID] = true
	if r.agent != nil {
		r.agent.send(m)
	} else if r.remoteAgent != "" {
		h.net.signal(p.sessionID, kindRelay, p.viewerID, m)
	}
}

// relay forwards one relay frame: a viewer's to the agent, under the
// viewer's own id; the agent's to the viewer it names. A malformed frame
// is answered with an error and dropped.
func (h *Hub) relay(p *peer, data []byte) {
	if p.viewerID != "" {
		f, err := protocol.ParseViewerFrame(data)
		if err != nil {
			p.send(protocol.Signal{Type: protocol.SignalError, Message: err.Error()})
			return
		}
		f.ViewerID = p.viewerID
		h.mu.Lock()
		defer h.mu.Unlock()
		r := h.rooms[p.sessionID]
		if r == nil || r.viewers[p.viewerID] != p {
			return
		}
		if r.agent != nil {
			r.agent.sendFrame(protocol.AppendAgentFrame(make([]byte, 0, len(data)+1+len(f.ViewerID)), f), p)
		} else if r.remoteAgent != "" {
			h.net.frame(p.sessionID, kindFrameToAgent, p.viewerID, protocol.AppendAgentFrame(make([]byte, 0, len(data)+1+len(f.ViewerID)), f))
		}
		return
	}
	f, err := protocol.ParseAgentFrame(data)
	if err != nil {
		p.send(protocol.Signal{Type: protocol.SignalError, Message: err.Error()})
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.rooms[p.sessionID]; r != nil && r.agent == p {
		if v := r.viewers[f.ViewerID]; v != nil {
			v.sendFrame(protocol.AppendViewerFrame(make([]byte, 0, 2+len(f.Payload)), f), nil)
		} else if r.remote[f.ViewerID] != nil {
			h.net.frame(p.sessionID, kindFrameToViewer, f.ViewerID, protocol.AppendViewerFrame(make([]byte, 0, 2+len(f.Payload)), f))
		}
	}
}

// handle acts on one message from p.
func (h *Hub) handle(p *peer, data []byte, svc Sessions) {
	fail := func(err error) {
		p.send(protocol.Signal{Type: protocol.SignalError, Message: err.Error()})
	}
	if p.viewerID != "" {
		m, err := FromViewer(p.viewerID, data)
		if err != nil {
			fail(err)
			return
		}
		if m.Type == protocol.SignalChat {
			// A technician's own line, for the session's history: said by
			// this viewer, whatever the endpoint claims.
			ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
			defer cancel()
			if err := svc.RecordChat(ctx, p.sessionID, p.viewerID, *m.Chat); err != nil {
				fail(err)
			}
			return
		}
		if m.Type == protocol.SignalRelay {
			h.wantRelay(p, m)
			return
		}
		if !h.toAgent(p.sessionID, m) {
			fail(errors.New("the endpoint is not connected yet"))
		}
		return
	}
	m, err := FromAgent(data)
	if err != nil {
		fail(err)
		return
	}
	if !h.isAgent(p) {
		return // replaced by a newer agent connection: its word no longer counts
	}
	switch m.Type {
	case protocol.SignalReconnect:
		// The session moved to another helper (a desktop change): tell the
		// viewers, who then take the new helper's offers.
		h.toViewers(p.sessionID, protocol.Signal{Type: protocol.SignalReconnect, Reason: m.Reason})
	case protocol.SignalOffer, protocol.SignalCandidate, protocol.SignalRelay:
		if !h.toViewer(p.sessionID, m.ViewerID, m) {
			fail(bad("no viewer %q in this session", m.ViewerID))
		}
	case protocol.SignalState:
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		defer cancel()
		// The service publishes the change back through SessionChanged.
		if _, err := svc.ReportState(ctx, p.sessionID, m.State, m.Reason, m.Mode); err != nil {
			fail(err)
		}
	case protocol.SignalChat:
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		defer cancel()
		// The endpoint speaks for its user only: a viewer id it names is
		// ignored, so it can never put words in a technician's mouth.
		if err := svc.RecordChat(ctx, p.sessionID, "", *m.Chat); err != nil {
			fail(err)
		}
	case protocol.SignalFile:
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		defer cancel()
		if err := svc.RecordFile(ctx, p.sessionID, *m.File); err != nil {
			fail(err)
		}
	case protocol.SignalToolAction:
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		defer cancel()
		if err := svc.RecordToolAction(ctx, p.sessionID, *m.ToolAction); err != nil {
			fail(err)
		}
	}
}

// Close drops every connection and waits (up to 5 s) for them to finish.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	for _, r := range h.rooms {
		if r.agent != nil {
			r.agent.stop(websocket.StatusGoingAway, "server shutting down")
		}
		for _, v := range r.viewers {
			v.stop(websocket.StatusGoingAway, "server shutting down")
		}
	}
	h.mu.Unlock()
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		h.log.Warn("signalling connections still open after 5 s")
	}
}
