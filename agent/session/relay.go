package session

// The WebSocket relay: when no WebRTC path comes up between a viewer and
// this endpoint (UDP blocked, TURN unreachable through the proxy), the
// viewer asks for its data channels to go through the signalling
// websocket instead (protocol.SignalRelay). The session then replaces
// that viewer's peer connection with relayChannels that carry the same
// messages as relay frames (protocol/relay.go), flow-controlled end to
// end: a channel's BufferedAmount is what was sent and not yet taken in
// by the viewer, so the screen stream's MaxBuffered and the file
// channel's high water mark hold as they do over WebRTC.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/tetherdesk/tether/shared/protocol"
)

// Acks: the receiver acknowledges what it took in once ackEvery bytes are
// unacknowledged, or ackDelay after the first unacknowledged byte.
const (
	ackEvery = 64 << 10
	ackDelay = 20 * time.Millisecond
)

var errRelayClosed = errors.New("relay channel closed")

// relayLink is one viewer's share of the relay.
type relayLink struct {
	s  *Session
	id string

	mu        sync.Mutex
	closed    bool
	sent      uint64 // payload bytes sent to the viewer
	acked     uint64 // of them, taken in by the viewer
	recv      uint64 // payload bytes taken in from the viewer
	recvAcked uint64 // of them, acknowledged
	ackTimer  *time.Timer
	chans     map[uint8]*relayChannel
}

// relayChannel is a data channel over the relay.
type relayChannel struct {
	l  *relayLink
	id uint8

	// Guarded by l.mu.
	open   bool
	onOpen func()
	onMsg  func(webrtc.DataChannelMessage)
	lowAt  uint64
	onLow  func()
}

// relayLabels name the relayed channels as their WebRTC twins.
var relayLabels = map[uint8]string{
	uint8(protocol.ChannelScreenID): protocol.ChannelScreen, uint8(protocol.ChannelInputID): protocol.ChannelInput,
	uint8(protocol.ChannelControlID): protocol.ChannelControl, uint8(protocol.ChannelChatID): protocol.ChannelChat,
	uint8(protocol.ChannelFileID): protocol.ChannelFile, uint8(protocol.ChannelTerminalID): protocol.ChannelTerminal,
	uint8(protocol.ChannelAdminID): protocol.ChannelAdmin,
}

func (c *relayChannel) Label() string           { return relayLabels[c.id] }
func (c *relayChannel) Send(b []byte) error     { return c.l.send(c, false, b) }
func (c *relayChannel) SendText(s string) error { return c.l.send(c, true, []byte(s)) }

// BufferedAmount is what is in flight to the viewer on every channel of
// the link: they share one websocket.
func (c *relayChannel) BufferedAmount() uint64 {
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	return c.l.sent - c.l.acked
}

func (c *relayChannel) ReadyState() webrtc.DataChannelState {
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	if c.open {
		return webrtc.DataChannelStateOpen
	}
	return webrtc.DataChannelStateClosed
}

func (c *relayChannel) OnOpen(f func()) { c.l.mu.Lock(); c.onOpen = f; c.l.mu.Unlock() }
func (c *relayChannel) OnMessage(f func(webrtc.DataChannelMessage)) {
	c.l.mu.Lock()
	c.onMsg = f
	c.l.mu.Unlock()
}
func (c *relayChannel) SetBufferedAmountLowThreshold(n uint64) {
	c.l.mu.Lock()
	c.lowAt = n
	c.l.mu.Unlock()
}
func (c *relayChannel) OnBufferedAmountLow(f func()) { c.l.mu.Lock(); c.onLow = f; c.l.mu.Unlock() }
func (c *relayChannel) Close() error                 { c.l.mu.Lock(); c.open = false; c.l.mu.Unlock(); return nil }

// send writes one message to the viewer.
func (l *relayLink) send(c *relayChannel, text bool, b []byte) error {
	if len(b) > protocol.MaxRelayPayload {
		return fmt.Errorf("relay: a message of %d bytes exceeds %d", len(b), protocol.MaxRelayPayload)
	}
	l.mu.Lock()
	if !c.open || l.closed {
		l.mu.Unlock()
		return errRelayClosed
	}
	l.sent += uint64(len(b))
	l.mu.Unlock()
	return l.s.writeRelay(protocol.RelayFrame{ViewerID: l.id, Channel: c.id, Text: text, Payload: b})
}

// took counts n bytes taken in from the viewer and acknowledges them when
// due.
func (l *relayLink) took(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recv += uint64(n)
	switch {
	case l.recv-l.recvAcked >= ackEvery:
		l.ackLocked()
	case l.ackTimer == nil && !l.closed:
		l.ackTimer = time.AfterFunc(ackDelay, func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.ackTimer = nil
			if l.recv != l.recvAcked {
				l.ackLocked()
			}
		})
	}
}

// ackLocked sends an ack of everything taken in; l.mu is held (the
// websocket write takes the session's write lock, never l.mu).
func (l *relayLink) ackLocked() {
	l.recvAcked = l.recv
	if l.closed {
		return
	}
	total := l.recv
	go func() {
		if err := l.s.writeRelay(protocol.RelayFrame{ViewerID: l.id, Channel: protocol.RelayAckChannel, Payload: protocol.RelayAck(total)}); err != nil {
			l.s.log.Debug("relay ack", "viewer_id", l.id, "error", err)
		}
	}()
}

// acked takes the viewer's ack and tells channels whose threshold was
// crossed.
func (l *relayLink) ackedTo(total uint64) {
	l.mu.Lock()
	before := l.sent - l.acked
	if total > l.sent || total < l.acked {
		l.mu.Unlock()
		l.s.log.Debug("ignoring a relay ack out of range", "viewer_id", l.id, "total", total)
		return
	}
	l.acked = total
	after := l.sent - l.acked
	var low []func()
	for _, c := range l.chans {
		if c.onLow != nil && before > c.lowAt && after <= c.lowAt {
			low = append(low, c.onLow)
		}
	}
	l.mu.Unlock()
	for _, f := range low {
		f()
	}
	l.s.wake() // the stream loop may have held back for the buffer
}

func (l *relayLink) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, c := range l.chans {
		c.open = false
	}
	if l.ackTimer != nil {
		l.ackTimer.Stop()
	}
}

// writeRelay writes one relay frame on the signalling websocket.
func (s *Session) writeRelay(f protocol.RelayFrame) error {
	b := protocol.AppendAgentFrame(make([]byte, 0, 3+len(f.ViewerID)+len(f.Payload)), f)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if err := s.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		return fmt.Errorf("relay frame: %w", err)
	}
	return nil
}

// relayViewer moves viewer id to the relay: a new viewer whose channels
// are relayChannels takes the place of its peer connection, the viewer is
// told (SignalRelay), and the channels open. A viewer that is not ready
// yet (the session awaits acceptance) is remembered and relayed when it
// is added.
func (s *Session) relayViewer(id string) {
	if id == "" {
		return
	}
	s.mu.Lock()
	if !s.accepted || !s.helloSeen || s.ctx.Err() != nil {
		s.relayWanted[id] = true
		s.mu.Unlock()
		return
	}
	delete(s.relayWanted, id)
	old := s.viewers[id]
	if old != nil && old.relay != nil {
		s.mu.Unlock()
		return // relayed already
	}
	s.mu.Unlock()

	l := &relayLink{s: s, id: id, chans: map[uint8]*relayChannel{}}
	v := &viewer{id: id, s: s, relay: l, monitor: -1, sentMon: -1, fileLow: make(chan struct{}, 1), gone: make(chan struct{})}
	specs := s.channels(v)
	for _, ch := range specs {
		c := &relayChannel{l: l, id: uint8(ch.id)}
		l.chans[c.id] = c
		*ch.dc = c
	}
	s.wire(v)

	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	s.viewers[id] = v
	s.mu.Unlock()
	s.log.Info("viewer's data go through the websocket relay", "viewer_id", id)
	if old == nil {
		s.recEvent(protocol.RecEventViewer, s.viewerName(id), "joined")
	}
	if old != nil {
		s.files.ViewerGone(id)
		// Closing a peer connection still gathering (TURN over TCP) can
		// take a while: not on the signalling loop.
		go old.close()
	}
	if err := s.send(protocol.Signal{Type: protocol.SignalRelay, ViewerID: id}); err != nil {
		s.log.Warn("telling the viewer about the relay", "viewer_id", id, "error", err)
		s.removeViewer(id)
		return
	}
	// Open in the order WebRTC's would most often: control first, so
	// "mode" and "holder" lead.
	order := []uint16{protocol.ChannelControlID}
	for _, ch := range specs {
		if ch.id != protocol.ChannelControlID {
			order = append(order, ch.id)
		}
	}
	// Every channel takes frames before any open handler runs: the first
	// handler (control's) makes the session active, and a viewer may
	// write on its other channels from then on.
	var opened []func()
	l.mu.Lock()
	for _, cid := range order {
		c := l.chans[uint8(cid)]
		c.open = !l.closed
		if c.open && c.onOpen != nil {
			opened = append(opened, c.onOpen)
		}
	}
	l.mu.Unlock()
	for _, f := range opened {
		f()
	}
}

// onRelayFrame delivers a relay frame from the server to its viewer's
// channel. It runs on the websocket's reader.
func (s *Session) onRelayFrame(b []byte) {
	f, err := protocol.ParseAgentFrame(b)
	if err != nil {
		s.log.Debug("ignoring a malformed relay frame", "error", err)
		return
	}
	v := s.viewer(f.ViewerID)
	if v == nil || v.relay == nil {
		return
	}
	l := v.relay
	if f.Channel == protocol.RelayAckChannel {
		l.ackedTo(protocol.RelayAckTotal(f))
		return
	}
	l.mu.Lock()
	c := l.chans[f.Channel]
	var onMsg func(webrtc.DataChannelMessage)
	if c != nil && c.open {
		onMsg = c.onMsg
	}
	l.mu.Unlock()
	l.took(len(f.Payload))
	if onMsg != nil {
		onMsg(webrtc.DataChannelMessage{IsString: f.Text, Data: f.Payload})
	}
}
