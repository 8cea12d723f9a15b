package session

import (
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/ipc"
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

// TestDropAndTakeOver: the service tells the helper of the old desktop to
// drop a live session and hands it to the helper of the new desktop. The
// old one closes its peer and websocket without ending the session; the new
// one reconnects with the same token, says "reconnect", reports no earlier
// state, offers the viewer a new peer connection and sends a full frame;
// the control holder carries over.
func TestDropAndTakeOver(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: true, Mode: protocol.ModeActive}, unattendedPolicy())
	h.src.colour.Store(0x336699)
	ln := serviceListener(t)
	h1 := startHelper(t, ln, h.helperConfig("greeter"))
	h2 := startHelper(t, ln, h.helperConfig("user"))

	pol := unattendedPolicy()
	start := h.cfg.Start
	h1.send(ipc.Msg{Type: ipc.TypeStart, Start: &start, Server: h.cfg.Server, Policy: &pol})
	a1 := h.srv.accept()
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
	for _, want := range []protocol.SessionState{protocol.SessionAwaitingAcceptance, protocol.SessionConnecting, protocol.SessionActive} {
		if m := h1.recv(); m.Type != ipc.TypeState || m.State != want {
			t.Fatalf("helper 1 reported %+v, want %s", m, want)
		}
	}

	// The desktop changes: drop on the old helper, resume on the new one.
	h1.send(ipc.Msg{Type: ipc.TypeDrop, SessionID: "s1"})
	if m := h1.recv(); m.Type != ipc.TypeState || m.SessionID != "s1" || m.State != ipc.StateDropped {
		t.Fatalf("helper 1 answered the drop with %+v, want its confirmation", m)
	}
	for s := range a1.sigs { // the old websocket closes without a word of the end
		if s.Type == protocol.SignalState {
			t.Errorf("the dropping helper signalled %+v", s)
		}
	}
	h2.send(ipc.Msg{Type: ipc.TypeStart, Start: &start, Server: h.cfg.Server, Policy: &pol, Resume: true})
	a2 := h.srv.accept()
	if s := a2.next(nil); s.Type != protocol.SignalReconnect || s.Reason != protocol.ReconnectDesktopChanged {
		t.Fatalf("new helper's first signal %+v, want reconnect desktop_changed", s)
	}
	a2.send(protocol.Signal{Type: protocol.SignalHello, Session: &protocol.Session{ID: "s1", State: protocol.SessionActive, ControlHolder: "v1"}})
	a2.send(protocol.Signal{Type: protocol.SignalViewerJoined, ViewerID: "v1"})
	v2 := newTestViewer(t, "v1") // the same viewer's new peer connection
	v2.connect(a2)
	if s := a2.next(v2.addCandidate); s.Type != protocol.SignalState || s.State != protocol.SessionActive {
		t.Fatalf("got %+v, want only state active from the new helper", s)
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
	// Input from the holder lands through the new helper.
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
	if m := h2.recv(); m.Type != ipc.TypeState || m.State != protocol.SessionActive {
		t.Fatalf("helper 2 reported %+v, want active", m)
	}
	select {
	case m, ok := <-h1.msgs:
		if ok {
			t.Errorf("the dropping helper reported %+v to the service after its confirmation", m)
		}
	default:
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
