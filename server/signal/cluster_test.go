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

// TestClusteredEvents: the service's session events on one node reach a
// session's socket on another: a control change, then the session's end,
// which closes it.
func TestClusteredEvents(t *testing.T) {
	busA, busB := testenv.ClusterNodes(t)
	node := func(bus *cluster.Bus) *Clustered {
		h, err := New(Config{})
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
	a, b := node(busA), node(busB)

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
