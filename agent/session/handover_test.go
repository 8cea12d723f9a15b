package session

import (
	"testing"
	"time"

	"github.com/tetherdesk/tether/shared/protocol"
	"github.com/tetherdesk/tether/shared/screen"
)

// expectFullFrame reads a size message and then tiles up to a frame end.
func expectFullFrame(t *testing.T, v *testViewer) {
	t.Helper()
	if m := v.screenMsg(); m.Kind != screen.KindSize {
		t.Fatalf("first screen message %+v, want size", m)
	}
	for {
		if m := v.screenMsg(); m.Kind == screen.KindFrameEnd {
			return
		}
	}
}

// TestDropAndTakeOver: a live session is dropped (another desktop's helper
// takes it over): it closes its peer and websocket without ending the
// session; the session run again with Resume reconnects with the same
// token, says "reconnect", reports no earlier state, offers the viewer a
// new peer connection and sends a full frame; the control holder carries
// over. (agent/helper tests the drop and the resume over IPC.)
func TestDropAndTakeOver(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: true, Mode: protocol.ModeActive}, unattendedPolicy())
	h.src.colour.Store(0x336699)
	a1 := h.run()
	a1.expectState(protocol.SessionAwaitingAcceptance, "")
	h.ui.answers <- Answer{Accepted: true}
	a1.expectState(protocol.SessionConnecting, "")
	a1.send(protocol.Signal{Type: protocol.SignalHello, Session: &protocol.Session{ID: "s1", State: protocol.SessionConnecting, ControlHolder: "v1"}})
	a1.send(protocol.Signal{Type: protocol.SignalViewerJoined, ViewerID: "v1"})
	v1 := newTestViewer(t, "v1")
	v1.connect(a1)
	if s := a1.next(v1.addCandidate); s.Type != protocol.SignalState || s.State != protocol.SessionActive {
		t.Fatalf("got %+v, want state active", s)
	}
	expectFullFrame(t, v1)
	h.liveShown()

	// The desktop changes: drop here, resume in a new run.
	h.cancel(ErrDropped)
	if r := h.ended(wait); r.reason != ReasonDropped || r.err != nil {
		t.Fatalf("dropped session returned %q, %v", r.reason, r.err)
	}
	for s := range a1.sigs { // the old websocket closes without a word of the end
		if s.Type == protocol.SignalState {
			t.Errorf("the dropped session signalled %+v", s)
		}
	}
	h2 := *h // the same fakes; its own run
	h2.cfg.Resume = true
	a2 := h2.run()
	if s := a2.next(nil); s.Type != protocol.SignalReconnect || s.Reason != protocol.ReconnectDesktopChanged {
		t.Fatalf("resumed session's first signal %+v, want reconnect desktop_changed", s)
	}
	a2.send(protocol.Signal{Type: protocol.SignalHello, Session: &protocol.Session{ID: "s1", State: protocol.SessionActive, ControlHolder: "v1"}})
	a2.send(protocol.Signal{Type: protocol.SignalViewerJoined, ViewerID: "v1"})
	v2 := newTestViewer(t, "v1") // the same viewer's new peer connection
	v2.connect(a2)
	if s := a2.next(v2.addCandidate); s.Type != protocol.SignalState || s.State != protocol.SessionActive {
		t.Fatalf("got %+v, want only state active from the resumed session", s)
	}
	go func() {
		for s := range a2.sigs {
			if s.Type == protocol.SignalCandidate {
				v2.addCandidate(s)
			}
		}
	}()
	expectFullFrame(t, v2)
	h.liveShown() // the notice shows on the new desktop too
	if m := v2.nextControl("holder"); m.Holder != "v1" {
		t.Errorf("holder on the new connection %+v", m)
	}
	// Input from the holder lands through the resumed session.
	<-v2.inputUp
	v2.sendInput(protocol.InputEvent{T: "move", X: 5, Y: 6})
	select {
	case ev := <-h.inj.events:
		if ev.T != "move" || ev.X != 5 {
			t.Errorf("injected %+v", ev)
		}
	case <-time.After(wait):
		t.Fatal("input did not reach the injector")
	}
}

// liveShown waits for the live notice of a session.
func (h *harness) liveShown() {
	h.t.Helper()
	select {
	case <-h.ui.live:
	case <-time.After(wait):
		h.t.Fatal("no live notice")
	}
}
