package session

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

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

// blackhole is a UDP socket that can stop passing anything, as a network
// outage does (without a word to either side).
type blackhole struct {
	net.PacketConn
	on atomic.Bool
}

func (b *blackhole) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, a, err := b.PacketConn.ReadFrom(p)
		if err != nil || !b.on.Load() {
			return n, a, err
		}
	}
}

func (b *blackhole) WriteTo(p []byte, a net.Addr) (int, error) {
	if b.on.Load() {
		return len(p), nil
	}
	return b.PacketConn.WriteTo(p, a)
}

// TestFailedPeerOffersAgain: when a viewer's path dies (an outage outlasts
// ICE), the session offers that viewer a new peer connection and goes on:
// no new state, no prompt.
func TestFailedPeerOffersAgain(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: false, Mode: protocol.ModeActive}, unattendedPolicy())
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hole := &blackhole{PacketConn: udp}
	mux := webrtc.NewICEUDPMux(nil, hole)
	t.Cleanup(func() { mux.Close() })
	se := loopbackEngine()
	se.SetICEUDPMux(mux)
	se.SetICETimeouts(300*time.Millisecond, time.Second, 100*time.Millisecond)
	h.cfg.SettingEngine = se
	a := h.run()
	a.expectState(protocol.SessionConnecting, "")
	v := joinViewer(t, a, protocol.Signal{})
	v.screenMsg()
	hole.on.Store(true)
	for {
		s := a.nextAfter()
		if s.Type == protocol.SignalOffer && s.ViewerID == "v1" {
			break
		}
		if s.Type == protocol.SignalState {
			t.Fatalf("the session reported %s %s; it should go on", s.State, s.Reason)
		}
	}
	select {
	case <-h.ui.asked:
		t.Fatal("the user was asked again")
	default:
	}
}

// silentProxy forwards TCP to target until it goes silent: then nothing
// passes either way and nothing is closed, as in a network outage.
type silentProxy struct {
	ln     net.Listener
	silent atomic.Bool
}

func newSilentProxy(t *testing.T, target string) *silentProxy {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &silentProxy{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp4", target)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); u.Close() })
			pipe := func(dst, src net.Conn) {
				b := make([]byte, 32<<10)
				for {
					n, err := src.Read(b)
					if err != nil {
						return
					}
					if p.silent.Load() {
						continue // swallowed: the other side hears nothing
					}
					if _, err := dst.Write(b[:n]); err != nil {
						return
					}
				}
			}
			go pipe(u, c)
			go pipe(c, u)
		}
	}()
	return p
}

// TestSignalKeepalive: a signalling connection that goes silent (no reset,
// no close: an outage) is noticed by the keepalive; with the server still
// unreachable past the outage limit, the session ends connection_lost.
func TestSignalKeepalive(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: false, Mode: protocol.ModeActive}, unattendedPolicy())
	p := newSilentProxy(t, strings.TrimPrefix(h.srv.srv.URL, "http://"))
	h.cfg.Server = "http://" + p.ln.Addr().String()
	h.cfg.KeepaliveInterval = 150 * time.Millisecond
	h.cfg.OutageLimit = time.Second
	a := h.run()
	a.expectState(protocol.SessionConnecting, "")
	p.silent.Store(true)
	h.srv.refuse.Store(true)
	if r := h.ended(wait); r.reason != protocol.EndedConnectionLost || r.err == nil {
		t.Fatalf("Run = %q, %v; want connection_lost", r.reason, r.err)
	}
}
