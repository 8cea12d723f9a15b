package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/tetherdesk/tether/agent/session/filexfer"
	"github.com/tetherdesk/tether/agent/tools/terminal"
	"github.com/tetherdesk/tether/shared/protocol"
)

// viewer is one technician's peer connection. Fields below mu are guarded
// by the session's mu.
type viewer struct {
	id      string
	s       *Session
	pc      *webrtc.PeerConnection // nil when the viewer's data go through the relay
	relay   *relayLink             // non-nil when they do (relay.go)
	screen  dataChannel
	input   dataChannel
	control dataChannel
	chat    dataChannel
	file    dataChannel
	// terminal and term: a terminal session's channel and its bridge
	// (tools.go); nil in a screen share.
	terminal dataChannel
	term     *terminal.Bridge
	// admin: a processes or services session's channel (admin.go).
	admin dataChannel
	video *videoOut // nil without a video track
	// fileLow is signalled when the file channel's buffer drains.
	fileLow chan struct{}

	cmu       sync.Mutex // guards remoteSet, cands, offerSent, local
	remoteSet bool
	cands     []webrtc.ICECandidateInit
	offerSent bool
	local     []json.RawMessage // our candidates gathered before the offer went out
	closeOnce sync.Once
	gone      chan struct{} // closed with the viewer: what serves it alone stops then
	// ctlMu orders sends on the control channel. It is held while the
	// channel opens, so "mode" and "holder" go before anything else
	// (monitors, cursor) that the stream loop may send meanwhile.
	ctlMu sync.Mutex
	// screenOpen is what the stream loop reads: the screen channel is
	// open (screenUp) and the session's mode shows the screen.
	screenOpen  bool   // session mu
	screenUp    bool   // session mu
	controlOpen bool   // session mu
	chatOpen    bool   // session mu
	fileOpen    bool   // session mu
	monitor     int    // session mu; -1 until the primary monitor is known
	needFull    bool   // session mu
	sentMon     int    // session mu: monitor of the last frame sent
	sentFrame   uint64 // session mu: its number (stream loop's count)
	needMons    bool   // session mu: send "monitors" on the control channel
	cursorX     int    // session mu: last cursor sent
	cursorY     int
	cursorOK    bool
	// acking is set once the viewer acknowledges drawn frames; from then
	// on at most MaxInFlight frames are sent ahead of its last ack.
	acking   bool     // session mu
	inFlight []uint32 // session mu: seqs of frames sent and not yet acked
	busy     bool     // session mu: its last ack said frames were waiting
}

// dataChannel is what the session uses of a data channel: a WebRTC one
// (*webrtc.DataChannel) or the WebSocket relay's (relayChannel).
type dataChannel interface {
	Label() string
	Send([]byte) error
	SendText(string) error
	BufferedAmount() uint64
	ReadyState() webrtc.DataChannelState
	OnOpen(func())
	OnMessage(func(webrtc.DataChannelMessage))
	SetBufferedAmountLowThreshold(uint64)
	OnBufferedAmountLow(func())
	Close() error
}

func negotiated(id uint16) *webrtc.DataChannelInit {
	t := true
	return &webrtc.DataChannelInit{Negotiated: &t, ID: &id, Ordered: &t}
}

// addViewer makes the viewer's peer connection and sends the offer.
func (s *Session) addViewer(id string) {
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	if old, ok := s.viewers[id]; ok {
		// Joined again while its peer connection is up or on its way (our
		// signalling came back; the viewer's did not drop): nothing to do.
		// One the viewer closed (it dropped its connection to come back,
		// and no viewer_left reached us: its signalling went through a
		// server node that died) is replaced. (A closed one is not offered
		// anew by itself: a viewer that leaves closes it before the
		// server's viewer_left arrives.)
		if !old.dead() {
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		s.log.Info("viewer joined again; its old peer connection is closed", "viewer_id", id)
		s.removeViewer(id)
		s.mu.Lock()
		if _, again := s.viewers[id]; again || s.ctx.Err() != nil {
			s.mu.Unlock()
			return
		}
	}
	cfg := webrtc.Configuration{ICEServers: s.ice, ICETransportPolicy: s.icePolicy}
	relay := s.relayWanted[id]
	s.mu.Unlock()
	if relay {
		s.relayViewer(id)
		return
	}
	v, err := s.newViewer(id, cfg)
	if err != nil {
		s.log.Warn("cannot set up the viewer's peer connection", "viewer_id", id, "error", err)
		return
	}
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		v.close()
		return
	}
	s.viewers[id] = v
	s.mu.Unlock()
	s.log.Info("viewer joined", "viewer_id", id)
	s.recEvent(protocol.RecEventViewer, s.viewerName(id), "joined")

	offer, err := v.pc.CreateOffer(nil)
	if err == nil {
		err = v.pc.SetLocalDescription(offer)
	}
	if err == nil {
		err = s.send(protocol.Signal{Type: protocol.SignalOffer, ViewerID: id, SDP: offer.SDP})
	}
	// Candidates gathered while the offer was on its way follow it.
	v.cmu.Lock()
	v.offerSent = true
	local := v.local
	v.local = nil
	v.cmu.Unlock()
	for _, b := range local {
		if err == nil {
			err = s.send(protocol.Signal{Type: protocol.SignalCandidate, ViewerID: id, Candidate: b})
		}
	}
	if err != nil {
		s.log.Warn("sending the offer", "viewer_id", id, "error", err)
		s.removeViewer(id)
	}
}

func (s *Session) newViewer(id string, cfg webrtc.Configuration) (*viewer, error) {
	pc, err := s.api.NewPeerConnection(cfg)
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	v := &viewer{id: id, s: s, pc: pc, monitor: -1, sentMon: -1, fileLow: make(chan struct{}, 1), gone: make(chan struct{})}
	for _, ch := range s.channels(v) {
		var dc *webrtc.DataChannel
		if dc, err = pc.CreateDataChannel(ch.label, negotiated(ch.id)); err != nil {
			break
		}
		*ch.dc = dc
	}
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("data channels: %w", err)
	}
	if !s.noVideo.Load() && !s.isTool() {
		if v.video, err = addVideo(pc, s.log.Debug); err != nil {
			pc.Close()
			return nil, fmt.Errorf("video track: %w", err)
		}
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		b, err := json.Marshal(c.ToJSON())
		if err != nil {
			return
		}
		v.cmu.Lock()
		if !v.offerSent {
			v.local = append(v.local, b)
			v.cmu.Unlock()
			return
		}
		v.cmu.Unlock()
		if err := s.send(protocol.Signal{Type: protocol.SignalCandidate, ViewerID: id, Candidate: b}); err != nil && s.ctx.Err() == nil {
			s.log.Debug("sending a candidate", "viewer_id", id, "error", err)
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.log.Debug("peer connection state", "viewer_id", id, "state", st.String())
		if st == webrtc.PeerConnectionStateFailed {
			select {
			case s.drop <- v:
			case <-s.ctx.Done():
			}
		}
	})
	s.wire(v)
	return v, nil
}

// dead reports whether v's peer connection is closed or failed (a
// relayed viewer has none and is never dead here).
func (v *viewer) dead() bool {
	if v.pc == nil {
		return false
	}
	st := v.pc.ConnectionState()
	return st == webrtc.PeerConnectionStateClosed || st == webrtc.PeerConnectionStateFailed
}

// chanSpec is one data channel of a viewer's: where the session keeps
// it, its label and its negotiated id.
type chanSpec struct {
	dc    *dataChannel
	label string
	id    uint16
}

// channels is what v's peer carries: a screen share's five channels, or
// a tool's (tools.go).
func (s *Session) channels(v *viewer) []chanSpec {
	if s.isTool() {
		return v.toolChannels(s.cfg.Start.Tool)
	}
	v.terminal, v.admin = closedChannel{}, closedChannel{}
	return []chanSpec{
		{&v.screen, protocol.ChannelScreen, protocol.ChannelScreenID},
		{&v.input, protocol.ChannelInput, protocol.ChannelInputID},
		{&v.control, protocol.ChannelControl, protocol.ChannelControlID},
		{&v.chat, protocol.ChannelChat, protocol.ChannelChatID},
		{&v.file, protocol.ChannelFile, protocol.ChannelFileID},
	}
}

// wire connects v's data channels to the session.
func (s *Session) wire(v *viewer) {
	if s.isTool() {
		s.wireTool(v)
		return
	}
	v.screen.OnOpen(func() {
		s.mu.Lock()
		v.screenUp = true
		// In Chat and File transfer modes the stream loop must not see
		// the channel: nothing is captured or sent.
		v.screenOpen = hasScreen(s.mode)
		v.needFull = true
		s.mu.Unlock()
		s.becameActive()
		s.wake()
	})
	v.control.OnOpen(func() {
		v.ctlMu.Lock()
		s.mu.Lock()
		v.controlOpen = true
		v.needMons = hasScreen(s.mode)
		holder, mode := s.holder, s.mode
		s.mu.Unlock()
		v.sendControlLocked(s.modeMsg(mode))
		v.sendControlLocked(protocol.ControlMsg{T: protocol.ControlHolder, Holder: holder})
		v.ctlMu.Unlock()
		s.becameActive()
		s.wake()
	})
	v.chat.OnOpen(func() {
		s.mu.Lock()
		v.chatOpen = true
		s.mu.Unlock()
		s.chat.history(v)
	})
	v.watchFileLow()
	v.file.OnOpen(func() {
		s.mu.Lock()
		v.fileOpen = true
		s.mu.Unlock()
		s.files.ChannelOpen(filePeer{v})
	})
	v.control.OnMessage(func(m webrtc.DataChannelMessage) { s.onControl(v, m.Data) })
	v.input.OnMessage(func(m webrtc.DataChannelMessage) { s.onInput(v, m.Data) })
	// A message proves its channel open, whichever of pion's callbacks
	// runs first: an answer to it must not be dropped as "not open yet".
	v.chat.OnMessage(func(m webrtc.DataChannelMessage) {
		v.markOpen(&v.chatOpen)
		s.chat.fromViewer(v, m.Data)
	})
	v.file.OnMessage(func(m webrtc.DataChannelMessage) {
		v.markOpen(&v.fileOpen)
		s.files.OnMessage(filePeer{v}, m.Data, m.IsString)
	})
}

// watchFileLow signals fileLow when the file channel's buffer drains to
// filexfer.LowWater (filePeer.WriteChunk waits on it).
func (v *viewer) watchFileLow() {
	v.file.SetBufferedAmountLowThreshold(filexfer.LowWater)
	v.file.OnBufferedAmountLow(func() {
		select {
		case v.fileLow <- struct{}{}:
		default:
		}
	})
}

// becameActive reports the session active when a viewer's first channel
// opens: the screen channel in modes that show it, the control channel in
// every mode.
func (s *Session) becameActive() {
	s.mu.Lock()
	first := !s.activeSent
	s.activeSent = true
	s.mu.Unlock()
	if first && s.ctx.Err() == nil {
		s.transition(protocol.SessionActive, "", "")
	}
}

func (v *viewer) setAnswer(sdp string) error {
	if v.pc == nil {
		return nil // relayed: a late answer to the abandoned offer
	}
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return fmt.Errorf("remote description: %w", err)
	}
	v.cmu.Lock()
	v.remoteSet = true
	cands := v.cands
	v.cands = nil
	v.cmu.Unlock()
	var errs []error
	for _, c := range cands {
		errs = append(errs, v.pc.AddICECandidate(c))
	}
	return errors.Join(errs...)
}

func (v *viewer) addCandidate(raw json.RawMessage) error {
	var c webrtc.ICECandidateInit
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("decoding candidate: %w", err)
	}
	if c.Candidate == "" || v.pc == nil {
		return nil // end of candidates, or relayed
	}
	v.cmu.Lock()
	if !v.remoteSet {
		if len(v.cands) < 64 {
			v.cands = append(v.cands, c)
		}
		v.cmu.Unlock()
		return nil
	}
	v.cmu.Unlock()
	return v.pc.AddICECandidate(c)
}

func (v *viewer) sendControl(m protocol.ControlMsg) {
	v.ctlMu.Lock()
	defer v.ctlMu.Unlock()
	v.s.mu.Lock()
	open := v.controlOpen
	v.s.mu.Unlock()
	if open {
		v.sendControlLocked(m)
	}
}

// sendControlLocked sends m on the open control channel (ctlMu held).
func (v *viewer) sendControlLocked(m protocol.ControlMsg) {
	b, err := json.Marshal(m)
	if err != nil || len(b) > protocol.MaxControlMessage {
		v.s.log.Debug("control message not sent", "viewer_id", v.id, "type", m.T, "bytes", len(b))
		return
	}
	if err := v.control.SendText(string(b)); err != nil {
		v.s.log.Debug("control message not sent", "viewer_id", v.id, "type", m.T, "error", err)
	}
}

// markOpen sets an open flag (session mu).
func (v *viewer) markOpen(open *bool) {
	v.s.mu.Lock()
	*open = true
	v.s.mu.Unlock()
}

// sendJSON sends m as text on dc when open is true (session mu).
func (v *viewer) sendJSON(dc dataChannel, open *bool, m any) bool {
	v.s.mu.Lock()
	ok := *open
	v.s.mu.Unlock()
	if !ok {
		return false
	}
	b, err := json.Marshal(m)
	if err != nil {
		return false
	}
	if err := dc.SendText(string(b)); err != nil {
		v.s.log.Debug("message not sent", "viewer_id", v.id, "channel", dc.Label(), "error", err)
		return false
	}
	return true
}

func (v *viewer) close() {
	v.closeOnce.Do(func() {
		close(v.gone)
		if v.term != nil {
			v.term.Close() // the shell ends with the viewer's connection
		}
		if v.relay != nil {
			v.relay.close()
		}
		if v.pc == nil {
			return
		}
		if err := v.pc.Close(); err != nil {
			v.s.log.Debug("closing peer connection", "viewer_id", v.id, "error", err)
		}
	})
}

// onControl handles a control message from a viewer.
func (s *Session) onControl(v *viewer, data []byte) {
	if len(data) > protocol.MaxControlMessage {
		return
	}
	var m protocol.ControlMsg
	if err := json.Unmarshal(data, &m); err != nil {
		s.log.Debug("ignoring malformed control message", "viewer_id", v.id)
		return
	}
	switch m.T {
	case protocol.ControlMonitor:
		s.mu.Lock()
		ok := m.Index >= 0 && (s.monitors == nil && m.Index < 64 || m.Index < len(s.monitors))
		if ok {
			v.monitor = m.Index
			v.needFull = true
		}
		s.mu.Unlock()
		if !ok {
			s.log.Debug("ignoring unknown monitor", "viewer_id", v.id, "index", m.Index)
			return
		}
		s.wake()
	case protocol.ControlQuality:
		// A viewer's choice (1-100) overrides the adaptive quality for
		// everyone; 0 gives it back.
		if m.Quality < 0 || m.Quality > 100 {
			s.log.Debug("ignoring quality out of range", "viewer_id", v.id, "quality", m.Quality)
			return
		}
		s.mu.Lock()
		s.quality = m.Quality
		s.mu.Unlock()
	case protocol.ControlRefresh:
		s.mu.Lock()
		v.needFull = true
		s.mu.Unlock()
		s.wake()
	case protocol.ControlAck:
		s.mu.Lock()
		v.acking = true
		v.busy = m.Busy
		v.inFlight = slices.DeleteFunc(v.inFlight, func(seq uint32) bool { return seq <= m.Seq })
		s.mu.Unlock()
		s.wake()
	case protocol.ControlMonitors:
		s.mu.Lock()
		v.needMons = true
		s.mu.Unlock()
		s.wake()
	case protocol.ControlModeRequest:
		s.onModeRequest(v, m.Mode)
	case protocol.ControlPointer:
		s.guide.pointer(v, m.X, m.Y)
	case protocol.ControlMark:
		s.guide.mark(v, m.Points)
	case protocol.ControlClipboard:
		s.clip.fromViewer(v, m.Text)
	default:
		s.log.Debug("ignoring control message", "viewer_id", v.id, "type", m.T)
	}
}

func (s *Session) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}
