package signal

import (
	"strings"
	"testing"

	"github.com/tetherdesk/tether/shared/protocol"
)

func TestFromViewerStampsID(t *testing.T) {
	m, err := FromViewer("v1", []byte(`{"type":"answer","viewer_id":"v2","sdp":"x","state":"ended"}`))
	if err != nil || m.ViewerID != "v1" || m.State != "" || m.SDP != "x" {
		t.Fatalf("got %+v, %v", m, err)
	}
	for _, bad := range []string{
		`{"type":"offer","sdp":"x"}`, `{"type":"state","state":"ended"}`, `{"type":"answer"}`,
		`{"type":"candidate","candidate":"str"}`, `{"type":"candidate"}`, `{}`, `[]`, `{"type":"answer","sdp":"x"} {}`,
	} {
		if _, err := FromViewer("v1", []byte(bad)); err == nil {
			t.Errorf("viewer message %s accepted", bad)
		}
	}
}

func TestFromAgent(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"type":"offer","viewer_id":"v1","sdp":"x"}`, true},
		{`{"type":"offer","sdp":"x"}`, false},
		{`{"type":"candidate","viewer_id":"v1","candidate":{"candidate":"c"}}`, true},
		{`{"type":"candidate","viewer_id":"v1","candidate":null}`, false},
		{`{"type":"state","state":"active"}`, true},
		{`{"type":"state","state":"requested"}`, false},
		{`{"type":"answer","viewer_id":"v1","sdp":"x"}`, false},
		{`{"type":"hello"}`, false},
		{`{"type":"reconnect","reason":"desktop_changed"}`, true},
		{`{"type":"reconnect"}`, true},
		{`{"type":"offer","viewer_id":"` + strings.Repeat("v", 100) + `","sdp":"x"}`, false},
		{`{"type":"chat","viewer_id":"v1","chat":{"text":"hello"}}`, true},
		{`{"type":"chat","chat":{"text":"from the user"}}`, true},
		{`{"type":"chat","chat":{"text":"  "}}`, false},
		{`{"type":"chat"}`, false},
		{`{"type":"file","file":{"direction":"to_endpoint","name":"a.txt","size":4,"sha256":"` + strings.Repeat("0", 64) + `"}}`, true},
		{`{"type":"file","file":{"direction":"to_endpoint","name":"","size":4,"sha256":"` + strings.Repeat("0", 64) + `"}}`, false},
		{`{"type":"file","file":{"direction":"to_endpoint","name":"a","size":4,"sha256":"00"}}`, false},
	} {
		_, err := FromAgent([]byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

// FuzzSignal feeds arbitrary bytes through both decoders: they must never
// panic, and whatever they accept is of an allowed type with bounded fields.
func FuzzSignal(f *testing.F) {
	for _, s := range []string{
		`{"type":"offer","viewer_id":"v1","sdp":"v=0"}`,
		`{"type":"answer","sdp":"v=0"}`,
		`{"type":"candidate","viewer_id":"v1","candidate":{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host"}}`,
		`{"type":"state","state":"ended","reason":"declined","mode":"monitor"}`,
		`{"type":"reconnect","reason":"desktop_changed"}`,
		`{"type":"chat","viewer_id":"v1","chat":{"text":"hi"}}`,
		`{"type":"candidate","candidate":[1,2]}`, `{"type":1}`, `null`, ``, `{"type":"offer"`, "\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := FromViewer("vX", b); err == nil {
			if m.ViewerID != "vX" || (m.Type != protocol.SignalAnswer && m.Type != protocol.SignalCandidate && m.Type != protocol.SignalChat) ||
				(m.Type == protocol.SignalChat && (m.Chat == nil || protocol.CheckChatText(m.Chat.Text) != nil)) {
				t.Fatalf("viewer message accepted as %+v", m)
			}
		}
		if m, err := FromAgent(b); err == nil {
			switch m.Type {
			case protocol.SignalOffer, protocol.SignalCandidate:
				if m.ViewerID == "" || len(m.ViewerID) > maxIDLen {
					t.Fatalf("agent message accepted as %+v", m)
				}
			case protocol.SignalState:
			case protocol.SignalChat:
				if m.Chat == nil || protocol.CheckChatText(m.Chat.Text) != nil || len(m.ViewerID) > maxIDLen {
					t.Fatalf("chat accepted as %+v", m)
				}
			case protocol.SignalFile:
				if m.File == nil || m.File.Name == "" || len(m.File.SHA256) != 64 {
					t.Fatalf("file accepted as %+v", m)
				}
			case protocol.SignalReconnect:
				if m.Reason != "" && m.Reason != protocol.ReconnectDesktopChanged {
					t.Fatalf("reconnect accepted with reason %q", m.Reason)
				}
			default:
				t.Fatalf("agent message of type %q accepted", m.Type)
			}
		}
	})
}
