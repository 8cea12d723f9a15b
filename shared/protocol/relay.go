package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The WebSocket relay carries a session's data channels when WebRTC
// cannot (SignalRelay): each data-channel message becomes one binary
// websocket message on the signalling connections, through the server.
//
//	viewer ⇄ server:  [channel u8][flags u8][payload]
//	agent  ⇄ server:  [len u8][viewer id][channel u8][flags u8][payload]
//
// The server never trusts a viewer id from a viewer: it puts the viewer's
// own on what it forwards to the agent, and forwards the agent's frames
// to the viewer they name only. Channel ids are the negotiated data
// channels' (ChannelScreenID…); channel 0 is the relay's flow control: its
// 8-byte payload is the total of payload bytes the sender has taken in
// from the other side so far, so each side keeps what is in flight
// (sent and not yet taken in) under its data channels' own limits.
const (
	RelayAckChannel uint8 = 0
	// RelayText marks a payload that was a text message.
	RelayText uint8 = 1
	// MaxRelayPayload bounds one message's payload (browsers' data-channel
	// limit).
	MaxRelayPayload = 256 << 10
	// MaxRelayFrame bounds one relay frame on either leg.
	MaxRelayFrame = MaxRelayPayload + 2 + 1 + 255
)

// RelayFrame is one relayed data-channel message.
type RelayFrame struct {
	ViewerID string // agent leg only
	Channel  uint8
	Text     bool
	Payload  []byte
}

// ErrRelayFrame is wrapped by every decoding failure.
var ErrRelayFrame = errors.New("malformed relay frame")

// AppendViewerFrame appends f in the viewer leg's form.
func AppendViewerFrame(b []byte, f RelayFrame) []byte {
	return append(append(b, f.Channel, flags(f)), f.Payload...)
}

// AppendAgentFrame appends f in the agent leg's form; the viewer id must
// be 1 to 255 bytes.
func AppendAgentFrame(b []byte, f RelayFrame) []byte {
	b = append(b, byte(len(f.ViewerID)))
	b = append(b, f.ViewerID...)
	return AppendViewerFrame(b, f)
}

func flags(f RelayFrame) byte {
	if f.Text {
		return RelayText
	}
	return 0
}

// ParseViewerFrame decodes a viewer-leg frame. Payload aliases b.
func ParseViewerFrame(b []byte) (RelayFrame, error) {
	if len(b) < 2 {
		return RelayFrame{}, fmt.Errorf("%w: %d bytes", ErrRelayFrame, len(b))
	}
	f := RelayFrame{Channel: b[0], Text: b[1]&RelayText != 0, Payload: b[2:]}
	if b[1]&^RelayText != 0 {
		return RelayFrame{}, fmt.Errorf("%w: unknown flags %#x", ErrRelayFrame, b[1])
	}
	if len(f.Payload) > MaxRelayPayload {
		return RelayFrame{}, fmt.Errorf("%w: payload of %d bytes exceeds %d", ErrRelayFrame, len(f.Payload), MaxRelayPayload)
	}
	if f.Channel == RelayAckChannel && (len(f.Payload) != 8 || f.Text) {
		return RelayFrame{}, fmt.Errorf("%w: an ack carries 8 binary bytes, not %d", ErrRelayFrame, len(f.Payload))
	}
	return f, nil
}

// ParseAgentFrame decodes an agent-leg frame. Payload aliases b.
func ParseAgentFrame(b []byte) (RelayFrame, error) {
	if len(b) < 1 || b[0] == 0 || len(b) < 1+int(b[0]) {
		return RelayFrame{}, fmt.Errorf("%w: no viewer id", ErrRelayFrame)
	}
	id := string(b[1 : 1+int(b[0])])
	f, err := ParseViewerFrame(b[1+int(b[0]):])
	if err != nil {
		return RelayFrame{}, err
	}
	f.ViewerID = id
	return f, nil
}

// RelayAck is an ack frame's payload: total bytes taken in.
func RelayAck(total uint64) []byte { return binary.BigEndian.AppendUint64(nil, total) }

// RelayAckTotal reads an ack frame's payload.
func RelayAckTotal(f RelayFrame) uint64 { return binary.BigEndian.Uint64(f.Payload) }
