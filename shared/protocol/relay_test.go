package protocol

import (
	"bytes"
	"errors"
	"testing"
)

func TestRelayFrames(t *testing.T) {
	f := RelayFrame{ViewerID: "v1", Channel: 3, Text: true, Payload: []byte(`{"t":"x"}`)}
	got, err := ParseAgentFrame(AppendAgentFrame(nil, f))
	if err != nil || got.ViewerID != "v1" || got.Channel != 3 || !got.Text || !bytes.Equal(got.Payload, f.Payload) {
		t.Fatalf("agent frame round trip: %+v %v", got, err)
	}
	got, err = ParseViewerFrame(AppendViewerFrame(nil, RelayFrame{Channel: RelayAckChannel, Payload: RelayAck(1 << 40)}))
	if err != nil || RelayAckTotal(got) != 1<<40 {
		t.Fatalf("ack round trip: %+v %v", got, err)
	}
	for name, b := range map[string][]byte{
		"empty":         nil,
		"one byte":      {1},
		"bad flags":     {1, 2},
		"short ack":     {0, 0, 1, 2},
		"text ack":      append([]byte{0, 1}, RelayAck(1)...),
		"huge":          append([]byte{1, 0}, make([]byte, MaxRelayPayload+1)...),
		"no viewer id":  {0, 1, 0},
		"id past end":   {5, 'a', 'b'},
		"id, no header": {1, 'a'},
	} {
		parse := ParseViewerFrame
		if name == "no viewer id" || name == "id past end" || name == "id, no header" {
			parse = ParseAgentFrame
		}
		if _, err := parse(b); !errors.Is(err, ErrRelayFrame) {
			t.Errorf("%s: %v, want ErrRelayFrame", name, err)
		}
	}
}

func FuzzRelayFrame(f *testing.F) {
	f.Add(AppendAgentFrame(nil, RelayFrame{ViewerID: "v", Channel: 1, Payload: []byte{1, 2, 3}}))
	f.Add(AppendViewerFrame(nil, RelayFrame{Channel: 0, Payload: RelayAck(5)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := ParseViewerFrame(b); err == nil {
			if again, err := ParseViewerFrame(AppendViewerFrame(nil, v)); err != nil || again.Channel != v.Channel || !bytes.Equal(again.Payload, v.Payload) {
				t.Fatalf("viewer frame %x does not survive a round trip: %v", b, err)
			}
		}
		if a, err := ParseAgentFrame(b); err == nil {
			if again, err := ParseAgentFrame(AppendAgentFrame(nil, a)); err != nil || again.ViewerID != a.ViewerID || !bytes.Equal(again.Payload, a.Payload) {
				t.Fatalf("agent frame %x does not survive a round trip: %v", b, err)
			}
		}
	})
}
