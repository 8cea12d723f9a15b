package policy

import (
	"github.com/tetherdesk/tether/shared/protocol"

	"encoding/json"
	"fmt"
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
		{"outage limit", `{"screenshare":{"outage_limit_s":120}}`, false, func(p ScreenShare) bool { return p.OutageLimitS == 120 }},
		{"outage limit too short", `{"screenshare":{"outage_limit_s":2}}`, true, nil},
		{"bad mode", `{"screenshare":{"modes":["teleport"]}}`, true, nil},
		{"no modes", `{"screenshare":{"modes":[]}}`, true, nil},
		{"tools ask and need a user by default", ``, false, func(p ScreenShare) bool {
			return p.ToolsAcceptanceRequired && !p.ToolsWithoutUser
		}},
		{"tools without asking", `{"screenshare":{"tools_acceptance_required":false,"tools_without_user":true}}`, false, func(p ScreenShare) bool {
			return !p.ToolsAcceptanceRequired && p.ToolsWithoutUser && p.AcceptanceRequired
		}},
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

func TestUpdateFromDoc(t *testing.T) {
	tests := []struct {
		doc     string
		want    AgentUpdate
		wantErr bool
	}{
		{``, AgentUpdate{}, false},
		{`{}`, AgentUpdate{}, false},
		{`{"agent_update":{"version":"v1.2.0","percent":100}}`, AgentUpdate{Version: "v1.2.0", Percent: 100}, false},
		{`{"agent_update":{"version":"v1.2.0","percent":101}}`, AgentUpdate{}, true},
		{`{"agent_update":{"version":"../x","percent":10}}`, AgentUpdate{}, true},
		{`{"agent_update":"v1"}`, AgentUpdate{}, true},
	}
	for _, tc := range tests {
		got, err := UpdateFromDoc(json.RawMessage(tc.doc))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("UpdateFromDoc(%s) = %+v, %v", tc.doc, got, err)
		}
		if _, err := FromDoc(json.RawMessage(tc.doc)); (err != nil) != tc.wantErr {
			t.Errorf("FromDoc(%s) does not check agent_update: %v", tc.doc, err)
		}
	}
}

// TestUpdateCovers: about the percent of agents are covered, and an agent
// covered at 10 % stays covered at 50 %.
func TestUpdateCovers(t *testing.T) {
	n10, n50 := 0, 0
	for i := range 2000 {
		id := fmt.Sprintf("agent-%d", i)
		a, b := AgentUpdate{"v2", 10}.Covers(id), AgentUpdate{"v2", 50}.Covers(id)
		if a && !b {
			t.Fatalf("%s covered at 10 %% but not at 50 %%", id)
		}
		if a {
			n10++
		}
		if b {
			n50++
		}
	}
	if n10 < 120 || n10 > 280 || n50 < 880 || n50 > 1120 {
		t.Errorf("covered %d at 10 %% and %d at 50 %% of 2000", n10, n50)
	}
	if (AgentUpdate{"v2", 0}).Covers("x") || (AgentUpdate{"", 100}).Covers("x") || !(AgentUpdate{"v2", 100}).Covers("x") {
		t.Error("0 % or no version covers, or 100 % does not")
	}
}

// FuzzUpdateFromDoc: any document is decoded or refused, never a panic, and
// what is accepted is within bounds.
func FuzzUpdateFromDoc(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"agent_update":{"version":"v1.2.0","percent":100}}`, `{"agent_update":null}`, `{"agent_update":{"percent":-1}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		u, err := UpdateFromDoc(doc)
		if err != nil {
			return
		}
		if u.Percent < 0 || u.Percent > 100 || (u.Version != "" && !updateVersionRE.MatchString(u.Version)) {
			t.Fatalf("accepted %+v from %q", u, doc)
		}
	})
}
