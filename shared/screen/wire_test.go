package screen

import (
	"bytes"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	tile := Tile{Seq: 7, X: 64, Y: 128, W: 64, H: 32, Enc: EncPNG, Payload: []byte{0x89, 'P', 'N', 'G'}}
	m, err := Decode(AppendTile(nil, tile))
	if err != nil || m.Kind != KindTile || m.Seq != 7 || m.Tile.X != 64 || m.Tile.Y != 128 || m.Tile.W != 64 || m.Tile.H != 32 || !bytes.Equal(m.Tile.Payload, tile.Payload) {
		t.Fatalf("tile round trip: %+v, %v", m, err)
	}
	if m, err := Decode(AppendFrameEnd(nil, 9)); err != nil || m.Kind != KindFrameEnd || m.Seq != 9 {
		t.Fatalf("frame end: %+v %v", m, err)
	}
	if m, err := Decode(AppendSize(nil, 1, 1920, 1080)); err != nil || m.W != 1920 || m.H != 1080 {
		t.Fatalf("size: %+v %v", m, err)
	}
	parts := [][]byte{AppendTile(nil, tile), AppendFrameEnd(nil, 7)}
	if m, err := Decode(AppendBundle(nil, 7, parts)); err != nil || m.Kind != KindBundle || len(m.Parts) != 2 ||
		!bytes.Equal(m.Parts[0], parts[0]) || !bytes.Equal(m.Parts[1], parts[1]) {
		t.Fatalf("bundle: %+v, %v", m, err)
	}
	c := Copy{Seq: 4, SX: 1, SY: 20, W: 300, H: 400, DX: 2, DY: 3}
	if m, err := Decode(AppendCopy(nil, c)); err != nil || m.Kind != KindCopy || m.Seq != 4 || m.Copy != c {
		t.Fatalf("copy: %+v %v", m, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":        nil,
		"short":        {1, 0, 0},
		"unknown kind": {9, 0, 0, 0, 1},
		"tile header":  {1, 0, 0, 0, 1, 0, 0},
		"zero tile":    AppendTile(nil, Tile{Enc: EncJPEG, Payload: []byte{1}}),
		"bad solid":    AppendTile(nil, Tile{W: 1, H: 1, Enc: EncSolid, Payload: []byte{1}}),
		"no payload":   AppendTile(nil, Tile{W: 1, H: 1, Enc: EncJPEG}),
		"unknown enc":  AppendTile(nil, Tile{W: 1, H: 1, Enc: 42, Payload: []byte{1}}),
		"overflow":     AppendTile(nil, Tile{X: 65000, W: 1000, H: 1, Enc: EncSolid, Payload: []byte{1, 2, 3}}),
		"size zero":    AppendSize(nil, 1, 0, 5),
		"end trailing": append(AppendFrameEnd(nil, 1), 0),
		"too large":    AppendTile(nil, Tile{W: 1, H: 1, Enc: EncJPEG, Payload: make([]byte, MaxMessage)}),
		"empty copy":   AppendCopy(nil, Copy{W: 0, H: 5}),
		"copy short":   AppendCopy(nil, Copy{W: 1, H: 1})[:CopyLen-1],
		"copy beyond":  AppendCopy(nil, Copy{W: 10, H: 1, DX: 65530}),
		"empty bundle": AppendBundle(nil, 1, nil),
		"nested":       AppendBundle(nil, 1, [][]byte{AppendBundle(nil, 1, [][]byte{AppendFrameEnd(nil, 1)})}),
		"part short":   AppendBundle(nil, 1, [][]byte{AppendFrameEnd(nil, 1)})[:12],
		"part tiny":    AppendBundle(nil, 1, [][]byte{{2, 0}}),
	} {
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

// FuzzDecode: screen messages arrive from the network; no input may panic,
// and whatever decodes must encode back to the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add(AppendTile(nil, Tile{Seq: 1, W: 64, H: 64, Enc: EncSolid, Payload: []byte{1, 2, 3}}))
	f.Add(AppendFrameEnd(nil, 2))
	f.Add(AppendSize(nil, 3, 800, 600))
	f.Add(AppendCopy(nil, Copy{Seq: 4, SX: 0, SY: 64, W: 1920, H: 900, DX: 0, DY: 0}))
	f.Add(AppendBundle(nil, 5, [][]byte{AppendTile(nil, Tile{Seq: 5, W: 1, H: 1, Enc: EncSolid, Payload: []byte{1, 2, 3}}), AppendFrameEnd(nil, 5)}))
	f.Add(AppendVideo(nil, 6, 64, 128, 640, 360))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		var again []byte
		switch m.Kind {
		case KindTile:
			again = AppendTile(nil, m.Tile)
		case KindFrameEnd:
			again = AppendFrameEnd(nil, m.Seq)
		case KindSize:
			again = AppendSize(nil, m.Seq, m.W, m.H)
		case KindCopy:
			again = AppendCopy(nil, m.Copy)
		case KindBundle:
			again = AppendBundle(nil, m.Seq, m.Parts)
		case KindVideo:
			again = AppendVideo(nil, m.Seq, m.X, m.Y, m.W, m.H)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding %x gave %x", b, again)
		}
	})
}
