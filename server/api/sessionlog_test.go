package api_test

import (
	"strings"
	"testing"

	"github.com/tetherdesk/tether/shared/protocol"
)

// TestModeChangeDuringSession: the helper reports a mode change with its
// current state; the server records it (policy permitting), tells every
// viewer, and audits it; a mode the policy disables is refused.
func TestModeChangeDuringSession(t *testing.T) {
	f := newSessionFixture(t)
	doc := map[string]any{"screenshare": map[string]any{"unattended_allowed": true, "modes": []string{"active", "monitor", "chat"}}}
	if st := f.admin.do("PUT", "/api/v1/policies/global", doc, nil); st != 200 {
		t.Fatalf("put policy: %d %s", st, f.admin.last)
	}
	s, agent, viewer := f.live(t, f.tech)

	// Same state, another mode: recorded and told to everyone.
	agent.send(protocol.Signal{Type: protocol.SignalState, State: protocol.SessionActive, Mode: protocol.ModeMonitor})
	viewer.expectWhere(protocol.SignalSession, func(m protocol.Signal) bool { return m.Session.Mode == protocol.ModeMonitor })
	agent.expectWhere(protocol.SignalSession, func(m protocol.Signal) bool { return m.Session.Mode == protocol.ModeMonitor })
	if got := f.state(t, s.ID); got.Mode != protocol.ModeMonitor || got.State != protocol.SessionActive {
		t.Fatalf("session %+v, want active in monitor mode", got)
	}
	// Not enabled by the policy: refused, unchanged.
	agent.send(protocol.Signal{Type: protocol.SignalState, State: protocol.SessionActive, Mode: protocol.ModeGuidance})
	if e := agent.expect(protocol.SignalError); !strings.Contains(e.Message, "not enabled") {
		t.Errorf("error %+v", e)
	}
	// A mode never goes with ended or awaiting_acceptance.
	agent.send(protocol.Signal{Type: protocol.SignalState, State: protocol.SessionAwaitingAcceptance, Mode: protocol.ModeChat})
	agent.expect(protocol.SignalError)
	if got := f.state(t, s.ID); got.Mode != protocol.ModeMonitor {
		t.Fatalf("mode %q after refused changes, want monitor", got.Mode)
	}
}

// TestChatAndFilesInHistory: chat lines and finished transfers the helper
// reports land in the session history, named by the server from the
// viewer id; a line naming an unknown viewer is refused.
func TestChatAndFilesInHistory(t *testing.T) {
	f := newSessionFixture(t)
	f.allowUnattended(t, true)
	s := f.create(t, f.tech, false)
	p := f.start(t)
	agent := f.agentConn(t, p)
	viewer, vid := f.viewerConn(t, f.tech, s.ID)
	// A technician's line is reported by the technician's own viewer; the
	// endpoint naming a viewer does not make its line the technician's.
	viewer.send(protocol.Signal{Type: protocol.SignalChat, Chat: &protocol.ChatLine{Text: "Which printer?"}})
	// One socket's messages are handled in order: the answer to a bad one
	// means the line before it is recorded.
	viewer.send(map[string]any{"type": "bogus"})
	viewer.expect(protocol.SignalError)
	agent.send(protocol.Signal{Type: protocol.SignalChat, ViewerID: vid, Chat: &protocol.ChatLine{Text: "Type your password here", From: "forged"}})
	agent.send(protocol.Signal{Type: protocol.SignalChat, Chat: &protocol.ChatLine{Text: "The one upstairs"}})
	sum := strings.Repeat("ab", 32)
	agent.send(protocol.Signal{Type: protocol.SignalFile, File: &protocol.FileRecord{Direction: protocol.FileToEndpoint, Name: "driver.zip", Size: 1234, SHA256: sum, Viewer: vid}})
	agent.send(protocol.Signal{Type: protocol.SignalFile, File: &protocol.FileRecord{Direction: "sideways", Name: "x", Size: 1, SHA256: sum}})
	agent.expect(protocol.SignalError)

	var hist struct {
		Sessions []protocol.SessionRecord `json:"sessions"`
	}
	if st := f.admin.do("GET", "/api/v1/audit/sessions", nil, &hist); st != 200 {
		t.Fatalf("history: %d %s", st, f.admin.last)
	}
	var rec *protocol.SessionRecord
	for i := range hist.Sessions {
		if hist.Sessions[i].ID == s.ID {
			rec = &hist.Sessions[i]
		}
	}
	if rec == nil {
		t.Fatalf("session %s not in the history", s.ID)
	}
	if len(rec.Chat) != 3 {
		t.Fatalf("chat %+v, want three lines", rec.Chat)
	}
	// The viewer's line and the agent's arrive on two sockets: their order
	// is the server's, so look each up.
	want := map[string]protocol.ChatLine{
		"Which printer?":          {Role: protocol.ChatTechnician, From: "tech"},
		"Type your password here": {Role: protocol.ChatUser},
		"The one upstairs":        {Role: protocol.ChatUser},
	}
	for _, c := range rec.Chat {
		w, ok := want[c.Text]
		if !ok || c.Role != w.Role || c.From != w.From {
			t.Errorf("line %+v, want role %q from %q", c, w.Role, w.From)
		}
	}
	if len(rec.Files) != 1 || rec.Files[0].Name != "driver.zip" || rec.Files[0].Size != 1234 || rec.Files[0].Technician != "tech" || rec.Files[0].SHA256 != sum {
		t.Errorf("files %+v", rec.Files)
	}
}
