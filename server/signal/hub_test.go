package signal

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tetherdesk/tether/server/app"
	"github.com/tetherdesk/tether/shared/protocol"
)

// fakeSessions records the states reported to it.
type fakeSessions struct {
	reports chan protocol.Reason
	left    chan string // viewer ids LeaveSession was told of, when set
}

func (f *fakeSessions) ReportState(_ context.Context, id string, state protocol.SessionState, reason protocol.Reason, _ protocol.Mode) (protocol.Session, error) {
	f.reports <- reason
	return protocol.Session{ID: id, State: state, Reason: reason}, nil
}
func (f *fakeSessions) LeaveSession(_ context.Context, _, viewerID, _ string) {
	if f.left != nil {
		f.left <- viewerID
	}
}
func (f *fakeSessions) RecordChat(context.Context, string, string, protocol.ChatLine) error {
	return nil
}
func (f *fakeSessions) RecordFile(context.Context, string, protocol.FileRecord) error { return nil }
func (f *fakeSessions) RecordToolAction(context.Context, string, protocol.ToolAction) error {
	return nil
}

// TestAgentGrace: an agent whose signalling drops has AgentGrace to come
// back; back in time, the session goes on; not back, it ends
// connection_lost.
func TestAgentGrace(t *testing.T) {
	const grace = 300 * time.Millisecond
	h, err := New(Config{AgentGrace: grace})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	svc := &fakeSessions{reports: make(chan protocol.Reason, 4)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		id := strings.TrimPrefix(r.URL.Path, "/")
		h.ServeAgent(c, protocol.Session{ID: id, State: protocol.SessionActive}, svc)
	}))
	defer srv.Close()
	connect := func(id string) *websocket.Conn {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/"+id, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil { // hello: attached
			t.Fatal(err)
		}
		return c
	}

	// Back within the grace: nothing ends.
	c := connect("s1")
	c.Close(websocket.StatusGoingAway, "network")
	c = connect("s1")
	defer c.CloseNow()
	// Away for good: ended connection_lost after the grace.
	d := connect("s2")
	d.Close(websocket.StatusGoingAway, "network")
	select {
	case r := <-svc.reports:
		if r != protocol.EndedConnectionLost {
			t.Fatalf("ended %q", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a session whose agent stayed away did not end")
	}
	// s1's agent came back: its grace passed (long before s2's report,
	// which was scheduled later) without an end.
	select {
	case r := <-svc.reports:
		t.Fatalf("a session whose agent came back ended %q", r)
	default:
	}
}

// serveRoom serves one session's agent ("/agent") and viewers ("/viewer/ID")
// on a hub with cfg; connect dials path and reads the hello. Everything
// ends with the test.
func serveRoom(ctx context.Context, t *testing.T, cfg Config) (connect func(path string) *websocket.Conn) {
	t.Helper()
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return serveRelay(ctx, t, h, &fakeSessions{reports: make(chan protocol.Reason, 4)})
}

// serveRelay serves session s1's agent ("/agent") and viewers
// ("/viewer/ID") on rel with the service svc; connect dials path and
// checks the hello.
func serveRelay(ctx context.Context, t *testing.T, rel Relay, svc Sessions) (connect func(path string) *websocket.Conn) {
	t.Helper()
	sess := protocol.Session{ID: "s1", State: protocol.SessionActive}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		if v := strings.TrimPrefix(r.URL.Path, "/viewer/"); v != r.URL.Path {
			rel.ServeViewer(c, app.ViewerJoin{Session: sess, ViewerID: v, User: "tech"}, svc)
			return
		}
		rel.ServeAgent(c, sess, svc)
	}))
	t.Cleanup(srv.Close)
	return func(path string) *websocket.Conn {
		t.Helper()
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadLimit(-1)
		t.Cleanup(func() { c.CloseNow() })
		var m protocol.Signal
		if _, b, err := c.Read(ctx); err != nil || json.Unmarshal(b, &m) != nil || m.Type != protocol.SignalHello {
			t.Fatalf("%s: first message %s (%v), want hello", path, b, err)
		}
		return c
	}
}

// TestRelayRouting: relay frames go from a viewer to the agent under the
// viewer's own id, and from the agent to the one viewer they name; a
// malformed frame is answered with an error.
func TestRelayRouting(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	connect := serveRoom(ctx, t, Config{})
	// nextBinary skips text messages; with wantErr it returns the first
	// error signal's message instead.
	next := func(c *websocket.Conn, wantErr bool) []byte {
		t.Helper()
		for {
			typ, b, err := c.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if typ == websocket.MessageBinary && !wantErr {
				return b
			}
			if typ == websocket.MessageText && wantErr && strings.Contains(string(b), `"type":"error"`) {
				return b
			}
		}
	}
	// v1 asks for the relay before the agent is there: the agent hears it
	// when it connects, after v1's join.
	v1 := connect("/viewer/v1")
	if err := v1.Write(ctx, websocket.MessageText, []byte(`{"type":"relay","reason":"asked"}`)); err != nil {
		t.Fatal(err)
	}
	// v1's messages are handled in order: once the bogus one is answered,
	// the request is in.
	if err := v1.Write(ctx, websocket.MessageText, []byte(`{"type":"bogus"}`)); err != nil {
		t.Fatal(err)
	}
	next(v1, true)
	v2 := connect("/viewer/v2")
	agent := connect("/agent")
	var seen []string
	for !slices.Contains(seen, "relay v1") {
		_, b, err := agent.Read(ctx)
		if err != nil {
			t.Fatalf("%v; the agent heard %v", err, seen)
		}
		var m protocol.Signal
		_ = json.Unmarshal(b, &m)
		seen = append(seen, string(m.Type)+" "+m.ViewerID)
	}
	if want := []string{"viewer_joined v1", "relay v1"}; !slices.Equal(seen, want) {
		t.Fatalf("the agent heard %v, want %v", seen, want)
	}

	if err := v1.Write(ctx, websocket.MessageBinary, protocol.AppendViewerFrame(nil, protocol.RelayFrame{Channel: 2, Text: true, Payload: []byte(`{"t":"move"}`)})); err != nil {
		t.Fatal(err)
	}
	f, err := protocol.ParseAgentFrame(next(agent, false))
	if err != nil || f.ViewerID != "v1" || f.Channel != 2 || !f.Text || string(f.Payload) != `{"t":"move"}` {
		t.Fatalf("the agent got %+v (%v), want v1's input", f, err)
	}
	for _, to := range []string{"nobody", "v2", "v1"} {
		if err := agent.Write(ctx, websocket.MessageBinary, protocol.AppendAgentFrame(nil, protocol.RelayFrame{ViewerID: to, Channel: 1, Payload: []byte("for " + to)})); err != nil {
			t.Fatal(err)
		}
	}
	for c, want := range map[*websocket.Conn]string{v1: "for v1", v2: "for v2"} {
		f, err := protocol.ParseViewerFrame(next(c, false))
		if err != nil || string(f.Payload) != want {
			t.Fatalf("a viewer got %q (%v), want %q first", f.Payload, err, want)
		}
	}
	if err := v2.Write(ctx, websocket.MessageBinary, []byte{1}); err != nil {
		t.Fatal(err)
	}
	if e := next(v2, true); !strings.Contains(string(e), "malformed relay frame") {
		t.Fatalf("a malformed frame was answered %s", e)
	}
}

// TestViewerSeat: a viewer whose connection drops keeps its seat for the
// grace: back in time, it never leaves; away for good, it leaves after it.
func TestViewerSeat(t *testing.T) {
	svc := &fakeSessions{reports: make(chan protocol.Reason, 4), left: make(chan string, 4)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// serve runs a hub with grace; connect attaches viewer id to it.
	serve := func(grace time.Duration) func(id string) *websocket.Conn {
		h, err := New(Config{AgentGrace: grace})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(h.Close)
		sess := protocol.Session{ID: "s1", State: protocol.SessionActive}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			h.ServeViewer(c, app.ViewerJoin{Session: sess, ViewerID: strings.TrimPrefix(r.URL.Path, "/"), User: "tech"}, svc)
		}))
		t.Cleanup(srv.Close)
		return func(id string) *websocket.Conn {
			t.Helper()
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/"+id, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.CloseNow() })
			if _, _, err := c.Read(ctx); err != nil { // hello: attached
				t.Fatal(err)
			}
			return c
		}
	}
	left := func() string {
		t.Helper()
		select {
		case id := <-svc.left:
			return id
		case <-ctx.Done():
			t.Fatal("no viewer left")
			return ""
		}
	}

	connect := serve(300 * time.Millisecond)
	connect("v1").CloseNow() // dropped: no close handshake
	connect("v1")            // and back within the grace
	connect("v2").CloseNow() // away for good: leaves after the grace
	if id := left(); id != "v2" {
		t.Fatalf("%s left; v1 came back in time and v2 did not", id)
	}
	// v1's seat would have been released before v2's (its drop came first).
	select {
	case id := <-svc.left:
		t.Fatalf("%s left too", id)
	default:
	}

	// Closed, not dropped: it leaves without the (hour-long) grace.
	connect = serve(time.Hour)
	connect("v3").Close(websocket.StatusNormalClosure, "bye")
	if id := left(); id != "v3" {
		t.Fatalf("%s left, want v3", id)
	}
}

// TestRelayFloodDropsViewer: a viewer that relays faster than the agent
// takes in is dropped; the agent, and another viewer, stay.
func TestRelayFloodDropsViewer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	connect := serveRoom(ctx, t, Config{RelayBuffer: 1 << 20})
	agent := connect("/agent") // reads nothing from now on: its queue at the server fills
	calm := connect("/viewer/calm")
	flood := connect("/viewer/flood")
	frame := protocol.AppendViewerFrame(nil, protocol.RelayFrame{Channel: 5, Payload: make([]byte, 200<<10)})
	dropped := false
	for i := 0; i < 500 && !dropped; i++ {
		if err := flood.Write(ctx, websocket.MessageBinary, frame); err != nil {
			dropped = true
		}
	}
	// The hub closes it; a read sees why.
	for !dropped {
		if _, _, err := flood.Read(ctx); err != nil {
			if st := websocket.CloseStatus(err); st != websocket.StatusPolicyViolation {
				t.Fatalf("the flooding viewer was closed with %v (%v), want a policy violation", st, err)
			}
			dropped = true
		}
	}
	// The agent is still there: it reads what was queued, then a frame the
	// calm viewer sends now.
	if err := calm.Write(ctx, websocket.MessageBinary, protocol.AppendViewerFrame(nil, protocol.RelayFrame{Channel: 2, Text: true, Payload: []byte("calm")})); err != nil {
		t.Fatal(err)
	}
	for {
		typ, b, err := agent.Read(ctx)
		if err != nil {
			t.Fatalf("the agent lost its connection: %v", err)
		}
		if typ != websocket.MessageBinary {
			continue
		}
		if f, err := protocol.ParseAgentFrame(b); err == nil && f.ViewerID == "calm" {
			break
		}
	}
}
