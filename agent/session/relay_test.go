package session

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tetherdesk/tether/shared/protocol"
	"github.com/tetherdesk/tether/shared/screen"
)

// sendFrame plays the server forwarding a viewer's relay frame.
func (a *agentConn) sendFrame(f protocol.RelayFrame) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := a.c.Write(ctx, websocket.MessageBinary, protocol.AppendAgentFrame(nil, f)); err != nil {
		a.t.Fatalf("sending a relay frame: %v", err)
	}
}

// nextFrame returns the agent's next relay frame on channel ch for
// viewer id (frames of other channels are passed to skip, if set).
func (a *agentConn) nextFrame(id string, ch uint8, skip func(protocol.RelayFrame)) protocol.RelayFrame {
	a.t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case f := <-a.frames:
			if f.ViewerID != id {
				a.t.Fatalf("a relay frame for %q, want only %q's", f.ViewerID, id)
			}
			if f.Channel == ch {
				return f
			}
			if skip != nil {
				skip(f)
			}
		case <-timer.C:
			a.t.Fatalf("no relay frame on channel %d", ch)
		}
	}
}

// TestRelayViewer: a viewer that asks for the relay (its WebRTC path never
// came up) gets the same channels through the websocket: the mode and the
// holder on control, the screen's frames, and its input reaches the
// injector; the agent acknowledges what it took in, and holds back the
// screen once a frame is in flight without the viewer taking it in.
func TestRelayViewer(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: false, Mode: protocol.ModeActive}, unattendedPolicy())
	h.src.colour.Store(0x336699)
	h.cfg.MaxBuffered = 1 // the first unacknowledged frame fills the link
	a := h.run()
	a.expectState(protocol.SessionConnecting, "")
	a.send(protocol.Signal{Type: protocol.SignalHello})
	a.send(protocol.Signal{Type: protocol.SignalViewerJoined, ViewerID: "v1"})
	if s := a.next(nil); s.Type != protocol.SignalOffer {
		t.Fatalf("got %+v, want the WebRTC offer first", s)
	}
	a.send(protocol.Signal{Type: protocol.SignalRelay, ViewerID: "v1", Reason: protocol.RelayICEFailed})
	if s := a.next(nil); s.Type != protocol.SignalRelay || s.ViewerID != "v1" {
		t.Fatalf("got %+v, want the relay's answer for v1", s)
	}
	if s := a.next(nil); s.Type != protocol.SignalState || s.State != protocol.SessionActive {
		t.Fatalf("got %+v, want active once the relayed channels open", s)
	}

	// got counts what the test took in; control messages are
	// acknowledged at once, as a viewer would, the screen's only when the
	// test says so.
	var ctl []protocol.ControlMsg
	var got uint64
	keepCtl := func(f protocol.RelayFrame) {
		got += uint64(len(f.Payload))
		if f.Channel == uint8(protocol.ChannelControlID) {
			var m protocol.ControlMsg
			if err := json.Unmarshal(f.Payload, &m); err != nil || !f.Text {
				t.Fatalf("control frame %q (text %v): %v", f.Payload, f.Text, err)
			}
			ctl = append(ctl, m)
			a.sendFrame(protocol.RelayFrame{ViewerID: "v1", Channel: protocol.RelayAckChannel, Payload: protocol.RelayAck(got)})
		}
	}
	var msgs []screen.Msg
	for len(msgs) == 0 || msgs[len(msgs)-1].Kind != screen.KindFrameEnd {
		f := a.nextFrame("v1", uint8(protocol.ChannelScreenID), keepCtl)
		if f.Text {
			t.Fatal("a screen frame marked text")
		}
		got += uint64(len(f.Payload))
		for _, b := range unbundle(t, f.Payload) {
			m, err := screen.Decode(b)
			if err != nil {
				t.Fatalf("screen.Decode: %v", err)
			}
			msgs = append(msgs, m)
		}
	}
	if msgs[0].Kind != screen.KindSize || msgs[0].W != 128 {
		t.Fatalf("first screen message %+v, want the size", msgs[0])
	}
	if len(ctl) < 2 || ctl[0].T != protocol.ControlMode || ctl[1].T != protocol.ControlHolder {
		t.Fatalf("control messages %+v, want mode then holder first", ctl)
	}

	// Nothing taken in yet: the screen holds back (MaxBuffered 1) while
	// the source changes; an ack lets the next frame go.
	h.src.colour.Store(0x112233)
	for quiet := time.After(300 * time.Millisecond); ; {
		select {
		case f := <-a.frames:
			if f.Channel == uint8(protocol.ChannelScreenID) {
				t.Fatalf("a screen frame went out with a frame unacknowledged")
			}
			keepCtl(f)
			continue
		case <-quiet:
		}
		break
	}
	a.sendFrame(protocol.RelayFrame{ViewerID: "v1", Channel: protocol.RelayAckChannel, Payload: protocol.RelayAck(got)})
	a.nextFrame("v1", uint8(protocol.ChannelScreenID), keepCtl)

	// Input, once v1 holds control, reaches the injector; the agent
	// acknowledges the bytes.
	a.send(protocol.Signal{Type: protocol.SignalControl, Holder: "v1"})
	ev, _ := json.Marshal(protocol.InputEvent{T: "move", X: 5, Y: 6})
	testDeadline := time.Now().Add(wait)
	for {
		a.sendFrame(protocol.RelayFrame{ViewerID: "v1", Channel: uint8(protocol.ChannelInputID), Text: true, Payload: ev})
		select {
		case got := <-h.inj.events:
			if got.X != 5 || got.Y != 6 {
				t.Fatalf("injected %+v", got)
			}
		case <-time.After(200 * time.Millisecond):
			if time.Now().After(testDeadline) {
				t.Fatal("relayed input never reached the injector")
			}
			continue // the holder change may not have landed yet
		}
		break
	}
	ack := a.nextFrame("v1", protocol.RelayAckChannel, nil)
	if total := protocol.RelayAckTotal(ack); total == 0 || total%uint64(len(ev)) != 0 {
		t.Fatalf("the agent acknowledged %d bytes; it took in input events of %d", total, len(ev))
	}
}

// unbundle splits a screen message into the messages it carries.
func unbundle(t *testing.T, b []byte) [][]byte {
	t.Helper()
	m, err := screen.Decode(b)
	if err != nil {
		t.Fatalf("screen.Decode: %v", err)
	}
	if m.Kind == screen.KindBundle {
		return m.Parts
	}
	return [][]byte{b}
}
