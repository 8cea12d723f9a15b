package signal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tetherdesk/tether/shared/protocol"
)

// fakeSessions records the states reported to it.
type fakeSessions struct {
	reports chan protocol.Reason
}

func (f *fakeSessions) ReportState(_ context.Context, id string, state protocol.SessionState, reason protocol.Reason, _ protocol.Mode) (protocol.Session, error) {
	f.reports <- reason
	return protocol.Session{ID: id, State: state, Reason: reason}, nil
}
func (f *fakeSessions) LeaveSession(context.Context, string, string, string) {}
func (f *fakeSessions) RecordChat(context.Context, string, string, protocol.ChatLine) error {
	return nil
}
func (f *fakeSessions) RecordFile(context.Context, string, protocol.FileRecord) error { return nil }

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
