package signal

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/server/cluster"
	"github.com/tetherdesk/tether/shared/protocol"
)

// clusteredNode is a node's hub on bus, closed when the test ends.
func clusteredNode(t *testing.T, bus *cluster.Bus, cfg Config) *Clustered {
	t.Helper()
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClustered(h, bus)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestClusteredEvents: the service's session events on one node reach a
// session's socket on another: a control change, then the session's end,
// which closes it.
func TestClusteredEvents(t *testing.T) {
	busA, busB := testenv.ClusterNodes(t)
	a, b := clusteredNode(t, busA, Config{}), clusteredNode(t, busB, Config{})

	// The session's agent is on node b.
	svc := &fakeSessions{reports: make(chan protocol.Reason, 4)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		b.ServeAgent(c, protocol.Session{ID: "s1", State: protocol.SessionActive}, svc)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/s1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	read := func() protocol.Signal {
		t.Helper()
		_, b, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("reading the agent's socket on node b: %v", err)
		}
		var m protocol.Signal
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := read(); m.Type != protocol.SignalHello {
		t.Fatalf("first message %+v, want hello", m)
	}

	// Events of node a's service. A user's roles changed: node b asks
	// its own service which of the user's sessions they may still see.
	judged := make(chan string, 1)
	b.SetViewerKeep(func(userID string) func(string) bool { judged <- userID; return nil })
	a.CloseViewers("u7", func(string) bool { return true })
	select {
	case u := <-judged:
		if u != "u7" {
			t.Errorf("node b judged user %q, want u7", u)
		}
	case <-ctx.Done():
		t.Fatal("node b was not asked to recheck the user's viewers")
	}
	a.ControlChanged("s1", "v9")
	if m := read(); m.Type != protocol.SignalControl || m.Holder != "v9" {
		t.Fatalf("after a control change on node a, node b's agent got %+v", m)
	}
	a.SessionChanged(protocol.Session{ID: "s1", State: protocol.SessionEnded, Reason: protocol.EndedByTechnician})
	if m := read(); m.Type != protocol.SignalEnd || m.Reason != protocol.EndedByTechnician {
		t.Fatalf("after the session ended on node a, node b's agent got %+v", m)
	}
	if _, _, err := conn.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("the agent's socket on node b after the end: %v, want a normal close", err)
	}
}

// TestClusteredRelay: a session's agent and viewers on two nodes reach each
// other as on one: joins (whichever comes first), offers and answers, the
// WebSocket relay's frames both ways, a reconnect, a leave. The agent then
// moves to the other node (the newer connection replaces the older) and a
// dropped viewer comes back through the other node: the node they left
// asks before it ends the session or releases the seat, and does neither.
func TestClusteredRelay(t *testing.T) {
	busA, busB := testenv.ClusterNodes(t)
	cfg := Config{AgentGrace: 300 * time.Millisecond}
	a, b := clusteredNode(t, busA, cfg), clusteredNode(t, busB, cfg)
	svcA := &fakeSessions{reports: make(chan protocol.Reason, 4), left: make(chan string, 8)}
	svcB := &fakeSessions{reports: make(chan protocol.Reason, 4), left: make(chan string, 8)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	onA, onB := serveRelay(ctx, t, a, svcA), serveRelay(ctx, t, b, svcB)

	// A node that asks whether another serves a peer is answered "yes"
	// only when one does: the tap counts the yeses.
	tap, err := cluster.Open(cluster.Config{URL: busA.URL(), Node: "tap"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tap.Close)
	yeses := make(chan struct{}, 8)
	if _, err := tap.Subscribe("tether.sigreply.>", func([]byte) { yeses <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	yes := func(what string) {
		t.Helper()
		select {
		case <-yeses:
		case <-ctx.Done():
			t.Fatalf("no node answered that it serves %s", what)
		}
	}

	// next reads c until a text message of type typ (and viewer id vid,
	// when set) or a binary frame (typ "frame").
	next := func(c *websocket.Conn, typ protocol.SignalType, vid string) (protocol.Signal, []byte) {
		t.Helper()
		var seen []string
		for {
			mt, data, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("waiting for %s %s: %v; heard %v", typ, vid, err, seen)
			}
			if mt == websocket.MessageBinary {
				if typ == "frame" {
					return protocol.Signal{}, data
				}
				seen = append(seen, "frame")
				continue
			}
			var m protocol.Signal
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			if m.Type == typ && (vid == "" || m.ViewerID == vid) {
				return m, nil
			}
			seen = append(seen, string(m.Type)+" "+m.ViewerID)
		}
	}
	write := func(c *websocket.Conn, s string) {
		t.Helper()
		if err := c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}

	// v1 on A before the agent, which comes on B; v2 on B and v3 on A after.
	v1 := onA("/viewer/v1")
	write(v1, `{"type":"relay"}`)
	agent := onB("/agent")
	next(agent, protocol.SignalViewerJoined, "v1")
	next(agent, protocol.SignalRelay, "v1")
	v2 := onB("/viewer/v2")
	next(agent, protocol.SignalViewerJoined, "v2")
	v3 := onA("/viewer/v3")
	next(agent, protocol.SignalViewerJoined, "v3")

	// Offers to v1 on the other node, its answer back.
	write(agent, `{"type":"offer","viewer_id":"v1","sdp":"v=0 offer"}`)
	if m, _ := next(v1, protocol.SignalOffer, ""); m.SDP != "v=0 offer" {
		t.Fatalf("v1 got offer %q", m.SDP)
	}
	write(v1, `{"type":"answer","sdp":"v=0 answer"}`)
	if m, _ := next(agent, protocol.SignalAnswer, "v1"); m.SDP != "v=0 answer" {
		t.Fatalf("the agent got v1's answer %q", m.SDP)
	}

	// Relay frames: v1's input to the agent, under v1's id; the agent's
	// frames to v1 (another node) and v2 (its own).
	if err := v1.Write(ctx, websocket.MessageBinary, protocol.AppendViewerFrame(nil, protocol.RelayFrame{Channel: 2, Text: true, Payload: []byte(`{"t":"move"}`)})); err != nil {
		t.Fatal(err)
	}
	_, data := next(agent, "frame", "")
	if f, err := protocol.ParseAgentFrame(data); err != nil || f.ViewerID != "v1" || string(f.Payload) != `{"t":"move"}` {
		t.Fatalf("the agent got %+v (%v), want v1's input", f, err)
	}
	for _, to := range []string{"v1", "v2"} {
		if err := agent.Write(ctx, websocket.MessageBinary, protocol.AppendAgentFrame(nil, protocol.RelayFrame{ViewerID: to, Channel: 1, Payload: []byte("for " + to)})); err != nil {
			t.Fatal(err)
		}
	}
	for c, want := range map[*websocket.Conn]string{v1: "for v1", v2: "for v2"} {
		_, data := next(c, "frame", "")
		if f, err := protocol.ParseViewerFrame(data); err != nil || string(f.Payload) != want {
			t.Fatalf("a viewer got %q (%v), want %q", f.Payload, err, want)
		}
	}

	// v3's input too, so that node b keeps a stand-in of v3 for its
	// credits; v3 must outlive it when the agent moves.
	if err := v3.Write(ctx, websocket.MessageBinary, protocol.AppendViewerFrame(nil, protocol.RelayFrame{Channel: 2, Text: true, Payload: []byte(`{"t":"key"}`)})); err != nil {
		t.Fatal(err)
	}
	_, data = next(agent, "frame", "")
	if f, err := protocol.ParseAgentFrame(data); err != nil || f.ViewerID != "v3" {
		t.Fatalf("the agent got %+v (%v), want v3's input", f, err)
	}

	// A reconnect reaches the viewers on both nodes.
	write(agent, `{"type":"reconnect","reason":"desktop changed"}`)
	next(v1, protocol.SignalReconnect, "")
	next(v2, protocol.SignalReconnect, "")

	// v1 closes: the agent on the other node hears it left; A's service
	// is told.
	v1.Close(websocket.StatusNormalClosure, "bye")
	next(agent, protocol.SignalViewerLeft, "v1")
	if id := <-svcA.left; id != "v1" {
		t.Fatalf("node a's service was told %s left, want v1", id)
	}

	// The agent comes again through A: B's connection is replaced, and
	// the new one hears of v2 (on B) and v3 (on A).
	agent2 := onA("/agent")
	if m, _ := next(agent, protocol.SignalError, ""); !strings.Contains(m.Message, "replaced") {
		t.Fatalf("the older agent connection was told %q", m.Message)
	}
	joined := map[string]bool{}
	for len(joined) < 2 {
		m, _ := next(agent2, protocol.SignalViewerJoined, "")
		joined[m.ViewerID] = true
	}
	if !joined["v2"] || !joined["v3"] {
		t.Fatalf("the moved agent heard of %v, want v2 and v3", joined)
	}
	yes("the agent") // B's grace for its agent ran out; A has it
	write(v2, `{"type":"answer","sdp":"v=0 from v2"}`)
	if m, _ := next(agent2, protocol.SignalAnswer, "v2"); m.SDP != "v=0 from v2" {
		t.Fatalf("the moved agent got v2's answer %q", m.SDP)
	}
	write(v3, `{"type":"answer","sdp":"v=0 from v3"}`)
	if m, _ := next(agent2, protocol.SignalAnswer, "v3"); m.SDP != "v=0 from v3" {
		t.Fatalf("the moved agent got v3's answer %q", m.SDP)
	}

	// v2's connection drops on B; it comes back through A (its seat held
	// on B is A's now).
	v2.CloseNow()
	v2 = onA("/viewer/v2")
	next(agent2, protocol.SignalViewerJoined, "v2")
	yes("viewer v2") // asked when B's seat for v2 ran out

	// B serves none of s1's sockets now, yet knows that A does (the
	// sweep for unserved sessions asks this); nobody has an unknown one.
	if !b.Served("s1") {
		t.Fatal("node b does not know that node a serves s1")
	}
	yes("s1 at all")
	if b.Served("unknown") {
		t.Fatal("a session nobody has is served")
	}

	// And now for good: v2 closes, the agent closes; A ends the session.
	v2.Close(websocket.StatusNormalClosure, "bye")
	if id := <-svcA.left; id != "v2" {
		t.Fatalf("node a's service was told %s left, want v2", id)
	}
	agent2.CloseNow()
	if r := <-svcA.reports; r != protocol.EndedConnectionLost {
		t.Fatalf("the session ended %q", r)
	}
	// B, which lost the agent and v2 first, ended and released nothing.
	select {
	case r := <-svcB.reports:
		t.Fatalf("node b ended the session %q while its agent was on node a", r)
	case id := <-svcB.left:
		t.Fatalf("node b released %s's seat while it was on node a", id)
	default:
	}
}

// cutOffBus is a bus that has lost NATS: what it publishes reaches nobody.
type cutOffBus struct{ published int }

func (b *cutOffBus) Publish(string, []byte) error { b.published++; return nil }
func (b *cutOffBus) Subscribe(string, func([]byte)) (func(), error) {
	return func() {}, nil
}
func (b *cutOffBus) Connected() bool { return false }

// TestServedWhileCutOff: a node cut off from the others cannot hear their
// answers, so every session counts as served (the sweep for unserved
// sessions must not end what lives on a node it cannot reach); it does not
// even ask.
func TestServedWhileCutOff(t *testing.T) {
	h, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	bus := &cutOffBus{}
	c, err := NewClustered(h, bus)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if !c.Served("elsewhere") {
		t.Error("a node cut off from NATS took a session for unserved")
	}
	if bus.published != 0 {
		t.Errorf("it asked %d times over a bus that is away", bus.published)
	}
}
