package core

import (
	"testing"

	"github.com/tetherdesk/tether/shared/perm"
)

// TestPrincipalScope: a grant scoped to a group covers that group only;
// an unscoped one covers every group.
func TestPrincipalScope(t *testing.T) {
	p := &Principal{grants: map[perm.Permission][]string{
		perm.EndpointsView:    {"G1", "G2"},
		perm.ScreenShareStart: {""},
	}}
	for _, tc := range []struct {
		pm     perm.Permission
		group  string
		in     bool
		global bool
	}{
		{perm.EndpointsView, "G1", true, false},
		{perm.EndpointsView, "G3", false, false},
		{perm.ScreenShareStart, "G3", true, true},
		{perm.UsersManage, "G1", false, false},
	} {
		if got := p.CanIn(tc.pm, tc.group); got != tc.in {
			t.Errorf("CanIn(%s, %s) = %v", tc.pm, tc.group, got)
		}
		if got := p.Global(tc.pm); got != tc.global {
			t.Errorf("Global(%s) = %v", tc.pm, got)
		}
	}
	if !p.CanInAny(perm.EndpointsView, []string{"G9", "G2"}) || p.CanInAny(perm.EndpointsView, []string{"G9"}) {
		t.Error("CanInAny: an endpoint is in scope through any of its groups, and only then")
	}
	if gs := p.GroupsFor(perm.EndpointsView); len(gs) != 2 {
		t.Errorf("groupsFor scoped = %v", gs)
	}
	if gs := p.GroupsFor(perm.ScreenShareStart); gs != nil {
		t.Errorf("groupsFor unscoped = %v, want nil (every group)", gs)
	}
	var none *Principal
	if none.Can(perm.EndpointsView) || none.CanIn(perm.EndpointsView, "G1") {
		t.Error("a nil principal holds nothing")
	}
}
