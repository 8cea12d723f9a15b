package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
)

func testSeed(t *testing.T, s store.Store) {
	ctx := t.Context()
	noErr(t, "ping", s.Ping(ctx))

	g, err := s.GroupByName(ctx, store.DefaultGroup)
	noErr(t, "default group by name", err)
	g2, err := s.GroupByID(ctx, g.ID)
	noErr(t, "default group by id", err)
	equal(t, "default group", g2, g)
	gs, err := s.ListGroups(ctx)
	noErr(t, "list groups", err)
	equal(t, "groups", gs, []store.Group{g})

	var want []store.Role
	for _, r := range perm.DefaultRoles() {
		var ps []string
		for _, p := range r.Permissions {
			ps = append(ps, string(p))
		}
		want = append(want, store.Role{Name: r.Name, Permissions: ps})
		got, err := s.Role(ctx, r.Name)
		noErr(t, "role "+r.Name, err)
		equal(t, "role "+r.Name, got, store.Role{Name: r.Name, Permissions: ps})
	}
	slices.SortFunc(want, func(a, b store.Role) int { return strings.Compare(a.Name, b.Name) })
	roles, err := s.ListRoles(ctx)
	noErr(t, "list roles", err)
	equal(t, "roles", roles, want)

	p, err := s.Policy(ctx, "")
	noErr(t, "global policy", err)
	if p.Version != 1 || string(p.Doc) != "{}" || p.GroupID != "" {
		t.Fatalf("global policy = %+v, want version 1 doc {}", p)
	}

	n, err := s.CountUsers(ctx)
	noErr(t, "count users", err)
	equal(t, "users in a new store", n, 0)
	us, err := s.ListUsers(ctx)
	noErr(t, "list users", err)
	equal(t, "users in a new store", len(us), 0)
	check, err := s.VerifyAudit(ctx)
	noErr(t, "verify empty audit", err)
	equal(t, "verify empty audit", check, store.AuditCheck{})
}

// testTimes checks the time contract: stored UTC, returned UTC, at least
// microsecond precision, whatever zone the caller used.
func testTimes(t *testing.T, s store.Store) {
	ctx := t.Context()
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	in := time.Date(2025, 6, 30, 23, 59, 59, 987654321, zone)
	want := in.UTC().Truncate(time.Microsecond)

	u, err := s.CreateUser(ctx, store.User{Name: "zoned", PasswordHash: "h", Created: in})
	noErr(t, "create user", err)
	got, err := s.UserByID(ctx, u.ID)
	noErr(t, "user by id", err)
	// At least microsecond precision: the stored value is within 1µs.
	if d := got.Created.Sub(in); d < -time.Microsecond || d > time.Microsecond || got.Created.Location() != time.UTC {
		t.Fatalf("created = %s (%s), want %s UTC", got.Created, got.Created.Location(), want)
	}
	equal(t, "returned equals stored", got, u)

	// Zero times are filled with now.
	before := time.Now().Add(-time.Second)
	u2, err := s.CreateUser(ctx, store.User{Name: "now", PasswordHash: "h"})
	noErr(t, "create user", err)
	if u2.Created.Before(before) || u2.Created.After(time.Now().Add(time.Second)) {
		t.Fatalf("default Created = %s, want about now", u2.Created)
	}
	got2, err := s.UserByName(ctx, "now")
	noErr(t, "user by name", err)
	equal(t, "defaulted user", got2, u2)
}

func testUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	bob := mustUser(t, s, "bob")
	checkID(t, "user", bob.ID)
	sameTime(t, "created", bob.Created, t0)
	alice, err := s.CreateUser(ctx, store.User{ID: "alice-id", Name: "alice", PasswordHash: "h1", Created: t0, Disabled: true})
	noErr(t, "create alice", err)
	equal(t, "caller-set id kept", alice.ID, "alice-id")

	tests := []struct {
		name string
		u    store.User
		want error
	}{
		{"duplicate name", store.User{Name: "bob", PasswordHash: "x"}, store.ErrConflict},
		{"duplicate id", store.User{ID: "alice-id", Name: "carol", PasswordHash: "x"}, store.ErrConflict},
	}
	for _, tc := range tests {
		_, err := s.CreateUser(ctx, tc.u)
		wantErr(t, tc.name, err, tc.want)
	}

	got, err := s.UserByID(ctx, alice.ID)
	noErr(t, "user by id", err)
	equal(t, "alice by id", got, alice)
	got, err = s.UserByName(ctx, "bob")
	noErr(t, "user by name", err)
	equal(t, "bob by name", got, bob)

	_, err = s.UserByID(ctx, "nope")
	wantErr(t, "missing id", err, store.ErrNotFound)
	_, err = s.UserByName(ctx, "nope")
	wantErr(t, "missing name", err, store.ErrNotFound)
	_, err = s.UserByName(ctx, "BOB")
	wantErr(t, "names are exact", err, store.ErrNotFound)

	all, err := s.ListUsers(ctx)
	noErr(t, "list users", err)
	equal(t, "users by name", all, []store.User{alice, bob})
	n, err := s.CountUsers(ctx)
	noErr(t, "count", err)
	equal(t, "count", n, 2)

	noErr(t, "set password", s.SetUserPassword(ctx, bob.ID, "$argon2id$new"))
	got, err = s.UserByID(ctx, bob.ID)
	noErr(t, "user by id", err)
	equal(t, "new hash", got.PasswordHash, "$argon2id$new")
	wantErr(t, "set password of missing user", s.SetUserPassword(ctx, "nope", "x"), store.ErrNotFound)
}

func testRoles(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "tech")
	g := mustGroup(t, s, "Servers")

	steps := []struct {
		name string
		set  []store.RoleAssignment
		want []store.RoleAssignment // nil: none
		err  error
	}{
		{
			name: "global and per group",
			set: []store.RoleAssignment{
				{Role: perm.RoleScreenShareAgent, GroupID: g.ID},
				{Role: perm.RoleNotifyReadOnly},
				{Role: perm.RoleScreenShareAgent, GroupID: store.DefaultGroup},
			},
			want: sortedRA(u.ID,
				store.RoleAssignment{Role: perm.RoleNotifyReadOnly},
				store.RoleAssignment{Role: perm.RoleScreenShareAgent, GroupID: g.ID},
				store.RoleAssignment{Role: perm.RoleScreenShareAgent, GroupID: store.DefaultGroup},
			),
		},
		{
			name: "replace and collapse duplicates",
			set: []store.RoleAssignment{
				{Role: perm.RoleAdministrator},
				{Role: perm.RoleAdministrator},
				{UserID: "ignored", Role: perm.RoleScreenShareAdmin, GroupID: g.ID},
			},
			want: sortedRA(u.ID,
				store.RoleAssignment{Role: perm.RoleAdministrator},
				store.RoleAssignment{Role: perm.RoleScreenShareAdmin, GroupID: g.ID},
			),
		},
		{
			name: "unknown role fails and keeps the old set",
			set:  []store.RoleAssignment{{Role: perm.RoleNotifyAdmin}, {Role: "No Such Role"}},
			err:  store.ErrNotFound,
			want: sortedRA(u.ID,
				store.RoleAssignment{Role: perm.RoleAdministrator},
				store.RoleAssignment{Role: perm.RoleScreenShareAdmin, GroupID: g.ID},
			),
		},
		{
			name: "unknown group fails and keeps the old set",
			set:  []store.RoleAssignment{{Role: perm.RoleNotifyAdmin, GroupID: "no-such-group"}},
			err:  store.ErrNotFound,
			want: sortedRA(u.ID,
				store.RoleAssignment{Role: perm.RoleAdministrator},
				store.RoleAssignment{Role: perm.RoleScreenShareAdmin, GroupID: g.ID},
			),
		},
		{name: "clear", set: []store.RoleAssignment{}, want: nil},
	}
	for _, st := range steps {
		err := s.SetRoles(ctx, u.ID, st.set)
		if st.err != nil {
			wantErr(t, st.name, err, st.err)
		} else {
			noErr(t, st.name, err)
		}
		got, err := s.RolesOf(ctx, u.ID)
		noErr(t, st.name+": roles of", err)
		if len(got) == 0 && len(st.want) == 0 {
			continue
		}
		equal(t, st.name, got, st.want)
	}
	wantErr(t, "roles of unknown user", s.SetRoles(ctx, "nope", nil), store.ErrNotFound)
	none, err := s.RolesOf(ctx, "nope")
	noErr(t, "roles of unknown user", err)
	equal(t, "roles of unknown user", len(none), 0)

	// Role definitions.
	custom := store.Role{Name: "Helpdesk", Permissions: []string{string(perm.EndpointsView)}}
	noErr(t, "create role", s.UpsertRole(ctx, custom))
	got, err := s.Role(ctx, "Helpdesk")
	noErr(t, "role", err)
	equal(t, "new role", got, custom)
	custom.Permissions = []string{string(perm.EndpointsView), string(perm.ScreenShareStart)}
	noErr(t, "replace role", s.UpsertRole(ctx, custom))
	got, err = s.Role(ctx, "Helpdesk")
	noErr(t, "role", err)
	equal(t, "replaced role", got, custom)
	noErr(t, "empty role", s.UpsertRole(ctx, store.Role{Name: "Nothing"}))
	got, err = s.Role(ctx, "Nothing")
	noErr(t, "role", err)
	equal(t, "empty role", got, store.Role{Name: "Nothing"})
	_, err = s.Role(ctx, "nope")
	wantErr(t, "missing role", err, store.ErrNotFound)

	roles, err := s.ListRoles(ctx)
	noErr(t, "list roles", err)
	equal(t, "role count", len(roles), len(perm.DefaultRoles())+2)
	if !slices.IsSortedFunc(roles, func(a, b store.Role) int { return strings.Compare(a.Name, b.Name) }) {
		t.Fatalf("roles not sorted by name: %v", roles)
	}

	// A custom role can be assigned.
	noErr(t, "assign custom", s.SetRoles(ctx, u.ID, []store.RoleAssignment{{Role: "Helpdesk", GroupID: g.ID}}))
	ra, err := s.RolesOf(ctx, u.ID)
	noErr(t, "roles of", err)
	equal(t, "custom assignment", ra, []store.RoleAssignment{{UserID: u.ID, Role: "Helpdesk", GroupID: g.ID}})

	// Everyone's at once, as RolesOf gives each.
	all, err := s.RoleAssignments(ctx)
	noErr(t, "all assignments", err)
	users, err := s.ListUsers(ctx)
	noErr(t, "list users", err)
	for _, x := range users {
		one, err := s.RolesOf(ctx, x.ID)
		noErr(t, "roles of", err)
		if len(one) != 0 || len(all[x.ID]) != 0 {
			equal(t, "assignments of "+x.Name, all[x.ID], one)
		}
	}
	equal(t, "assignments of the user", all[u.ID], ra)
}

// sortedRA fills UserID and orders as RolesOf does: by group, then role.
func sortedRA(userID string, ras ...store.RoleAssignment) []store.RoleAssignment {
	for i := range ras {
		ras[i].UserID = userID
	}
	slices.SortFunc(ras, func(a, b store.RoleAssignment) int {
		if c := strings.Compare(a.GroupID, b.GroupID); c != 0 {
			return c
		}
		return strings.Compare(a.Role, b.Role)
	})
	return ras
}

func testGroups(t *testing.T, s store.Store) {
	ctx := t.Context()
	labs := mustGroup(t, s, "Labs")
	checkID(t, "group", labs.ID)
	equal(t, "name", labs.Name, "Labs")
	acct := mustGroup(t, s, "Accounting")

	for _, name := range []string{"Labs", store.DefaultGroup} {
		_, err := s.CreateGroup(ctx, name)
		wantErr(t, "duplicate group "+name, err, store.ErrConflict)
	}
	g, err := s.GroupByName(ctx, "Labs")
	noErr(t, "by name", err)
	equal(t, "by name", g, labs)
	g, err = s.GroupByID(ctx, acct.ID)
	noErr(t, "by id", err)
	equal(t, "by id", g, acct)
	_, err = s.GroupByName(ctx, "nope")
	wantErr(t, "missing name", err, store.ErrNotFound)
	_, err = s.GroupByID(ctx, "nope")
	wantErr(t, "missing id", err, store.ErrNotFound)

	def, err := s.GroupByName(ctx, store.DefaultGroup)
	noErr(t, "default", err)
	gs, err := s.ListGroups(ctx)
	noErr(t, "list", err)
	equal(t, "groups by name", gs, []store.Group{acct, def, labs})
}

func testWebSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "web")
	now := time.Now().UTC().Truncate(time.Microsecond)
	live := store.WebSession{ID: "sha-live", UserID: u.ID, CSRFToken: "csrf1", Created: now, Expires: now.Add(time.Hour)}
	expired := store.WebSession{ID: "sha-old", UserID: u.ID, CSRFToken: "csrf2", Created: now.Add(-2 * time.Hour), Expires: now.Add(-time.Hour)}
	expiring := store.WebSession{ID: "sha-soon", UserID: u.ID, CSRFToken: "csrf3", Created: now, Expires: now.Add(time.Minute)}
	for _, ws := range []store.WebSession{live, expired, expiring} {
		noErr(t, "create "+ws.ID, s.CreateWebSession(ctx, ws))
	}
	wantErr(t, "duplicate id", s.CreateWebSession(ctx, live), store.ErrConflict)
	wantErr(t, "unknown user", s.CreateWebSession(ctx, store.WebSession{ID: "x", UserID: "nope", Expires: now.Add(time.Hour)}), store.ErrNotFound)

	got, err := s.WebSession(ctx, live.ID)
	noErr(t, "live session", err)
	equal(t, "live session", got, live)
	_, err = s.WebSession(ctx, expired.ID)
	wantErr(t, "expired session", err, store.ErrNotFound)
	_, err = s.WebSession(ctx, "nope")
	wantErr(t, "missing session", err, store.ErrNotFound)

	// The sweep removes what expired by the given time, not more.
	n, err := s.DeleteExpiredWebSessions(ctx, now)
	noErr(t, "sweep", err)
	equal(t, "swept now", n, 1)
	n, err = s.DeleteExpiredWebSessions(ctx, now.Add(30*time.Minute))
	noErr(t, "sweep", err)
	equal(t, "swept in 30 min", n, 1)
	_, err = s.WebSession(ctx, expiring.ID)
	wantErr(t, "swept session", err, store.ErrNotFound)

	noErr(t, "delete", s.DeleteWebSession(ctx, live.ID))
	_, err = s.WebSession(ctx, live.ID)
	wantErr(t, "deleted session", err, store.ErrNotFound)
	noErr(t, "delete again is a no-op", s.DeleteWebSession(ctx, live.ID))
}

func testAPITokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	u1, u2 := mustUser(t, s, "one"), mustUser(t, s, "two")
	a, err := s.CreateAPIToken(ctx, store.APIToken{UserID: u1.ID, Name: "ci", Hash: "hash-a", Created: t0})
	noErr(t, "create", err)
	checkID(t, "token", a.ID)
	b, err := s.CreateAPIToken(ctx, store.APIToken{UserID: u1.ID, Name: "backup", Hash: "hash-b", Created: t0.Add(time.Second)})
	noErr(t, "create", err)
	c, err := s.CreateAPIToken(ctx, store.APIToken{UserID: u2.ID, Name: "ci", Hash: "hash-c", Created: t0})
	noErr(t, "create", err)

	_, err = s.CreateAPIToken(ctx, store.APIToken{UserID: u2.ID, Name: "dup", Hash: "hash-a"})
	wantErr(t, "duplicate hash", err, store.ErrConflict)
	_, err = s.CreateAPIToken(ctx, store.APIToken{UserID: "nope", Name: "x", Hash: "hash-x"})
	wantErr(t, "unknown user", err, store.ErrNotFound)

	got, err := s.APITokenByHash(ctx, "hash-b")
	noErr(t, "by hash", err)
	equal(t, "by hash", got, b)
	_, err = s.APITokenByHash(ctx, "nope")
	wantErr(t, "missing hash", err, store.ErrNotFound)

	l, err := s.ListAPITokens(ctx, u1.ID)
	noErr(t, "list", err)
	equal(t, "tokens of one, oldest first", l, []store.APIToken{a, b})
	l, err = s.ListAPITokens(ctx, u2.ID)
	noErr(t, "list", err)
	equal(t, "tokens of two", l, []store.APIToken{c})

	noErr(t, "delete", s.DeleteAPIToken(ctx, a.ID))
	_, err = s.APITokenByHash(ctx, "hash-a")
	wantErr(t, "deleted token", err, store.ErrNotFound)
	wantErr(t, "delete missing", s.DeleteAPIToken(ctx, a.ID), store.ErrNotFound)
	l, err = s.ListAPITokens(ctx, u1.ID)
	noErr(t, "list", err)
	equal(t, "after delete", l, []store.APIToken{b})

	byID, err := s.APITokenByID(ctx, b.ID)
	noErr(t, "by id", err)
	equal(t, "by id", byID, b)
	_, err = s.APITokenByID(ctx, a.ID)
	wantErr(t, "deleted token by id", err, store.ErrNotFound)

	noErr(t, "revoke all of one user", s.DeleteUserAPITokens(ctx, u1.ID))
	l, err = s.ListAPITokens(ctx, u1.ID)
	noErr(t, "list", err)
	equal(t, "tokens of one after revoking all", len(l), 0)
	l, err = s.ListAPITokens(ctx, u2.ID)
	noErr(t, "list", err)
	equal(t, "tokens of two are kept", l, []store.APIToken{c})
}

func testEnrollmentTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	g := mustGroup(t, s, "Kiosks")
	exp := t0.Add(24 * time.Hour)
	a, err := s.CreateEnrollmentToken(ctx, store.EnrollmentToken{Hash: "eh-a", GroupID: g.ID, CreatedBy: "admin", Created: t0, Expires: &exp})
	noErr(t, "create", err)
	checkID(t, "enrollment token", a.ID)
	b, err := s.CreateEnrollmentToken(ctx, store.EnrollmentToken{ID: "tok-b", Hash: "eh-b", GroupID: store.DefaultGroup, CreatedBy: "admin", Created: t0.Add(time.Minute)})
	noErr(t, "create", err)

	_, err = s.CreateEnrollmentToken(ctx, store.EnrollmentToken{Hash: "eh-a", GroupID: g.ID, CreatedBy: "x"})
	wantErr(t, "duplicate hash", err, store.ErrConflict)
	_, err = s.CreateEnrollmentToken(ctx, store.EnrollmentToken{Hash: "eh-z", GroupID: "nope", CreatedBy: "x"})
	wantErr(t, "unknown group", err, store.ErrNotFound)

	got, err := s.EnrollmentTokenByHash(ctx, "eh-a")
	noErr(t, "by hash", err)
	equal(t, "by hash", got, a)
	if got.Expires == nil || got.Revoked != nil {
		t.Fatalf("token a = %+v, want expiry and no revocation", got)
	}
	_, err = s.EnrollmentTokenByHash(ctx, "nope")
	wantErr(t, "missing", err, store.ErrNotFound)

	at := t0.Add(time.Hour)
	noErr(t, "revoke", s.RevokeEnrollmentToken(ctx, b.ID, at))
	noErr(t, "revoke again", s.RevokeEnrollmentToken(ctx, b.ID, at.Add(time.Hour)))
	wantErr(t, "revoke missing", s.RevokeEnrollmentToken(ctx, "nope", at), store.ErrNotFound)
	got, err = s.EnrollmentTokenByHash(ctx, "eh-b")
	noErr(t, "revoked by hash", err)
	if got.Revoked == nil {
		t.Fatalf("revoked token has no Revoked time")
	}
	sameTime(t, "first revocation time kept", *got.Revoked, at)

	l, err := s.ListEnrollmentTokens(ctx)
	noErr(t, "list", err)
	b.Revoked = &at
	equal(t, "list, oldest first", l, []store.EnrollmentToken{a, b})
}
