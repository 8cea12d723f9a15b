package storetest

import (
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/store"
)

func testUserAdmin(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ursula")
	other := mustUser(t, s, "otto")
	noErr(t, "set roles", s.SetRoles(ctx, u.ID, []store.RoleAssignment{{Role: "Administrator"}}))
	noErr(t, "web session", s.CreateWebSession(ctx, store.WebSession{ID: "ws-u", UserID: u.ID, CSRFToken: "c", Expires: time.Now().Add(time.Hour)}))
	noErr(t, "web session of otto", s.CreateWebSession(ctx, store.WebSession{ID: "ws-o", UserID: other.ID, CSRFToken: "c", Expires: time.Now().Add(time.Hour)}))
	_, err := s.CreateAPIToken(ctx, store.APIToken{UserID: u.ID, Name: "auto", Hash: "h-u"})
	noErr(t, "api token", err)

	u.DisplayName, u.Disabled = "Ursula K.", true
	noErr(t, "update user", s.UpdateUser(ctx, u))
	got, err := s.UserByID(ctx, u.ID)
	noErr(t, "read back", err)
	equal(t, "updated user", got, u)
	wantErr(t, "update unknown user", s.UpdateUser(ctx, store.User{ID: "nobody"}), store.ErrNotFound)

	noErr(t, "web session to keep", s.CreateWebSession(ctx, store.WebSession{ID: "ws-u2", UserID: u.ID, CSRFToken: "c", Expires: time.Now().Add(time.Hour)}))
	noErr(t, "sign out everywhere else", s.DeleteUserWebSessions(ctx, u.ID, "ws-u2"))
	_, err = s.WebSession(ctx, "ws-u")
	wantErr(t, "ursula's web session", err, store.ErrNotFound)
	_, err = s.WebSession(ctx, "ws-u2")
	noErr(t, "the web session kept", err)
	noErr(t, "sign out everywhere", s.DeleteUserWebSessions(ctx, u.ID, ""))
	_, err = s.WebSession(ctx, "ws-u2")
	wantErr(t, "ursula's other web session", err, store.ErrNotFound)
	_, err = s.WebSession(ctx, "ws-o")
	noErr(t, "otto keeps his web session", err)

	counts, err := s.RoleAssignmentCounts(ctx)
	noErr(t, "role counts", err)
	equal(t, "assignments of Administrator", counts["Administrator"], 1)

	noErr(t, "delete user", s.DeleteUser(ctx, u.ID))
	_, err = s.UserByID(ctx, u.ID)
	wantErr(t, "deleted user", err, store.ErrNotFound)
	rs, err := s.RolesOf(ctx, u.ID)
	noErr(t, "roles of deleted user", err)
	equal(t, "roles of deleted user", len(rs), 0)
	_, err = s.APITokenByHash(ctx, "h-u")
	wantErr(t, "API token of deleted user", err, store.ErrNotFound)
	wantErr(t, "delete again", s.DeleteUser(ctx, u.ID), store.ErrNotFound)
	counts, err = s.RoleAssignmentCounts(ctx)
	noErr(t, "role counts after delete", err)
	equal(t, "assignments of Administrator after delete", counts["Administrator"], 0)
}

func testRoleDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	noErr(t, "custom role", s.UpsertRole(ctx, store.Role{Name: "Night Shift", Permissions: []string{"endpoints.view"}}))
	u := mustUser(t, s, "nina")
	noErr(t, "assign", s.SetRoles(ctx, u.ID, []store.RoleAssignment{{Role: "Night Shift"}}))
	wantErr(t, "delete an assigned role", s.DeleteRole(ctx, "Night Shift"), store.ErrConflict)
	noErr(t, "unassign", s.SetRoles(ctx, u.ID, nil))
	noErr(t, "delete", s.DeleteRole(ctx, "Night Shift"))
	_, err := s.Role(ctx, "Night Shift")
	wantErr(t, "deleted role", err, store.ErrNotFound)
	wantErr(t, "delete unknown role", s.DeleteRole(ctx, "Night Shift"), store.ErrNotFound)
}

func testGroupAdmin(t *testing.T, s store.Store) {
	ctx := t.Context()
	g := mustGroup(t, s, "Servers")
	g.Name = "Linux Servers"
	g.Rules = store.GroupRules{Match: "all", Rules: []store.GroupRule{{Kind: "hostname", Value: "srv-*"}, {Kind: "os", Value: "linux"}}}
	noErr(t, "update group", s.UpdateGroup(ctx, g))
	got, err := s.GroupByID(ctx, g.ID)
	noErr(t, "read back", err)
	equal(t, "updated group", got, g)
	byName, err := s.GroupByName(ctx, "Linux Servers")
	noErr(t, "by new name", err)
	equal(t, "group by name", byName, g)
	other := mustGroup(t, s, "Kiosks")
	wantErr(t, "rename onto another group", s.UpdateGroup(ctx, store.Group{ID: other.ID, Name: "Linux Servers"}), store.ErrConflict)
	wantErr(t, "update unknown group", s.UpdateGroup(ctx, store.Group{ID: "nope", Name: "x"}), store.ErrNotFound)

	// Memberships: by rule and by hand, and the group filters that use them.
	a := mustAgent(t, s, store.DefaultGroup, "srv-1", "10.0.0.1")
	b := mustAgent(t, s, store.DefaultGroup, "desk-1", "10.0.0.2")
	c := mustAgent(t, s, other.ID, "kiosk-1", "10.0.0.3")
	noErr(t, "rule groups", s.SetAgentRuleGroups(ctx, a.ID, []string{g.ID, "no-such-group", g.ID}))
	noErr(t, "manual groups", s.SetAgentManualGroups(ctx, b.ID, []string{g.ID}))
	wantErr(t, "manual group that does not exist", s.SetAgentManualGroups(ctx, b.ID, []string{"no-such-group"}), store.ErrNotFound)
	wantErr(t, "groups of an unknown agent", s.SetAgentRuleGroups(ctx, "nope", nil), store.ErrNotFound)
	ga, err := s.AgentByID(ctx, a.ID)
	noErr(t, "agent a", err)
	equal(t, "rule groups of a", ga.RuleGroups, []string{g.ID})
	equal(t, "all groups of a", ga.Groups(), []string{store.DefaultGroup, g.ID})
	gb, err := s.AgentByID(ctx, b.ID)
	noErr(t, "agent b", err)
	equal(t, "manual groups of b", gb.ManualGroups, []string{g.ID})

	hosts := func(f store.AgentFilter) []string {
		t.Helper()
		as, err := s.SearchAgents(ctx, f)
		noErr(t, "search", err)
		return each(as, func(a store.Agent) string { return a.Hostname })
	}
	equal(t, "members of Linux Servers", hosts(store.AgentFilter{GroupIDs: []string{g.ID}}), []string{"desk-1", "srv-1"})
	equal(t, "members of Kiosks", hosts(store.AgentFilter{GroupIDs: []string{other.ID}}), []string{"kiosk-1"})
	equal(t, "members of Default", hosts(store.AgentFilter{GroupIDs: []string{store.DefaultGroup}}), []string{"desk-1", "srv-1"})

	// Sessions of endpoints that belong to a group by rule are in its scope.
	_, err = s.CreateSession(ctx, store.ScreenSession{AgentID: a.ID, TechnicianID: "t", State: "requested", AgentTokenHash: "tok-a", Created: t0})
	noErr(t, "session on a", err)
	_, err = s.CreateSession(ctx, store.ScreenSession{AgentID: c.ID, TechnicianID: "t", State: "requested", AgentTokenHash: "tok-c", Created: t0})
	noErr(t, "session on c", err)
	ss, err := s.ListSessions(ctx, store.SessionFilter{GroupIDs: []string{g.ID}})
	noErr(t, "sessions of Linux Servers", err)
	if len(ss) != 1 || ss[0].AgentID != a.ID {
		t.Fatalf("sessions in Linux Servers: %+v, want the one on srv-1", ss)
	}

	// Paging through every agent.
	page1, err := s.ListAgents(ctx, "", 2)
	noErr(t, "list agents", err)
	page2, err := s.ListAgents(ctx, page1[len(page1)-1].ID, 2)
	noErr(t, "list agents page 2", err)
	equal(t, "agents listed", len(page1)+len(page2), 3)

	// Deleting: refused while in use, then memberships and policy go.
	wantErr(t, "delete Default", s.DeleteGroup(ctx, store.DefaultGroup), store.ErrConflict)
	wantErr(t, "delete a group endpoints were enrolled into", s.DeleteGroup(ctx, other.ID), store.ErrConflict)
	tok, err := s.CreateEnrollmentToken(ctx, store.EnrollmentToken{Hash: "enroll-g", GroupID: g.ID, CreatedBy: "t"})
	noErr(t, "token", err)
	wantErr(t, "delete a group with a live token", s.DeleteGroup(ctx, g.ID), store.ErrConflict)
	noErr(t, "revoke token", s.RevokeEnrollmentToken(ctx, tok.ID, t0))
	u := mustUser(t, s, "scoped")
	noErr(t, "scoped role", s.SetRoles(ctx, u.ID, []store.RoleAssignment{{Role: "Administrator", GroupID: g.ID}}))
	wantErr(t, "delete a group with a scoped role", s.DeleteGroup(ctx, g.ID), store.ErrConflict)
	noErr(t, "unscope", s.SetRoles(ctx, u.ID, nil))
	_, err = s.PutPolicy(ctx, g.ID, []byte(`{"x":1}`), t0)
	noErr(t, "policy", err)
	noErr(t, "delete group", s.DeleteGroup(ctx, g.ID))
	_, err = s.GroupByID(ctx, g.ID)
	wantErr(t, "deleted group", err, store.ErrNotFound)
	_, err = s.Policy(ctx, g.ID)
	wantErr(t, "policy of deleted group", err, store.ErrNotFound)
	ga, err = s.AgentByID(ctx, a.ID)
	noErr(t, "agent a after delete", err)
	equal(t, "groups of a after delete", ga.Groups(), []string{store.DefaultGroup})
	gb, err = s.AgentByID(ctx, b.ID)
	noErr(t, "agent b after delete", err)
	equal(t, "manual groups of b after delete", len(gb.ManualGroups), 0)
	wantErr(t, "delete again", s.DeleteGroup(ctx, g.ID), store.ErrNotFound)

	// The enrollment token id is kept.
	d, err := s.CreateAgent(ctx, store.Agent{GroupID: store.DefaultGroup, SecretHash: "sec-d", Hostname: "d", EnrollTokenID: "tok-1", Enrolled: t0})
	noErr(t, "agent with token id", err)
	gd, err := s.AgentByID(ctx, d.ID)
	noErr(t, "agent d", err)
	equal(t, "enroll token id", gd.EnrollTokenID, "tok-1")
}

func testConnectionCodes(t *testing.T, s store.Store) {
	ctx := t.Context()
	c, err := s.CreateCode(ctx, store.ConnectionCode{CodeHash: "h1", TechnicianID: "u1", TechnicianName: "tara", State: "waiting", Created: t0, Expires: t0.Add(15 * time.Minute)})
	noErr(t, "create code", err)
	checkID(t, "code id", c.ID)
	_, err = s.CreateCode(ctx, store.ConnectionCode{CodeHash: "h1", TechnicianID: "u2", State: "waiting", Created: t0, Expires: t0})
	wantErr(t, "a taken hash", err, store.ErrConflict)
	got, err := s.CodeByHash(ctx, "h1")
	noErr(t, "by hash", err)
	equal(t, "code by hash", got, c)
	_, err = s.CodeByHash(ctx, "h2")
	wantErr(t, "unknown hash", err, store.ErrNotFound)

	// Request New: a new hash; the old one is gone.
	c.CodeHash, c.Expires = "h2", t0.Add(20*time.Minute)
	noErr(t, "renew", s.UpdateCode(ctx, c, "waiting"))
	_, err = s.CodeByHash(ctx, "h1")
	wantErr(t, "old hash after renew", err, store.ErrNotFound)
	// Single use: only the first compare-and-set from waiting wins.
	used := c
	at := t0.Add(time.Minute)
	used.State, used.AgentID, used.Used = "used", "a1", &at
	noErr(t, "use", s.UpdateCode(ctx, used, "waiting"))
	wantErr(t, "use twice", s.UpdateCode(ctx, used, "waiting"), store.ErrConflict)
	used.SessionID = "s1"
	noErr(t, "record the session", s.UpdateCode(ctx, used, "used"))
	got, err = s.CodeByID(ctx, c.ID)
	noErr(t, "by id", err)
	equal(t, "used code", got, used)
	wantErr(t, "unknown id", s.UpdateCode(ctx, store.ConnectionCode{ID: "nope", Expires: t0}, "waiting"), store.ErrNotFound)
}
