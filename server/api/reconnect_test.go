package api_test

import (
	"testing"
	"time"

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
