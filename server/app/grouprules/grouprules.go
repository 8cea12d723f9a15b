// Package grouprules decides which endpoints join a computer group by its
// membership rules (hostname glob, IP prefix, OS, enrollment token; any
// or all of them).
package grouprules

import (
	"net/netip"
	"path"
	"strings"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/protocol"
)

// RuleMatches tests one rule against an endpoint's inventory.
func RuleMatches(r store.GroupRule, a store.Agent) bool {
	switch r.Kind {
	case protocol.RuleHostname:
		ok, _ := path.Match(r.Value, strings.ToLower(a.Hostname))
		return ok
	case protocol.RuleIP:
		p, err := netip.ParsePrefix(r.Value)
		if err != nil {
			return false
		}
		for _, ip := range a.IPs {
			if addr, err := netip.ParseAddr(ip); err == nil && p.Contains(addr.Unmap()) {
				return true
			}
		}
		return false
	case protocol.RuleOS:
		return strings.EqualFold(a.OS, r.Value)
	case protocol.RuleToken:
		return a.EnrollTokenID != "" && a.EnrollTokenID == r.Value
	}
	return false
}

// Matches reports whether an endpoint joins g by its rules; a group
// without rules has members only by enrollment and by hand.
func Matches(g store.Group, a store.Agent) bool {
	if len(g.Rules.Rules) == 0 {
		return false
	}
	all := g.Rules.Match == protocol.MatchAll
	for _, r := range g.Rules.Rules {
		m := RuleMatches(r, a)
		if all && !m {
			return false
		}
		if !all && m {
			return true
		}
	}
	return all
}

// Describe says a group's rules in words, for the audit log.
func Describe(r store.GroupRules) string {
	if len(r.Rules) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(r.Rules))
	for _, x := range r.Rules {
		parts = append(parts, x.Kind+" "+x.Value)
	}
	sep := " or "
	if r.Match == protocol.MatchAll {
		sep = " and "
	}
	return strings.Join(parts, sep)
}
