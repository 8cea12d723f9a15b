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
//	copy:      [4][seq u32][sx u16][sy u16][w u16][h u16][dx u16][dy u16]
//	           move the w x h rectangle at sx,sy of the picture to dx,dy
//	           (scrolled text, a moved window)
//	bundle:    [5][seq u32] then, one or more times, [len u32][message]
//	           several messages of frame seq in one (fewer packets for a
//	           small frame); the messages are never bundles themselves
//	video:     [6][seq u32][x u16][y u16][w u16][h u16]
//	           from this frame on, the w x h rectangle at x,y is shown by
//	           the session's video track (VP8), drawn over the picture;
//	           no tiles are sent for it. w = h = 0: no video any more;
//	           the rectangle's tiles follow in the same frame
//
// The messages of a frame apply in order: copies come before the frame's
// tiles, and the picture is complete at the frame end. Every copy of a
// frame reads the picture as it was before the frame's first copy (a
// viewer snapshots it once), so copies never see each other's writes.
//
// Encodings: 1 JPEG, 2 PNG (lossless, for text-like tiles), 3 solid colour
// (payload: R, G, B), 4 JPEG at half resolution (ceil(w/2) x ceil(h/2),
// drawn scaled up to w x h: full-motion content under load), 5 indexed
// (lossless, up to 256 colours: a palette and compressed indices; see
// indexed.go). x, y, w, h are pixels of the monitor being shown.
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
	KindCopy     byte = 4
	KindBundle   byte = 5
	KindVideo    byte = 6
)

// Tile encodings.
const (
	EncJPEG     byte = 1
	EncPNG      byte = 2
	EncSolid    byte = 3
	EncJPEGHalf byte = 4
	EncIndexed  byte = 5
)

// TileHeaderLen is the length of a tile message before its payload.
const TileHeaderLen = 1 + 4 + 2*4 + 1

// CopyLen is the length of a copy message.
const CopyLen = 1 + 4 + 2*6

// VideoLen is the length of a video message.
const VideoLen = 1 + 4 + 2*4

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

// Copy moves a rectangle of the picture: W x H pixels from SX,SY to DX,DY.
type Copy struct {
	Seq          uint32
	SX, SY, W, H uint16
	DX, DY       uint16
}

// Msg is a decoded screen message.
type Msg struct {
	Kind byte
	Seq  uint32
	// Tile is set for KindTile, Copy for KindCopy, Parts (aliasing the
	// input; each still to be decoded) for KindBundle; W and H are set for
	// KindSize, X, Y, W and H for KindVideo.
	Tile  Tile
	Copy  Copy
	Parts [][]byte
	X, Y  uint16
	W, H  uint16
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

// AppendCopy appends a copy message.
func AppendCopy(b []byte, c Copy) []byte {
	b = append(b, KindCopy)
	b = binary.BigEndian.AppendUint32(b, c.Seq)
	for _, v := range []uint16{c.SX, c.SY, c.W, c.H, c.DX, c.DY} {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return b
}

// AppendVideo appends a video message: the w x h rectangle at x,y is
// video from frame seq on (w = h = 0: no video).
func AppendVideo(b []byte, seq uint32, x, y, w, h uint16) []byte {
	b = append(b, KindVideo)
	b = binary.BigEndian.AppendUint32(b, seq)
	for _, v := range []uint16{x, y, w, h} {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return b
}

// AppendBundle appends a bundle of msgs (none of them a bundle) of frame
// seq.
func AppendBundle(b []byte, seq uint32, msgs [][]byte) []byte {
	b = append(b, KindBundle)
	b = binary.BigEndian.AppendUint32(b, seq)
	for _, m := range msgs {
		b = binary.BigEndian.AppendUint32(b, uint32(len(m)))
		b = append(b, m...)
	}
	return b
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
		case EncJPEG, EncPNG, EncJPEGHalf:
			if len(t.Payload) == 0 {
				return Msg{}, fmt.Errorf("%w: empty image payload", ErrMalformed)
			}
		case EncIndexed:
			// The palette must be there; the pixels are checked when
			// decoded (DecodeIndexed).
			if _, ok := indexedColours(t.Payload); !ok {
				return Msg{}, fmt.Errorf("%w: indexed payload of %d bytes", ErrMalformed, len(t.Payload))
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
	case KindCopy:
		if len(b) != CopyLen {
			return Msg{}, fmt.Errorf("%w: copy message of %d bytes", ErrMalformed, len(b))
		}
		u := func(i int) uint16 { return binary.BigEndian.Uint16(b[5+2*i:]) }
		c := Copy{Seq: m.Seq, SX: u(0), SY: u(1), W: u(2), H: u(3), DX: u(4), DY: u(5)}
		if c.W == 0 || c.H == 0 {
			return Msg{}, fmt.Errorf("%w: empty copy %dx%d", ErrMalformed, c.W, c.H)
		}
		if int(c.SX)+int(c.W) > 65535 || int(c.SY)+int(c.H) > 65535 || int(c.DX)+int(c.W) > 65535 || int(c.DY)+int(c.H) > 65535 {
			return Msg{}, fmt.Errorf("%w: copy beyond 65535 pixels", ErrMalformed)
		}
		m.Copy = c
	case KindVideo:
		if len(b) != VideoLen {
			return Msg{}, fmt.Errorf("%w: video message of %d bytes", ErrMalformed, len(b))
		}
		u := func(i int) uint16 { return binary.BigEndian.Uint16(b[5+2*i:]) }
		m.X, m.Y, m.W, m.H = u(0), u(1), u(2), u(3)
		if (m.W == 0) != (m.H == 0) {
			return Msg{}, fmt.Errorf("%w: video rectangle %dx%d", ErrMalformed, m.W, m.H)
		}
		if int(m.X)+int(m.W) > 65535 || int(m.Y)+int(m.H) > 65535 {
			return Msg{}, fmt.Errorf("%w: video beyond 65535 pixels", ErrMalformed)
		}
	case KindBundle:
		for rest := b[5:]; len(rest) > 0; {
			if len(rest) < 4 {
				return Msg{}, fmt.Errorf("%w: bundle part length cut short", ErrMalformed)
			}
			n := binary.BigEndian.Uint32(rest)
			if n < 5 || uint64(n) > uint64(len(rest)-4) {
				return Msg{}, fmt.Errorf("%w: bundle part of %d bytes", ErrMalformed, n)
			}
			part := rest[4 : 4+n]
			if part[0] == KindBundle {
				return Msg{}, fmt.Errorf("%w: bundle in a bundle", ErrMalformed)
			}
			m.Parts = append(m.Parts, part)
			rest = rest[4+n:]
		}
		if len(m.Parts) == 0 {
			return Msg{}, fmt.Errorf("%w: empty bundle", ErrMalformed)
		}
	default:
		return Msg{}, fmt.Errorf("%w: unknown kind %d", ErrMalformed, m.Kind)
	}
	return m, nil
}
