// Package screen is the wire format of the "screen" data channel: dirty
// tiles with a small binary header, and the markers around them. The agent
// encodes with it; the browser viewer decodes the same bytes in viewer.js.
//
// All integers are big-endian. Every message starts with a kind byte:
//
//	tile:      [1][seq u32][x u16][y u16][w u16][h u16][enc u8][payload...]
//	frame end: [2][seq u32]                  all tiles of frame seq were sent
//	size:      [3][seq u32][w u16][h u16]    the picture is now w x h; a full
//	                                          frame follows
//
// Encodings: 1 JPEG, 2 PNG (lossless, for text-like tiles), 3 solid colour
// (payload: R, G, B). x, y, w, h are pixels of the monitor being shown.
package screen

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Message kinds.
const (
	KindTile     byte = 1
	KindFrameEnd byte = 2
	KindSize     byte = 3
)

// Tile encodings.
const (
	EncJPEG  byte = 1
	EncPNG   byte = 2
	EncSolid byte = 3
)

// TileHeaderLen is the length of a tile message before its payload.
const TileHeaderLen = 1 + 4 + 2*4 + 1

// MaxMessage bounds one message: browsers accept data-channel messages up
// to 256 KiB.
const MaxMessage = 256 << 10

// Tile is one rectangle of a frame.
type Tile struct {
	Seq        uint32
	X, Y, W, H uint16
	Enc        byte
	Payload    []byte
}

// Msg is a decoded screen message.
type Msg struct {
	Kind byte
	Seq  uint32
	// Tile is set for KindTile; W and H are set for KindSize.
	Tile Tile
	W, H uint16
}

// AppendTile appends the encoded tile to b.
func AppendTile(b []byte, t Tile) []byte {
	b = append(b, KindTile)
	b = binary.BigEndian.AppendUint32(b, t.Seq)
	for _, v := range []uint16{t.X, t.Y, t.W, t.H} {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	b = append(b, t.Enc)
	return append(b, t.Payload...)
}

// AppendFrameEnd appends a frame-end marker.
func AppendFrameEnd(b []byte, seq uint32) []byte {
	b = append(b, KindFrameEnd)
	return binary.BigEndian.AppendUint32(b, seq)
}

// AppendSize appends a size message.
func AppendSize(b []byte, seq uint32, w, h uint16) []byte {
	b = append(b, KindSize)
	b = binary.BigEndian.AppendUint32(b, seq)
	b = binary.BigEndian.AppendUint16(b, w)
	return binary.BigEndian.AppendUint16(b, h)
}

// ErrMalformed reports bytes that are not a screen message.
var ErrMalformed = errors.New("malformed screen message")

// Decode parses one message. The tile payload aliases b.
func Decode(b []byte) (Msg, error) {
	if len(b) < 5 {
		return Msg{}, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	if len(b) > MaxMessage {
		return Msg{}, fmt.Errorf("%w: %d bytes exceeds %d", ErrMalformed, len(b), MaxMessage)
	}
	m := Msg{Kind: b[0], Seq: binary.BigEndian.Uint32(b[1:5])}
	switch m.Kind {
	case KindTile:
		if len(b) < TileHeaderLen {
			return Msg{}, fmt.Errorf("%w: tile header of %d bytes", ErrMalformed, len(b))
		}
		t := Tile{Seq: m.Seq, X: binary.BigEndian.Uint16(b[5:]), Y: binary.BigEndian.Uint16(b[7:]),
			W: binary.BigEndian.Uint16(b[9:]), H: binary.BigEndian.Uint16(b[11:]), Enc: b[13], Payload: b[TileHeaderLen:]}
		if t.W == 0 || t.H == 0 {
			return Msg{}, fmt.Errorf("%w: empty tile %dx%d", ErrMalformed, t.W, t.H)
		}
		if int(t.X)+int(t.W) > 65535 || int(t.Y)+int(t.H) > 65535 {
			return Msg{}, fmt.Errorf("%w: tile beyond 65535 pixels", ErrMalformed)
		}
		switch t.Enc {
		case EncJPEG, EncPNG:
			if len(t.Payload) == 0 {
				return Msg{}, fmt.Errorf("%w: empty image payload", ErrMalformed)
			}
		case EncSolid:
			if len(t.Payload) != 3 {
				return Msg{}, fmt.Errorf("%w: solid tile payload of %d bytes", ErrMalformed, len(t.Payload))
			}
		default:
			return Msg{}, fmt.Errorf("%w: unknown encoding %d", ErrMalformed, t.Enc)
		}
		m.Tile = t
	case KindFrameEnd:
		if len(b) != 5 {
			return Msg{}, fmt.Errorf("%w: frame end of %d bytes", ErrMalformed, len(b))
		}
	case KindSize:
		if len(b) != 9 {
			return Msg{}, fmt.Errorf("%w: size message of %d bytes", ErrMalformed, len(b))
		}
		m.W, m.H = binary.BigEndian.Uint16(b[5:]), binary.BigEndian.Uint16(b[7:])
		if m.W == 0 || m.H == 0 {
			return Msg{}, fmt.Errorf("%w: empty size", ErrMalformed)
		}
	default:
		return Msg{}, fmt.Errorf("%w: unknown kind %d", ErrMalformed, m.Kind)
	}
	return m, nil
}
