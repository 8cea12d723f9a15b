package policy

import (
	"github.com/tetherdesk/tether/shared/protocol"

	"encoding/json"
	"testing"
)

func TestFromDoc(t *testing.T) {
	for _, tc := range []struct {
		name    string
		doc     string
		wantErr bool
		check   func(ScreenShare) bool
	}{
		{"empty", ``, false, func(p ScreenShare) bool {
			return p.AcceptanceRequired && p.AcceptanceTimeoutS == 30 && !p.UnattendedAllowed
		}},
		{"no screenshare key", `{"other":1}`, false, func(p ScreenShare) bool { return p.AcceptanceTimeoutS == 30 }},
		{"override keeps others", `{"screenshare":{"unattended_allowed":true}}`, false, func(p ScreenShare) bool { return p.UnattendedAllowed && p.UserMayEnd }},
		{"bad timeout", `{"screenshare":{"acceptance_timeout_s":1}}`, true, nil},
		{"bad mode", `{"screenshare":{"modes":["teleport"]}}`, true, nil},
		{"no modes", `{"screenshare":{"modes":[]}}`, true, nil},
		{"malformed", `{"screenshare":`, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := FromDoc(json.RawMessage(tc.doc))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.check != nil && !tc.check(p) {
				t.Fatalf("policy = %+v", p)
			}
		})
	}
}

func TestStartMode(t *testing.T) {
	for _, tc := range []struct {
		modes     []protocol.Mode
		requested protocol.Mode
		want      protocol.Mode
		wantErr   bool
	}{
		{[]protocol.Mode{"active", "guidance", "monitor", "chat", "file"}, "", "active", false},
		{[]protocol.Mode{"file", "monitor", "guidance"}, "", "guidance", false},
		{[]protocol.Mode{"chat", "file"}, "", "chat", false},
		{[]protocol.Mode{"monitor", "active"}, "monitor", "monitor", false},
		{[]protocol.Mode{"monitor"}, "active", "", true},
		{[]protocol.Mode{"active"}, "bogus", "", true},
	} {
		p := Default()
		p.Modes = tc.modes
		got, err := p.StartMode(tc.requested)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("modes %v requested %q: got %q, %v; want %q (err %v)", tc.modes, tc.requested, got, err, tc.want, tc.wantErr)
		}
	}
}
