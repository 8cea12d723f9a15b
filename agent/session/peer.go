package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/tetherdesk/tether/shared/protocol"
)

// viewer is one technician's peer connection. Fields below mu are guarded
// by the session's mu.
type viewer struct {
	id      string
	s       *Session
	pc      *webrtc.PeerConnection
	screen  *webrtc.DataChannel
	input   *webrtc.DataChannel
	control *webrtc.DataChannel

	cmu         sync.Mutex // guards remoteSet, cands, offerSent, local
	remoteSet   bool
	cands       []webrtc.ICECandidateInit
	offerSent   bool
	local       []json.RawMessage // our candidates gathered before the offer went out
	closeOnce   sync.Once
	screenOpen  bool   // session mu
	controlOpen bool   // session mu
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
}

func negotiated(id uint16) *webrtc.DataChannelInit {
	t := true
	return &webrtc.DataChannelInit{Negotiated: &t, ID: &id, Ordered: &t}
}

// addViewer makes the viewer's peer connection and sends the offer.
func (s *Session) addViewer(id string) {
	s.mu.Lock()
	if _, ok := s.viewers[id]; ok || s.ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	cfg := webrtc.Configuration{ICEServers: s.ice, ICETransportPolicy: s.icePolicy}
	s.mu.Unlock()
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
	v := &viewer{id: id, s: s, pc: pc, monitor: -1, sentMon: -1}
	if v.screen, err = pc.CreateDataChannel(protocol.ChannelScreen, negotiated(protocol.ChannelScreenID)); err == nil {
		if v.input, err = pc.CreateDataChannel(protocol.ChannelInput, negotiated(protocol.ChannelInputID)); err == nil {
			v.control, err = pc.CreateDataChannel(protocol.ChannelControl, negotiated(protocol.ChannelControlID))
		}
	}
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("data channels: %w", err)
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
			case s.drop <- id:
			case <-s.ctx.Done():
			}
		}
	})
	v.screen.OnOpen(func() {
		s.mu.Lock()
		v.screenOpen = true
		v.needFull = true
		first := !s.activeSent
		s.activeSent = true
		s.mu.Unlock()
		if first && s.ctx.Err() == nil {
			s.transition(protocol.SessionActive, "", "")
		}
		s.wake()
	})
	v.control.OnOpen(func() {
		s.mu.Lock()
		v.controlOpen = true
		v.needMons = true
		holder, mode := s.holder, s.mode
		s.mu.Unlock()
		v.sendControl(protocol.ControlMsg{T: "mode", Mode: mode})
		v.sendControl(protocol.ControlMsg{T: "holder", Holder: holder})
		s.wake()
	})
	v.control.OnMessage(func(m webrtc.DataChannelMessage) { s.onControl(v, m.Data) })
	v.input.OnMessage(func(m webrtc.DataChannelMessage) { s.onInput(v, m.Data) })
	return v, nil
}

func (v *viewer) setAnswer(sdp string) error {
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
	if c.Candidate == "" {
		return nil // end of candidates
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
	v.s.mu.Lock()
	open := v.controlOpen
	v.s.mu.Unlock()
	if !open {
		return
	}
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	if err := v.control.SendText(string(b)); err != nil {
		v.s.log.Debug("control message not sent", "viewer_id", v.id, "type", m.T, "error", err)
	}
}

func (v *viewer) close() {
	v.closeOnce.Do(func() {
		if err := v.pc.Close(); err != nil {
			v.s.log.Debug("closing peer connection", "viewer_id", v.id, "error", err)
		}
	})
}

// onControl handles a control message from a viewer.
func (s *Session) onControl(v *viewer, data []byte) {
	if len(data) > 4<<10 {
		return
	}
	var m protocol.ControlMsg
	if err := json.Unmarshal(data, &m); err != nil {
		s.log.Debug("ignoring malformed control message", "viewer_id", v.id)
		return
	}
	switch m.T {
	case "monitor":
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
	case "quality":
		// A viewer's choice (1-100) overrides the adaptive quality for
		// everyone; 0 gives it back.
		if m.Quality < 0 || m.Quality > 100 {
			s.log.Debug("ignoring quality out of range", "viewer_id", v.id, "quality", m.Quality)
			return
		}
		s.mu.Lock()
		s.quality = m.Quality
		s.mu.Unlock()
	case "refresh":
		s.mu.Lock()
		v.needFull = true
		s.mu.Unlock()
		s.wake()
	case "ack":
		s.mu.Lock()
		v.acking = true
		v.inFlight = slices.DeleteFunc(v.inFlight, func(seq uint32) bool { return seq <= m.Seq })
		s.mu.Unlock()
		s.wake()
	case "monitors":
		s.mu.Lock()
		v.needMons = true
		s.mu.Unlock()
		s.wake()
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
