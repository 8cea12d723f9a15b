package perm

import (
	"strings"
	"testing"
)

// TestToolsOnlyForAdministrators: of the default roles only Administrator
// holds a support-tools permission, and it holds them all.
func TestToolsOnlyForAdministrators(t *testing.T) {
	var tools []Permission
	for _, p := range All {
		if strings.HasPrefix(string(p), "tools.") {
			tools = append(tools, p)
		}
	}
	if len(tools) != 6 {
		t.Fatalf("tools permissions %v, want 6", tools)
	}
	for _, r := range DefaultRoles() {
		for _, p := range tools {
			if r.Has(p) != (r.Name == RoleAdministrator) {
				t.Errorf("role %q: has %s = %v", r.Name, p, r.Has(p))
			}
		}
	}
	for _, p := range tools {
		if !Valid(p) {
			t.Errorf("%s is not valid", p)
		}
	}
}
