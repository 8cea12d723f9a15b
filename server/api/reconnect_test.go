package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// TestAgentReconnectOnDesktopChange: a live session's agent side reconnects
// from another helper (the endpoint's active desktop changed). The session
// stays active with its viewers and holder, the viewers are told
// "reconnect", the new helper's offers reach them, reporting active again
// changes nothing, and the replaced connection's messages no longer count.
func TestAgentReconnectOnDesktopChange(t *testing.T) {
	f := newSessionFixture(t)
	f.allowUnattended(t, true)
	s := f.create(t, f.tech, false)
	p := f.start(t)
	old := f.agentConn(t, p)
	v, vid := f.viewerConn(t, f.tech, s.ID)
	old.expect(protocol.SignalViewerJoined)
	for _, st := range []protocol.SessionState{protocol.SessionConnecting, protocol.SessionActive} {
		old.send(protocol.Signal{Type: protocol.SignalState, State: st})
		v.expectWhere(protocol.SignalSession, func(m protocol.Signal) bool { return m.Session.State == st })
	}

	agent := f.agentConn(t, p) // the new desktop's helper
	old.waitClosed(2 * time.Second)
	if j := agent.expect(protocol.SignalViewerJoined); j.ViewerID != vid {
		t.Fatalf("viewer_joined = %+v", j)
	}
	agent.send(protocol.Signal{Type: protocol.SignalReconnect, Reason: protocol.ReconnectDesktopChanged})
	if r := v.expect(protocol.SignalReconnect); r.Reason != protocol.ReconnectDesktopChanged {
		t.Fatalf("reconnect = %+v", r)
	}
	agent.send(protocol.Signal{Type: protocol.SignalOffer, ViewerID: vid, SDP: "from-new-helper"})
	if o := v.expect(protocol.SignalOffer); o.SDP != "from-new-helper" {
		t.Fatalf("offer = %+v", o)
	}
	agent.send(protocol.Signal{Type: protocol.SignalState, State: protocol.SessionActive}) // a no-op
	agent.send(protocol.Signal{Type: protocol.SignalOffer, ViewerID: vid, SDP: "marker"})
	v.expectWhere(protocol.SignalOffer, func(m protocol.Signal) bool { return m.SDP == "marker" })
	if got := f.state(t, s.ID); got.State != protocol.SessionActive || len(got.Viewers) != 1 {
		t.Fatalf("session after the reconnect: %+v", got)
	}
}

// TestViewerRejoin: a viewer whose connection drops keeps its seat and
// control; with ?viewer= its own user takes the seat back, and nobody else
// can: not another user who may see the session, not one who may only in
// another group, not one without the permission. A viewer that closes
// leaves at once, and its seat can no longer be taken.
func TestViewerRejoin(t *testing.T) {
	f := newSessionFixture(t)
	f.allowUnattended(t, true)
	if _, err := f.e.store.CreateGroup(context.Background(), "Kiosks"); err != nil {
		t.Fatal(err)
	}
	scoped := f.e.user("kiosk-admin", perm.RoleAdministrator+"@Kiosks")
	s := f.create(t, f.tech, false)
	p := f.start(t)
	agent := f.agentConn(t, p)
	v, vid := f.viewerConn(t, f.tech, s.ID)
	agent.expect(protocol.SignalViewerJoined)
	agent.send(protocol.Signal{Type: protocol.SignalState, State: protocol.SessionConnecting})
	agent.send(protocol.Signal{Type: protocol.SignalState, State: protocol.SessionActive})
	v.expectWhere(protocol.SignalSession, func(m protocol.Signal) bool { return m.Session.State == protocol.SessionActive })
	if st := f.tech.do("POST", "/api/v1/sessions/"+s.ID+"/control", protocol.ControlRequest{Op: protocol.ControlRequestOp, Viewer: vid}, nil); st != 200 {
		t.Fatalf("request control: %d %s", st, f.tech.last)
	}

	v.conn.CloseNow() // dropped: no close handshake
	if l := agent.expect(protocol.SignalViewerLeft); l.ViewerID != vid {
		t.Fatalf("viewer_left = %+v", l)
	}
	if got := f.state(t, s.ID); got.ControlHolder != vid || len(got.Viewers) != 1 {
		t.Fatalf("after the drop: holder %q, viewers %+v; want the seat and control kept", got.ControlHolder, got.Viewers)
	}
	path := "/api/v1/sessions/" + s.ID + "/signal?viewer=" + vid
	for _, tc := range []struct {
		name string
		c    *client
		want int
	}{
		{"another user who may see the session", f.admin, 404},
		{"an administrator of another group", scoped, 404}, // not even told it exists
		{"no screen-share permission", f.nobd, 403},
		{"anonymous", f.e.client(), 401},
	} {
		if _, st, err := f.e.dial(t, tc.c, path, "", nil); err == nil || st != tc.want {
			t.Errorf("%s took the seat: status %d err %v, want %d", tc.name, st, err, tc.want)
		}
	}
	back, st, err := f.e.dial(t, f.tech, path, "", nil)
	if err != nil {
		t.Fatalf("the seat's own user: %d %v", st, err)
	}
	if h := back.expect(protocol.SignalHello); h.ViewerID != vid || h.Holder != vid {
		t.Fatalf("hello on rejoining = %+v; want viewer %s holding control", h, vid)
	}
	if j := agent.expect(protocol.SignalViewerJoined); j.ViewerID != vid {
		t.Fatalf("viewer_joined = %+v", j)
	}

	// Closed, not dropped: gone at once, control released.
	back.conn.Close(websocket.StatusNormalClosure, "bye")
	agent.expect(protocol.SignalViewerLeft)
	deadline := time.Now().Add(10 * time.Second)
	for got := f.state(t, s.ID); got.ControlHolder != "" || len(got.Viewers) != 0; got = f.state(t, s.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("after closing: holder %q, viewers %+v; want none", got.ControlHolder, got.Viewers)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, st, err := f.e.dial(t, f.tech, path, "", nil); err == nil || st != 404 {
		t.Fatalf("a left seat taken again: %d %v", st, err)
	}
}
