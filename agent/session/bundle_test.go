package session

import (
	"bytes"
	"testing"

	"github.com/tetherdesk/tether/shared/screen"
)

// TestBundle: small messages of a frame travel as one bundle, big ones on
// their own, in order, and unpack to the same bytes.
func TestBundle(t *testing.T) {
	tile := func(n int) []byte {
		return screen.AppendTile(nil, screen.Tile{Seq: 9, W: 1, H: 1, Enc: screen.EncPNG, Payload: make([]byte, n)})
	}
	end := screen.AppendFrameEnd(nil, 9)
	for _, tc := range []struct {
		name string
		in   [][]byte
		want int // messages sent
	}{
		{"one message stays as it is", [][]byte{end}, 1},
		{"a typed character and its frame end", [][]byte{tile(200), end}, 1},
		{"a big tile goes alone", [][]byte{tile(100), tile(bundleLimit + 1), tile(100), end}, 3},
		{"bundles stay under the limit", [][]byte{tile(bundleLimit / 2), tile(bundleLimit / 2), tile(bundleLimit / 2), end}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := bundle(tc.in)
			if len(out) != tc.want {
				t.Fatalf("%d messages, want %d", len(out), tc.want)
			}
			var got [][]byte
			for _, b := range out {
				if len(b) > screen.MaxMessage {
					t.Fatalf("a message of %d bytes", len(b))
				}
				m, err := screen.Decode(b)
				if err != nil {
					t.Fatal(err)
				}
				if m.Kind == screen.KindBundle {
					got = append(got, m.Parts...)
				} else {
					got = append(got, b)
				}
			}
			if len(got) != len(tc.in) {
				t.Fatalf("unpacked %d messages, want %d", len(got), len(tc.in))
			}
			for i := range got {
				if !bytes.Equal(got[i], tc.in[i]) {
					t.Fatalf("message %d differs", i)
				}
			}
		})
	}
}
