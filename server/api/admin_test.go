package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// auditTypes lists the types of every audit record, oldest first.
func (e *env) auditTypes() []protocol.AuditType {
	e.t.Helper()
	rs, err := e.store.ListAudit(context.Background(), store.AuditFilter{Limit: 5000})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []protocol.AuditType
	for i := len(rs) - 1; i >= 0; i-- {
		out = append(out, rs[i].Type)
	}
	return out
}

func (e *env) userID(name string) string {
	e.t.Helper()
	u, err := e.store.UserByName(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.ID
}

func TestUserAdministration(t *testing.T) {
	e := newEnv(t)
	admin := e.user("ada", perm.RoleAdministrator)
	bob := e.user("bob", perm.RoleScreenShareAgent)
	bobID, adaID := e.userID("bob"), e.userID("ada")

	// Edit: display name and roles (with a group scope).
	if st := admin.do("POST", "/api/v1/groups", protocol.Group{Name: "Kiosks"}, nil); st != 201 {
		t.Fatalf("group: %d", st)
	}
	var u protocol.User
	dn, roles := "Bob Builder", []string{perm.RoleScreenShareAdmin + "@Kiosks", perm.RoleScreenShareAgent}
	if st := admin.do("PATCH", "/api/v1/users/"+bobID, protocol.UpdateUserRequest{DisplayName: &dn, Roles: &roles}, &u); st != 200 {
		t.Fatalf("edit bob: %d %s", st, admin.last)
	}
	slices.Sort(u.Roles)
	if u.DisplayName != dn || !slices.Equal(u.Roles, []string{perm.RoleScreenShareAdmin + "@Kiosks", perm.RoleScreenShareAgent}) {
		t.Fatalf("edited bob: %+v", u)
	}
	var me protocol.Me
	if st := bob.do("GET", "/api/v1/me", nil, &me); st != 200 || !slices.Contains(me.Permissions, string(perm.AuditRead)) {
		t.Fatalf("bob's permissions after the edit: %d %v", st, me.Permissions)
	}

	for _, c := range []struct {
		name   string
		method string
		path   string
		body   any
		want   int
		msg    string
	}{
		{"unknown role", "PATCH", "/api/v1/users/" + bobID, map[string]any{"roles": []string{"Wizard"}}, 400, "unknown role"},
		{"unknown group", "PATCH", "/api/v1/users/" + bobID, map[string]any{"roles": []string{perm.RoleScreenShareAgent + "@Nowhere"}}, 400, "unknown computer group"},
		{"no roles", "PATCH", "/api/v1/users/" + bobID, map[string]any{"roles": []string{}}, 400, "at least one role"},
		{"short password", "POST", "/api/v1/users/" + bobID + "/password", protocol.ResetPasswordRequest{Password: "short"}, 400, "at least 10"},
		{"unknown user", "PATCH", "/api/v1/users/nobody", map[string]any{"display_name": "x"}, 404, ""},
		{"disable yourself", "PATCH", "/api/v1/users/" + adaID, map[string]any{"disabled": true}, 400, "your own account"},
		{"delete yourself", "DELETE", "/api/v1/users/" + adaID, nil, 400, "your own account"},
		{"demote the last administrator", "PATCH", "/api/v1/users/" + adaID, map[string]any{"roles": []string{perm.RoleScreenShareAgent}}, 409, "no enabled administrator"},
	} {
		t.Run(c.name, func(t *testing.T) {
			admin.t = t
			if st := admin.do(c.method, c.path, c.body, nil); st != c.want || !strings.Contains(admin.apiError().Error, c.msg) {
				t.Errorf("status %d (%s), want %d with %q", st, admin.last, c.want, c.msg)
			}
		})
	}
	admin.t = t

	// Disable: bob's sign-in stops working at once; enable: he signs in again.
	yes, no := true, false
	if st := admin.do("PATCH", "/api/v1/users/"+bobID, protocol.UpdateUserRequest{Disabled: &yes}, &u); st != 200 || !u.Disabled {
		t.Fatalf("disable bob: %d %s", st, admin.last)
	}
	if st := bob.do("GET", "/api/v1/me", nil, nil); st != 401 {
		t.Fatalf("disabled bob's request: %d, want 401", st)
	}
	if st := e.client().do("POST", "/api/v1/login", protocol.LoginRequest{Name: "bob", Password: "correct horse battery"}, nil); st != 401 {
		t.Fatalf("disabled bob signs in: %d, want 401", st)
	}
	if st := admin.do("PATCH", "/api/v1/users/"+bobID, protocol.UpdateUserRequest{Disabled: &no}, nil); st != 200 {
		t.Fatalf("enable bob: %d", st)
	}

	// Reset password: the old one fails, the new one works, old sign-ins end.
	bob2 := e.client()
	if st := bob2.do("POST", "/api/v1/login", protocol.LoginRequest{Name: "bob", Password: "correct horse battery"}, nil); st != 200 {
		t.Fatalf("bob signs in again: %d", st)
	}
	if st := admin.do("POST", "/api/v1/users/"+bobID+"/password", protocol.ResetPasswordRequest{Password: "a brand new password"}, nil); st != 200 {
		t.Fatalf("reset: %d %s", st, admin.last)
	}
	if st := bob2.do("GET", "/api/v1/me", nil, nil); st != 401 {
		t.Errorf("bob's sign-in after a reset: %d, want 401", st)
	}
	if st := e.client().do("POST", "/api/v1/login", protocol.LoginRequest{Name: "bob", Password: "correct horse battery"}, nil); st != 401 {
		t.Errorf("old password after reset: %d, want 401", st)
	}
	if st := e.client().do("POST", "/api/v1/login", protocol.LoginRequest{Name: "bob", Password: "a brand new password"}, nil); st != 200 {
		t.Errorf("new password: %d, want 200", st)
	}

	// With a second administrator, ada may be demoted; then carol is the
	// last one and may be neither disabled nor deleted.
	carol := e.user("carol", perm.RoleAdministrator)
	carolID := e.userID("carol")
	agentOnly := []string{perm.RoleScreenShareAgent}
	if st := carol.do("PATCH", "/api/v1/users/"+adaID, protocol.UpdateUserRequest{Roles: &agentOnly}, nil); st != 200 {
		t.Fatalf("demote ada with carol still an administrator: %d %s", st, carol.last)
	}
	if st := admin.do("GET", "/api/v1/users", nil, nil); st != 403 {
		t.Errorf("demoted ada lists users: %d, want 403", st)
	}
	e2 := e.user("dave", perm.RoleScreenShareAgent)
	_ = e2
	if st := carol.do("DELETE", "/api/v1/users/"+e.userID("dave"), nil, nil); st != 200 {
		t.Fatalf("delete dave: %d %s", st, carol.last)
	}
	if st := e2.do("GET", "/api/v1/me", nil, nil); st != 401 {
		t.Errorf("deleted dave's sign-in: %d, want 401", st)
	}
	// A second full admin, disabled, does not count.
	e.user("erin", perm.RoleAdministrator)
	erinID := e.userID("erin")
	if st := carol.do("PATCH", "/api/v1/users/"+erinID, protocol.UpdateUserRequest{Disabled: &yes}, nil); st != 200 {
		t.Fatalf("disable erin: %d", st)
	}
	if st := carol.do("DELETE", "/api/v1/users/"+erinID, nil, nil); st != 200 {
		t.Fatalf("delete disabled erin: %d %s", st, carol.last)
	}
	_ = carolID

	// An administrator scoped to one group is not the last-admin safety net.
	e.user("fay", perm.RoleAdministrator+"@Kiosks")
	if st := carol.do("DELETE", "/api/v1/users/"+e.userID("fay"), nil, nil); st != 200 {
		t.Fatalf("delete fay: %d", st)
	}

	types := e.auditTypes()
	for _, want := range []protocol.AuditType{"user.roles", "user.changed", "user.disabled", "user.enabled", "user.password_reset", "user.deleted"} {
		if !slices.Contains(types, want) {
			t.Errorf("audit lacks %s: %v", want, types)
		}
	}
}

// A user manager who is not an administrator cannot hand out more than
// they hold.
func TestUserAdminNoEscalation(t *testing.T) {
	e := newEnv(t)
	admin := e.user("root", perm.RoleAdministrator)
	if st := admin.do("POST", "/api/v1/roles", protocol.RoleRequest{Name: "Helpdesk Lead", Permissions: []string{string(perm.UsersManage), string(perm.EndpointsView), string(perm.ScreenShareStart)}}, nil); st != 201 {
		t.Fatalf("role: %d %s", st, admin.last)
	}
	lead := e.user("lead", "Helpdesk Lead")
	if st := lead.do("POST", "/api/v1/users", protocol.CreateUserRequest{Name: "mallory", Password: "long enough password", Roles: []string{perm.RoleAdministrator}}, nil); st != 403 {
		t.Errorf("a user manager creates an administrator: %d, want 403", st)
	}
	if st := lead.do("POST", "/api/v1/users", protocol.CreateUserRequest{Name: "trudy", Password: "long enough password", Roles: []string{perm.RoleScreenShareAgent}}, nil); st != 201 {
		t.Errorf("a user manager creates an agent: %d %s", st, lead.last)
	}
	self := []string{perm.RoleAdministrator}
	if st := lead.do("PATCH", "/api/v1/users/"+e.userID("lead"), protocol.UpdateUserRequest{Roles: &self}, nil); st != 403 {
		t.Errorf("a user manager makes themselves administrator: %d, want 403", st)
	}
}

func TestRoleAdministration(t *testing.T) {
	e := newEnv(t)
	admin := e.user("root", perm.RoleAdministrator)
	var r protocol.Role
	if st := admin.do("POST", "/api/v1/roles", protocol.RoleRequest{Name: "Night Shift", Permissions: []string{string(perm.EndpointsView), string(perm.EndpointsView)}}, &r); st != 201 {
		t.Fatalf("create: %d %s", st, admin.last)
	}
	if !slices.Equal(r.Permissions, []string{string(perm.EndpointsView)}) {
		t.Errorf("permissions %v, want duplicates collapsed", r.Permissions)
	}
	night := e.user("nina", "Night Shift")
	if st := night.do("GET", "/api/v1/audit", nil, nil); st != 403 {
		t.Fatalf("nina reads the audit: %d, want 403", st)
	}
	if st := admin.do("PUT", "/api/v1/roles/Night%20Shift", protocol.RoleRequest{Permissions: []string{string(perm.EndpointsView), string(perm.AuditRead)}}, nil); st != 200 {
		t.Fatalf("edit: %d %s", st, admin.last)
	}
	if st := night.do("GET", "/api/v1/audit", nil, nil); st != 200 {
		t.Errorf("nina reads the audit after the edit: %d, want 200", st)
	}
	var list struct{ Roles []protocol.Role }
	if st := admin.do("GET", "/api/v1/roles", nil, &list); st != 200 {
		t.Fatal(st)
	}
	for _, x := range list.Roles {
		_, def := perm.DefaultRole(x.Name)
		if x.Builtin != def {
			t.Errorf("role %q builtin=%v", x.Name, x.Builtin)
		}
		if x.Name == "Night Shift" && x.Assigned != 1 {
			t.Errorf("Night Shift assigned %d times, want 1", x.Assigned)
		}
	}

	for _, c := range []struct {
		name, method, path string
		body               any
		want               int
		msg                string
	}{
		{"duplicate", "POST", "/api/v1/roles", protocol.RoleRequest{Name: "Night Shift", Permissions: []string{string(perm.EndpointsView)}}, 409, "already exists"},
		{"unknown permission", "POST", "/api/v1/roles", protocol.RoleRequest{Name: "X", Permissions: []string{"root.everything"}}, 400, "unknown permission"},
		{"no permission", "POST", "/api/v1/roles", protocol.RoleRequest{Name: "X"}, 400, "at least one permission"},
		{"at sign", "POST", "/api/v1/roles", protocol.RoleRequest{Name: "A@B", Permissions: []string{string(perm.EndpointsView)}}, 400, "without '@'"},
		{"edit built-in", "PUT", "/api/v1/roles/Administrator", protocol.RoleRequest{Permissions: []string{string(perm.EndpointsView)}}, 409, "built-in"},
		{"delete built-in", "DELETE", "/api/v1/roles/Screen%20Sharing%20Agent", nil, 409, "built-in"},
		{"rename", "PUT", "/api/v1/roles/Night%20Shift", protocol.RoleRequest{Name: "Day Shift", Permissions: []string{string(perm.EndpointsView)}}, 400, "cannot be renamed"},
		{"delete in use", "DELETE", "/api/v1/roles/Night%20Shift", nil, 409, "assigned 1 time"},
		{"delete unknown", "DELETE", "/api/v1/roles/Nope", nil, 404, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			admin.t = t
			if st := admin.do(c.method, c.path, c.body, nil); st != c.want || !strings.Contains(admin.apiError().Error, c.msg) {
				t.Errorf("status %d (%s), want %d with %q", st, admin.last, c.want, c.msg)
			}
		})
	}
	admin.t = t
	agent := []string{perm.RoleScreenShareAgent}
	if st := admin.do("PATCH", "/api/v1/users/"+e.userID("nina"), protocol.UpdateUserRequest{Roles: &agent}, nil); st != 200 {
		t.Fatal(st)
	}
	if st := admin.do("DELETE", "/api/v1/roles/Night%20Shift", nil, nil); st != 200 {
		t.Fatalf("delete unused: %d %s", st, admin.last)
	}
	types := e.auditTypes()
	for _, want := range []protocol.AuditType{"role.created", "role.changed", "role.deleted"} {
		if !slices.Contains(types, want) {
			t.Errorf("audit lacks %s", want)
		}
	}
}

func TestGroupRulesAndMembership(t *testing.T) {
	e := newEnv(t)
	admin := e.user("root", perm.RoleAdministrator)
	finID, finSecret := e.enroll("fin-laptop-7", "Default", "10.20.0.7")
	deskID, deskSecret := e.enroll("desk-1", "Default", "192.168.1.4")
	// A technician who may only act in Finance.
	if st := admin.do("POST", "/api/v1/groups", protocol.Group{Name: "Finance", Rules: []protocol.GroupRule{
		{Kind: protocol.RuleHostname, Value: "FIN-*"}, {Kind: protocol.RuleIP, Value: "10.20.0.0/16"}}, Match: protocol.MatchAll}, nil); st != 201 {
		t.Fatalf("create Finance: %d %s", st, admin.last)
	}
	tech := e.user("finn", perm.RoleScreenShareAgent+"@Finance")

	endpoint := func(id string) protocol.Endpoint {
		t.Helper()
		var ep protocol.Endpoint
		if st := admin.do("GET", "/api/v1/endpoints/"+id, nil, &ep); st != 200 {
			t.Fatalf("endpoint %s: %d", id, st)
		}
		return ep
	}
	groupsOf := func(ep protocol.Endpoint) map[string]string {
		m := map[string]string{}
		for _, g := range ep.Groups {
			m[g.Group] = strings.Join(g.Source, "+")
		}
		return m
	}
	if g := groupsOf(endpoint(finID)); g["Finance"] != "rule" || g["Default"] != "enrollment" {
		t.Fatalf("fin-laptop-7's groups: %v, want Finance by rule", g)
	}
	if g := groupsOf(endpoint(deskID)); len(g) != 1 {
		t.Fatalf("desk-1's groups: %v, want only Default", g)
	}
	if st := tech.do("GET", "/api/v1/endpoints/"+finID, nil, nil); st != 200 {
		t.Errorf("Finance technician opens fin-laptop-7: %d", st)
	}
	if st := tech.do("GET", "/api/v1/endpoints/"+deskID, nil, nil); st != 404 {
		t.Errorf("Finance technician opens desk-1: %d, want 404", st)
	}
	var found protocol.EndpointList
	tech.do("GET", "/api/v1/endpoints?q=", nil, &found)
	if len(found.Endpoints) != 1 || found.Endpoints[0].ID != finID {
		t.Errorf("Finance technician's search: %+v", found.Endpoints)
	}

	// The Finance policy reaches the endpoint in it (and only it).
	if st := admin.do("PUT", "/api/v1/policies/Finance", `{"screenshare":{"modes":["monitor"]}}`, nil); st != 200 {
		t.Fatalf("Finance policy: %d %s", st, admin.last)
	}
	pr, _ := e.poll(finSecret, protocol.PollRequest{})
	if pr.Policy == nil || !strings.Contains(string(pr.Policy.Doc), `"monitor"`) {
		t.Fatalf("fin-laptop-7's policy: %+v", pr.Policy)
	}
	finVersion := pr.Policy.Version
	dr, _ := e.poll(deskSecret, protocol.PollRequest{})
	if dr.Policy == nil || strings.Contains(string(dr.Policy.Doc), `"monitor"`) {
		t.Fatalf("desk-1's policy: %+v", dr.Policy)
	}

	// Inventory change: renamed, it leaves Finance, and gets a new policy.
	inv := protocol.Inventory{Hostname: "ops-laptop-7", IPs: []string{"10.20.0.7"}, OS: "linux", Arch: "amd64", AgentVersion: "test"}
	pr, _ = e.poll(finSecret, protocol.PollRequest{Inventory: &inv, PolicyVersion: finVersion})
	if pr.Policy == nil || strings.Contains(string(pr.Policy.Doc), `"monitor"`) {
		t.Fatalf("policy after leaving Finance: %+v", pr.Policy)
	}
	if g := groupsOf(endpoint(finID)); g["Finance"] != "" {
		t.Fatalf("renamed endpoint still in Finance: %v", g)
	}
	if st := tech.do("GET", "/api/v1/endpoints/"+finID, nil, nil); st != 404 {
		t.Errorf("Finance technician opens the renamed endpoint: %d, want 404", st)
	}

	// Manual membership.
	var ep protocol.Endpoint
	if st := admin.do("PUT", "/api/v1/endpoints/"+deskID+"/groups", protocol.EndpointGroupsRequest{Groups: []string{"Finance"}}, &ep); st != 200 {
		t.Fatalf("add desk-1 to Finance: %d %s", st, admin.last)
	}
	if g := groupsOf(ep); g["Finance"] != "manual" {
		t.Errorf("desk-1 after manual add: %v", g)
	}
	if st := admin.do("PUT", "/api/v1/endpoints/"+deskID+"/groups", protocol.EndpointGroupsRequest{Groups: []string{"Nope"}}, nil); st != 400 {
		t.Errorf("unknown group: %d", st)
	}

	// Rules on enrollment, and editing rules re-evaluates everyone.
	newID, _ := e.enroll("fin-desk-2", "Default", "10.20.5.5")
	if g := groupsOf(endpoint(newID)); g["Finance"] != "rule" {
		t.Errorf("fin-desk-2 enrolled: %v, want Finance by rule", g)
	}
	if st := admin.do("PUT", "/api/v1/groups/Finance", protocol.GroupRequest{Name: "Finance", Rules: []protocol.GroupRule{{Kind: protocol.RuleOS, Value: "windows"}}}, nil); st != 200 {
		t.Fatalf("edit rules: %d %s", st, admin.last)
	}
	if g := groupsOf(endpoint(newID)); g["Finance"] != "" {
		t.Errorf("fin-desk-2 after the rule changed to Windows: %v", g)
	}
	if g := groupsOf(endpoint(deskID)); g["Finance"] != "manual" {
		t.Errorf("manual membership lost on rule edit: %v", g)
	}

	// Bad rules are refused with a reason.
	for _, c := range []struct {
		rule protocol.GroupRule
		msg  string
	}{
		{protocol.GroupRule{Kind: protocol.RuleIP, Value: "10.0.0.0/99"}, "CIDR"},
		{protocol.GroupRule{Kind: protocol.RuleOS, Value: "beos"}, "linux, windows or darwin"},
		{protocol.GroupRule{Kind: protocol.RuleHostname, Value: "[a"}, "pattern"},
		{protocol.GroupRule{Kind: protocol.RuleToken, Value: "nope"}, "no enrollment token"},
		{protocol.GroupRule{Kind: "colour", Value: "red"}, "kind must be"},
	} {
		if st := admin.do("PUT", "/api/v1/groups/Finance", protocol.GroupRequest{Name: "Finance", Rules: []protocol.GroupRule{c.rule}}, nil); st != 400 || !strings.Contains(admin.apiError().Error, c.msg) {
			t.Errorf("rule %+v: %d %s, want 400 with %q", c.rule, st, admin.last, c.msg)
		}
	}

	// Token rule: endpoints enrolled with that token join.
	tok, err := e.svc.IssueEnrollmentToken(context.Background(), protocol.CreateTokenRequest{}, "test", false)
	if err != nil {
		t.Fatal(err)
	}
	if st := admin.do("POST", "/api/v1/groups", protocol.Group{Name: "Via Token", Rules: []protocol.GroupRule{{Kind: protocol.RuleToken, Value: tok.ID}}}, nil); st != 201 {
		t.Fatalf("token group: %d %s", st, admin.last)
	}
	var resp protocol.EnrollResponse
	if st := e.client().do("POST", protocol.PathEnroll, protocol.EnrollRequest{Token: tok.Token, Protocol: protocol.Version,
		Inventory: protocol.Inventory{Hostname: "tok-pc", OS: "linux"}}, &resp); st != 201 {
		t.Fatal(st)
	}
	if g := groupsOf(endpoint(resp.AgentID)); g["Via Token"] != "rule" {
		t.Errorf("tok-pc: %v, want Via Token by rule", g)
	}

	// The list shows rules and member counts to group managers.
	var gl struct{ Groups []protocol.Group }
	admin.do("GET", "/api/v1/groups", nil, &gl)
	for _, g := range gl.Groups {
		if g.Name == "Finance" && (g.Members == nil || *g.Members != 1 || len(g.Rules) != 1) {
			b, _ := json.Marshal(g)
			t.Errorf("Finance in the list: %s", b)
		}
	}

	// Delete: refused while a scoped role uses it, then allowed; the
	// Default group never.
	if st := admin.do("DELETE", "/api/v1/groups/Finance", nil, nil); st != 409 || !strings.Contains(admin.apiError().Error, "role assignment") {
		t.Errorf("delete Finance with finn scoped to it: %d %s", st, admin.last)
	}
	agent := []string{perm.RoleScreenShareAgent}
	admin.do("PATCH", "/api/v1/users/"+e.userID("finn"), protocol.UpdateUserRequest{Roles: &agent}, nil)
	if st := admin.do("DELETE", "/api/v1/groups/Finance", nil, nil); st != 200 {
		t.Errorf("delete Finance: %d %s", st, admin.last)
	}
	if g := groupsOf(endpoint(deskID)); len(g) != 1 {
		t.Errorf("desk-1 after Finance was deleted: %v", g)
	}
	if st := admin.do("DELETE", "/api/v1/groups/Default", nil, nil); st != 409 {
		t.Errorf("delete Default: %d", st)
	}
	if st := admin.do("PUT", "/api/v1/groups/Default", protocol.GroupRequest{Name: "Other"}, nil); st != 400 {
		t.Errorf("rename Default: %d", st)
	}
	types := e.auditTypes()
	for _, want := range []protocol.AuditType{"group.created", "group.changed", "group.deleted", "agent.groups"} {
		if !slices.Contains(types, want) {
			t.Errorf("audit lacks %s", want)
		}
	}
}

// The Open Screen Share dialog offers the modes the endpoint's policy
// enables; the server refuses one it disables.
func TestSessionModeChoice(t *testing.T) {
	e := newEnv(t)
	admin := e.user("root", perm.RoleAdministrator)
	epID, secret := e.enroll("mode-pc", "Default")
	if st := admin.do("PUT", "/api/v1/policies/global", `{"screenshare":{"modes":["guidance","monitor","chat"]}}`, nil); st != 200 {
		t.Fatal(st)
	}
	e.poll(secret, protocol.PollRequest{}) // online
	var ep protocol.Endpoint
	admin.do("GET", "/api/v1/endpoints/"+epID, nil, &ep)
	if ep.ScreenShare == nil || !slices.Equal(ep.ScreenShare.Modes, []protocol.Mode{protocol.ModeGuidance, protocol.ModeMonitor}) {
		t.Fatalf("endpoint screen-share info: %+v", ep.ScreenShare)
	}
	cases := []struct {
		mode     protocol.Mode
		want     int
		wantMode protocol.Mode
	}{
		{protocol.ModeActive, http.StatusBadRequest, ""},
		{protocol.ModeMonitor, http.StatusCreated, protocol.ModeMonitor},
		{"", http.StatusCreated, protocol.ModeGuidance},
		{"teleport", http.StatusBadRequest, ""},
	}
	for _, c := range cases {
		var ss protocol.Session
		st := admin.do("POST", "/api/v1/sessions", protocol.CreateSessionRequest{EndpointID: epID, Attended: true, Mode: c.mode}, &ss)
		if st != c.want {
			t.Errorf("mode %q: %d %s, want %d", c.mode, st, admin.last, c.want)
			continue
		}
		if st == 400 && !strings.Contains(admin.apiError().Error, "not enabled by policy") {
			t.Errorf("mode %q: message %q", c.mode, admin.apiError().Error)
		}
		if st == 201 {
			if ss.Mode != c.wantMode {
				t.Errorf("mode %q: session mode %q, want %q", c.mode, ss.Mode, c.wantMode)
			}
			admin.do("POST", "/api/v1/sessions/"+ss.ID+"/end", map[string]any{}, nil)
		}
	}
}

// TestUsersReadChangesNothing: users.read over every group with
// users.manage over one group only lets a caller see every user, but
// change (or reset the password of) only those whose roles all lie in the
// group it manages: seeing is not managing.
func TestUsersReadChangesNothing(t *testing.T) {
	e := newEnv(t)
	admin := e.user("root", perm.RoleAdministrator)
	if st := admin.do("POST", "/api/v1/groups", protocol.Group{Name: "Kiosks"}, nil); st != 201 {
		t.Fatalf("group: %d", st)
	}
	for _, r := range []protocol.RoleRequest{
		{Name: "User Reader", Permissions: []string{string(perm.UsersRead)}},
		{Name: "Kiosk User Manager", Permissions: []string{string(perm.UsersManage), string(perm.EndpointsView)}},
	} {
		if st := admin.do("POST", "/api/v1/roles", r, nil); st != 201 {
			t.Fatalf("role %s: %d %s", r.Name, st, admin.last)
		}
	}
	mixed := e.user("mixed", "User Reader", "Kiosk User Manager@Kiosks")
	e.user("viewer", perm.RoleNotifyReadOnly)
	e.user("reader", "User Reader") // holds nothing mixed lacks
	e.user("kiosk", "Kiosk User Manager@Kiosks")

	var us struct {
		Users []protocol.User `json:"users"`
	}
	if st := mixed.do("GET", "/api/v1/users", nil, &us); st != 200 {
		t.Fatalf("list: %d %s", st, mixed.last)
	}
	seen := map[string]bool{}
	for _, u := range us.Users {
		seen[u.Name] = true
	}
	if !seen["root"] || !seen["viewer"] || !seen["reader"] || !seen["kiosk"] {
		t.Errorf("users.read over every group lists %v", seen)
	}
	dn := "renamed"
	if st := mixed.do("PATCH", "/api/v1/users/"+e.userID("viewer"), protocol.UpdateUserRequest{DisplayName: &dn}, nil); st != 403 {
		t.Errorf("changing a user with a role over every group: %d, want 403", st)
	}
	if st := mixed.do("PATCH", "/api/v1/users/"+e.userID("reader"), protocol.UpdateUserRequest{DisplayName: &dn}, nil); st != 403 {
		t.Errorf("changing a user outside the managed group whose permissions the caller holds: %d, want 403", st)
	}
	if st := mixed.do("POST", "/api/v1/users/"+e.userID("root")+"/password", protocol.ResetPasswordRequest{Password: "another long password"}, nil); st != 403 {
		t.Errorf("resetting the administrator's password: %d, want 403", st)
	}
	if st := mixed.do("PATCH", "/api/v1/users/"+e.userID("kiosk"), protocol.UpdateUserRequest{DisplayName: &dn}, nil); st != 200 {
		t.Errorf("changing a user scoped to the managed group: %d %s, want 200", st, mixed.last)
	}
}

// TestLastAdminTwoNodes: two administrators demote each other at once,
// each through another server node of one PostgreSQL store: the
// last-administrator rule holds across nodes, so one enabled
// administrator is always left.
func TestLastAdminTwoNodes(t *testing.T) {
	e, _, node2 := twoNodes(t)
	for round := range 5 {
		a, b := fmt.Sprintf("ada%d", round), fmt.Sprintf("bob%d", round)
		ada := e.user(a, perm.RoleAdministrator)
		e.user(b, perm.RoleAdministrator)
		bob := e.client()
		bob.base = node2
		var me protocol.Me
		if st := bob.do("POST", "/api/v1/login", protocol.LoginRequest{Name: b, Password: "correct horse battery"}, &me); st != 200 {
			t.Fatalf("login %s on node 2: %d", b, st)
		}
		bob.csrf = me.CSRFToken
		var list struct {
			Users []protocol.User `json:"users"`
		}
		mustDo(t, ada, "GET", "/api/v1/users", nil, &list, 200)
		users := list.Users
		ids := map[string]string{}
		for _, u := range users {
			ids[u.Name] = u.ID
		}
		demote := map[string]any{"roles": []string{perm.RoleScreenShareAgent}}
		// The last round's survivor steps down: each of the two would be
		// the last administrator.
		for _, u := range users {
			if u.Name != a && u.Name != b && slices.Contains(u.Roles, perm.RoleAdministrator) {
				if st := ada.do("PATCH", "/api/v1/users/"+u.ID, demote, nil); st != 200 {
					t.Fatalf("demoting %s: %d", u.Name, st)
				}
			}
		}
		var wg sync.WaitGroup
		var stA, stB int
		wg.Go(func() { stA = ada.do("PATCH", "/api/v1/users/"+ids[b], demote, nil) })
		wg.Go(func() { stB = bob.do("PATCH", "/api/v1/users/"+ids[a], demote, nil) })
		wg.Wait()
		if stA == 200 && stB == 200 {
			t.Fatalf("round %d: both demotions went through: no administrator left", round)
		}
		if stA != 200 && stB != 200 {
			t.Errorf("round %d: neither demotion went through (%d, %d)", round, stA, stB)
		}
	}
}
