package signal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/tetherdesk/tether/shared/protocol"
)

// Bounds on what either side may send.
const (
	// ReadLimit bounds one text message.
	ReadLimit = 64 << 10
	// BinaryLimit bounds one binary message (a relay frame), and so what
	// the websocket reads at once.
	BinaryLimit = protocol.MaxRelayFrame
	maxIDLen    = 64
	maxSDP      = 60 << 10
	maxCand     = 4 << 10
	maxField    = 256
)

var errMessage = errors.New("bad signalling message")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMessage, fmt.Sprintf(format, args...))
}

// Decode parses one text message into a Signal, refusing unknown fields'
// oversize values and malformed JSON. It never panics on any input.
func Decode(data []byte) (protocol.Signal, error) {
	var s protocol.Signal
	if len(data) > ReadLimit {
		return s, bad("message larger than %d bytes", ReadLimit)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&s); err != nil {
		return protocol.Signal{}, bad("malformed JSON: %v", err)
	}
	if dec.More() {
		return protocol.Signal{}, bad("trailing data after the message")
	}
	if s.Type == "" {
		return protocol.Signal{}, bad("type is required")
	}
	if len(s.Type) > maxField || len(s.ViewerID) > maxIDLen || len(s.State) > maxField || len(s.Reason) > maxField ||
		len(s.Mode) > maxField || len(s.Holder) > maxIDLen || len(s.Message) > 4<<10 || len(s.SDP) > maxSDP {
		return protocol.Signal{}, bad("a field is too long")
	}
	if len(s.Candidate) > 0 {
		if len(s.Candidate) > maxCand {
			return protocol.Signal{}, bad("candidate is too long")
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(s.Candidate, &obj); err != nil || obj == nil {
			return protocol.Signal{}, bad("candidate must be a JSON object (RTCIceCandidateInit)")
		}
	}
	return s, nil
}

// FromViewer turns what a viewer sent into what the agent receives: only
// answers and candidates pass, stamped with the viewer's own id (a viewer
// can never speak for another), and only the fields that matter are copied.
// A chat line is the viewer reporting its own line for the session's
// history; it goes to the server, not the agent.
func FromViewer(viewerID string, data []byte) (protocol.Signal, error) {
	s, err := Decode(data)
	if err != nil {
		return protocol.Signal{}, err
	}
	switch s.Type {
	case protocol.SignalAnswer:
		if s.SDP == "" {
			return protocol.Signal{}, bad("answer without sdp")
		}
		return protocol.Signal{Type: s.Type, ViewerID: viewerID, SDP: s.SDP}, nil
	case protocol.SignalCandidate:
		if len(s.Candidate) == 0 {
			return protocol.Signal{}, bad("candidate message without candidate")
		}
		return protocol.Signal{Type: s.Type, ViewerID: viewerID, Candidate: s.Candidate}, nil
	case protocol.SignalChat:
		if s.Chat == nil || protocol.CheckChatText(s.Chat.Text) != nil {
			return protocol.Signal{}, bad("chat needs a line of 1-%d bytes of UTF-8", protocol.MaxChatText)
		}
		return protocol.Signal{Type: s.Type, ViewerID: viewerID, Chat: &protocol.ChatLine{Text: s.Chat.Text}}, nil
	case protocol.SignalRelay:
		reason := s.Reason
		if reason != protocol.RelayICEFailed {
			reason = protocol.RelayAsked
		}
		return protocol.Signal{Type: s.Type, ViewerID: viewerID, Reason: reason}, nil
	}
	return protocol.Signal{}, bad("a viewer may send answer, candidate, chat or relay, not %q", s.Type)
}

// FromAgent checks what the agent sent: offers and candidates addressed to
// a viewer, state reports, and the session's chat lines and finished file
// transfers for its history.
func FromAgent(data []byte) (protocol.Signal, error) {
	s, err := Decode(data)
	if err != nil {
		return protocol.Signal{}, err
	}
	switch s.Type {
	case protocol.SignalOffer:
		if s.ViewerID == "" || s.SDP == "" {
			return protocol.Signal{}, bad("offer needs viewer_id and sdp")
		}
		return protocol.Signal{Type: s.Type, ViewerID: s.ViewerID, SDP: s.SDP}, nil
	case protocol.SignalCandidate:
		if s.ViewerID == "" || len(s.Candidate) == 0 {
			return protocol.Signal{}, bad("candidate needs viewer_id and candidate")
		}
		return protocol.Signal{Type: s.Type, ViewerID: s.ViewerID, Candidate: s.Candidate}, nil
	case protocol.SignalState:
		states := []protocol.SessionState{protocol.SessionAwaitingAcceptance, protocol.SessionConnecting, protocol.SessionActive, protocol.SessionEnded}
		if !slices.Contains(states, s.State) {
			return protocol.Signal{}, bad("unknown state %q", s.State)
		}
		return protocol.Signal{Type: s.Type, State: s.State, Reason: s.Reason, Mode: s.Mode}, nil
	case protocol.SignalChat:
		if s.Chat == nil || len(s.ViewerID) > maxIDLen || protocol.CheckChatText(s.Chat.Text) != nil {
			return protocol.Signal{}, bad("chat needs a line of 1-%d bytes of UTF-8", protocol.MaxChatText)
		}
		return protocol.Signal{Type: s.Type, ViewerID: s.ViewerID, Chat: &protocol.ChatLine{Text: s.Chat.Text}}, nil
	case protocol.SignalFile:
		f := s.File
		if f == nil || f.Name == "" || len(f.Name) > protocol.MaxFileName || f.Size < 0 || f.Size > protocol.MaxFileSize ||
			len(f.SHA256) != 64 || len(f.Viewer) > maxIDLen || len(f.Direction) > maxField {
			return protocol.Signal{}, bad("file needs a name, a size, a sha256 and a direction")
		}
		return protocol.Signal{Type: s.Type, File: &protocol.FileRecord{Direction: f.Direction, Name: f.Name, Size: f.Size, SHA256: f.SHA256, Viewer: f.Viewer}}, nil
	case protocol.SignalToolAction:
		a := s.ToolAction
		if a == nil || a.Op == "" || len(a.Op) > maxField || len(a.Target) > 1024 || len(a.Viewer) > maxIDLen || len(a.Error) > 1024 ||
			!utf8.ValidString(a.Target) || !utf8.ValidString(a.Error) {
			return protocol.Signal{}, bad("tool_action needs an op and a target of at most 1024 bytes")
		}
		return protocol.Signal{Type: s.Type, ToolAction: &protocol.ToolAction{Op: a.Op, Target: a.Target, Viewer: a.Viewer, Error: a.Error}}, nil
	case protocol.SignalReconnect:
		reason := s.Reason
		if reason != protocol.ReconnectDesktopChanged {
			reason = ""
		}
		return protocol.Signal{Type: s.Type, Reason: reason}, nil
	case protocol.SignalRelay:
		if s.ViewerID == "" {
			return protocol.Signal{}, bad("relay needs viewer_id")
		}
		return protocol.Signal{Type: s.Type, ViewerID: s.ViewerID}, nil
	}
	return protocol.Signal{}, bad("the agent may send offer, candidate, state, chat, file, tool_action, reconnect or relay, not %q", s.Type)
}
