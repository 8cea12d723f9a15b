package grouprules

import (
	"testing"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/protocol"
)

// TestGroupMatches: rules by hostname glob, IP prefix, OS and enrollment
// token, any or all of them.
func TestGroupMatches(t *testing.T) {
	a := store.Agent{Hostname: "Desk-042", IPs: []string{"10.1.2.3", "::ffff:192.168.7.9"}, OS: "linux", EnrollTokenID: "tok1"}
	rule := func(kind, value string) store.GroupRule { return store.GroupRule{Kind: kind, Value: value} }
	group := func(match string, rs ...store.GroupRule) store.Group {
		return store.Group{Rules: store.GroupRules{Match: match, Rules: rs}}
	}
	for _, tc := range []struct {
		name string
		g    store.Group
		want bool
	}{
		{"no rules: none by rule", group(""), false},
		{"hostname glob, case-insensitive", group("", rule(protocol.RuleHostname, "desk-*")), true},
		{"hostname other", group("", rule(protocol.RuleHostname, "kiosk-*")), false},
		{"IP prefix", group("", rule(protocol.RuleIP, "10.1.0.0/16")), true},
		{"IPv4-mapped address", group("", rule(protocol.RuleIP, "192.168.7.0/24")), true},
		{"bad prefix matches nothing", group("", rule(protocol.RuleIP, "10.1.2.3")), false},
		{"OS", group("", rule(protocol.RuleOS, "Linux")), true},
		{"token", group("", rule(protocol.RuleToken, "tok1")), true},
		{"any: one of two", group(protocol.MatchAny, rule(protocol.RuleOS, "windows"), rule(protocol.RuleToken, "tok1")), true},
		{"all: one of two fails", group(protocol.MatchAll, rule(protocol.RuleOS, "windows"), rule(protocol.RuleToken, "tok1")), false},
		{"all: both", group(protocol.MatchAll, rule(protocol.RuleOS, "linux"), rule(protocol.RuleToken, "tok1")), true},
	} {
		if got := Matches(tc.g, a); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
