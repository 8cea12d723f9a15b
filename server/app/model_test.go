package app

// TestScopeModel runs long random sequences of administrative operations
// by several principals, most of them scoped to one computer group, against
// the real service and store, and beside them a small model written from
// the scope rules alone (scope.go's comment, SECURITY.md). After every step
// no principal may see an endpoint, a user or an audit record the model
// does not allow it, and no operation the model forbids may succeed. The
// model knows nothing of the service's code: a scoped principal that
// manages to widen its own scope shows as a difference.

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tetherdesk/tether/server/auth"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/server/store/sqlstore"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

var (
	modelSteps = flag.Int("model.steps", 10000, "steps of TestScopeModel")
	modelSeed  = flag.Uint64("model.seed", 20261202, "seed of TestScopeModel")
)

// The model's own table of roles (a custom one included): what each grants.
var modelRoles = func() map[string][]perm.Permission {
	m := map[string][]perm.Permission{"UserMgr": {perm.UsersManage}}
	for _, r := range perm.DefaultRoles() {
		m[r.Name] = r.Permissions
	}
	return m
}()

type mAssign struct{ role, group string } // group "" is every group

type mUser struct {
	id, name  string
	as        []mAssign
	disabled  bool
	principal bool // one of the acting principals
}

type mEndpoint struct {
	id, host, os, ip, enroll string
	manual                   map[string]bool
}

type mRule struct{ kind, value string } // kind "" is no rule

type model struct {
	groups   []string          // ids of the groups the operations use (not Default)
	names    map[string]string // group id → name
	rules    map[string]mRule
	policy   map[string]bool // group id ("" global) → acceptance required; absent: none
	users    map[string]*mUser
	eps      []*mEndpoint
	defaultG string
}

func (m *model) grants(u *mUser, pm perm.Permission) (global bool, in map[string]bool) {
	in = map[string]bool{}
	for _, a := range u.as {
		if slices.Contains(modelRoles[a.role], pm) {
			if a.group == "" {
				global = true
			}
			in[a.group] = true
		}
	}
	return global, in
}

func (m *model) canIn(u *mUser, pm perm.Permission, g string) bool {
	global, in := m.grants(u, pm)
	return global || in[g]
}

func (m *model) canSomewhere(u *mUser, pm perm.Permission) bool {
	global, in := m.grants(u, pm)
	return global || len(in) > 0
}

func (m *model) ruleMatch(r mRule, e *mEndpoint) bool {
	switch r.kind {
	case protocol.RuleHostname:
		ok, _ := path.Match(r.value, e.host)
		return ok
	case protocol.RuleOS:
		return r.value == e.os
	case protocol.RuleIP:
		p := netip.MustParsePrefix(r.value)
		return p.Contains(netip.MustParseAddr(e.ip))
	}
	return false
}

// epGroups: the enrollment group, every group whose rule matches, and the
// manual ones.
func (m *model) epGroups(e *mEndpoint) []string {
	gs := []string{e.enroll}
	for _, g := range m.groups {
		if g != e.enroll && (m.ruleMatch(m.rules[g], e) || e.manual[g]) {
			gs = append(gs, g)
		}
	}
	return gs
}

func (m *model) inScope(u *mUser, pm perm.Permission, e *mEndpoint) bool {
	for _, g := range m.epGroups(e) {
		if m.canIn(u, pm, g) {
			return true
		}
	}
	return false
}

func (m *model) visibleEndpoints(u *mUser) []string {
	var out []string
	for _, e := range m.eps {
		if m.inScope(u, perm.EndpointsView, e) {
			out = append(out, e.id)
		}
	}
	sort.Strings(out)
	return out
}

func (m *model) fullAdmin(u *mUser) bool {
	gu, _ := m.grants(u, perm.UsersManage)
	gr, _ := m.grants(u, perm.RolesManage)
	return gu && gr
}

// userVisible: every role of the target lies in groups where u manages users.
func (m *model) userVisible(u, target *mUser) bool {
	if g, _ := m.grants(u, perm.UsersManage); g {
		return true
	}
	if len(target.as) == 0 {
		return false
	}
	for _, a := range target.as {
		if a.group == "" || !m.canIn(u, perm.UsersManage, a.group) {
			return false
		}
	}
	return true
}

func (m *model) grantable(u *mUser, as []mAssign) bool {
	if m.fullAdmin(u) {
		return true
	}
	for _, a := range as {
		if !m.canIn(u, perm.UsersManage, a.group) {
			return false
		}
		for _, pm := range modelRoles[a.role] {
			if !m.canIn(u, pm, a.group) {
				return false
			}
		}
	}
	return true
}

func (m *model) manageable(u, target *mUser) bool {
	return m.userVisible(u, target) && m.grantable(u, target.as)
}

func (m *model) visibleUsers(u *mUser) []string {
	var out []string
	for _, t := range m.users {
		if m.userVisible(u, t) {
			out = append(out, t.id)
		}
	}
	sort.Strings(out)
	return out
}

// acceptance is the effective "acceptance required" of a set of groups
// (enrollment group first): the last of them, in the service's merge order
// (enrollment group, then the others by name), that has a policy, else the
// global one.
func (m *model) acceptance(gs []string, pol map[string]bool) bool {
	order := append([]string{gs[0]}, slices.Clone(gs[1:])...)
	rest := order[1:]
	sort.Slice(rest, func(i, j int) bool { return m.names[rest[i]] < m.names[rest[j]] })
	v := pol[""]
	for _, g := range order {
		if a, ok := pol[g]; ok {
			v = a
		}
	}
	return v
}

// weakens: setting g's acceptance to accept turns it off for some endpoint
// (or for a new member of g).
func (m *model) weakens(g string, accept bool) bool {
	next := map[string]bool{}
	for k, v := range m.policy {
		next[k] = v
	}
	next[g] = accept
	sets := [][]string{{g}}
	for _, e := range m.eps {
		if gs := m.epGroups(e); slices.Contains(gs, g) {
			sets = append(sets, gs)
		}
	}
	for _, set := range sets {
		if m.acceptance(set, m.policy) && !m.acceptance(set, next) {
			return true
		}
	}
	return false
}

// modelEnv is the service under test with the model beside it.
type modelEnv struct {
	t     *testing.T
	s     *Service
	st    store.Store
	m     *model
	rnd   *rand.Rand
	ctx   context.Context
	steps int
	seq   int
}

func (me *modelEnv) as(u *mUser) context.Context {
	su, err := me.st.UserByID(me.ctx, u.id)
	if err != nil {
		me.t.Fatalf("principal %s: %v", u.name, err)
	}
	p, err := me.s.PrincipalOf(me.ctx, su)
	if err != nil {
		me.t.Fatal(err)
	}
	ctx, _ := WithCheck(me.ctx)
	return WithPrincipal(ctx, p)
}

func (me *modelEnv) spec(as []mAssign) []string {
	var out []string
	for _, a := range as {
		if a.group == "" {
			out = append(out, a.role)
		} else {
			out = append(out, a.role+"@"+me.m.names[a.group])
		}
	}
	return out
}

func (me *modelEnv) randomAssigns() []mAssign {
	roles := []string{perm.RoleAdministrator, perm.RoleScreenShareAgent, perm.RoleScreenShareAdmin, "UserMgr"}
	var out []mAssign
	for range 1 + me.rnd.IntN(2) {
		a := mAssign{role: roles[me.rnd.IntN(len(roles))]}
		if me.rnd.IntN(4) != 0 {
			a.group = me.m.groups[me.rnd.IntN(len(me.m.groups))]
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func (me *modelEnv) pickUser() *mUser {
	us := make([]*mUser, 0, len(me.m.users))
	for _, u := range me.m.users {
		us = append(us, u)
	}
	sort.Slice(us, func(i, j int) bool { return us[i].name < us[j].name }) // ids are random; names are the seed's
	return us[me.rnd.IntN(len(us))]
}

// outcome checks a step: an operation the model forbids must have failed.
func (me *modelEnv) outcome(actor *mUser, op string, allowed bool, err error) bool {
	if err == nil && !allowed {
		me.t.Fatalf("step %d: %s by %s (%v) succeeded; the scope rules forbid it", me.steps, op, actor.name, me.spec(actor.as))
	}
	return err == nil
}

func (me *modelEnv) step() {
	m := me.m
	var actors []*mUser
	for _, u := range m.users {
		if u.principal && !u.disabled {
			actors = append(actors, u)
		}
	}
	sort.Slice(actors, func(i, j int) bool { return actors[i].name < actors[j].name })
	actor := actors[me.rnd.IntN(len(actors))]
	ctx := me.as(actor)
	g := m.groups[me.rnd.IntN(len(m.groups))]
	ep := m.eps[me.rnd.IntN(len(m.eps))]
	switch op := me.rnd.IntN(10); op {
	case 0: // membership rules
		pool := []mRule{{}, {protocol.RuleHostname, "*"}, {protocol.RuleHostname, "pc-1*"}, {protocol.RuleOS, "windows"}, {protocol.RuleIP, "10.2.0.0/16"}}
		r := pool[me.rnd.IntN(len(pool))]
		req := protocol.GroupRequest{Name: m.names[g]}
		if r.kind != "" {
			req.Rules = []protocol.GroupRule{{Kind: r.kind, Value: r.value}}
		}
		gm, _ := m.grants(actor, perm.GroupsManage)
		allowed := gm || (r == m.rules[g] && m.canIn(actor, perm.GroupsManage, g))
		_, err := me.s.UpdateGroup(ctx, g, req)
		if me.outcome(actor, fmt.Sprintf("rule %+v on %s", r, m.names[g]), allowed, err) {
			m.rules[g] = r
		}
	case 1: // manual membership
		next := map[string]bool{}
		var names []string
		for _, x := range m.groups {
			if me.rnd.IntN(3) == 0 {
				next[x] = true
				names = append(names, m.names[x])
			}
		}
		allowed := m.inScope(actor, perm.EndpointsView, ep) && m.inScope(actor, perm.GroupsManage, ep)
		for _, x := range m.groups {
			if x != ep.enroll && next[x] != ep.manual[x] && !m.canIn(actor, perm.GroupsManage, x) {
				allowed = false
			}
		}
		_, err := me.s.SetEndpointGroups(ctx, ep.id, protocol.EndpointGroupsRequest{Groups: names})
		if me.outcome(actor, fmt.Sprintf("manual groups %v of %s", names, ep.host), allowed, err) {
			delete(next, ep.enroll)
			ep.manual = next
		}
	case 2: // a new user
		if len(m.users) > 24 {
			return
		}
		as := me.randomAssigns()
		me.seq++
		name := fmt.Sprintf("u%d", me.seq)
		allowed := m.canSomewhere(actor, perm.UsersManage) && m.grantable(actor, as)
		u, err := me.s.CreateUser(ctx, protocol.CreateUserRequest{Name: name, Password: "long enough password", Roles: me.spec(as)})
		if me.outcome(actor, fmt.Sprintf("create user with %v", me.spec(as)), allowed, err) {
			m.users[u.ID] = &mUser{id: u.ID, name: name, as: as}
		}
	case 3: // change a user's roles
		v := me.pickUser()
		as := me.randomAssigns()
		allowed := m.canSomewhere(actor, perm.UsersManage) && m.manageable(actor, v) && m.grantable(actor, as)
		roles := me.spec(as)
		_, err := me.s.UpdateUser(ctx, v.id, protocol.UpdateUserRequest{Roles: &roles})
		if me.outcome(actor, fmt.Sprintf("roles %v for %s %v", roles, v.name, me.spec(v.as)), allowed, err) {
			v.as = as
		}
	case 4: // disable or enable, or delete a user
		v := me.pickUser()
		allowed := m.canSomewhere(actor, perm.UsersManage) && m.manageable(actor, v) && v.id != actor.id
		if me.rnd.IntN(3) == 0 && !v.principal {
			err := me.s.DeleteUser(ctx, v.id)
			if me.outcome(actor, "delete "+v.name, allowed, err) {
				delete(m.users, v.id)
			}
			return
		}
		dis := !v.disabled
		_, err := me.s.UpdateUser(ctx, v.id, protocol.UpdateUserRequest{Disabled: &dis})
		if me.outcome(actor, fmt.Sprintf("disabled=%v for %s", dis, v.name), allowed, err) {
			v.disabled = dis
		}
	case 5: // password reset
		v := me.pickUser()
		allowed := m.canSomewhere(actor, perm.UsersManage) && m.manageable(actor, v)
		err := me.s.ResetPassword(ctx, v.id, protocol.ResetPasswordRequest{Password: "another long password"})
		me.outcome(actor, "reset password of "+v.name+fmt.Sprint(me.spec(v.as)), allowed, err)
	case 6: // an enrollment token
		tg := g
		if me.rnd.IntN(3) == 0 {
			tg = m.defaultG
		}
		_, err := me.s.CreateEnrollmentToken(ctx, protocol.CreateTokenRequest{Group: m.names[tg]})
		me.outcome(actor, "token for "+m.names[tg], m.canIn(actor, perm.TokensManage, tg), err)
	case 7, 8: // an action (an audit record about an endpoint)
		allowed := m.inScope(actor, perm.EndpointsView, ep) && m.inScope(actor, perm.EndpointsManage, ep)
		_, err := me.s.QueueAction(ctx, ep.id, protocol.QueueActionRequest{Type: protocol.ActionEcho})
		me.outcome(actor, "action on "+ep.host, allowed, err)
	case 9: // a policy
		accept := me.rnd.IntN(2) == 0
		doc := fmt.Sprintf(`{"screenshare":{"acceptance_required":%v,"clipboard_sync":false,"file_transfer":false}}`, accept)
		ss, _ := m.grants(actor, perm.ScreenShareSettings)
		allowed := (m.canIn(actor, perm.ScreenShareSettings, g) || m.canIn(actor, perm.SettingsManage, g)) && (ss || !m.weakens(g, accept))
		_, err := me.s.PutPolicy(ctx, m.names[g], []byte(doc))
		if me.outcome(actor, fmt.Sprintf("acceptance %v on %s", accept, m.names[g]), allowed, err) {
			m.policy[g] = accept
		}
	}
}

// check compares what each principal sees with what the model allows.
func (me *modelEnv) check(auditLimit int) {
	m := me.m
	for _, u := range m.users {
		if !u.principal || u.disabled {
			continue
		}
		ctx := me.as(u)
		if m.canSomewhere(u, perm.EndpointsView) {
			eps, err := me.s.SearchEndpoints(ctx, "")
			if err != nil {
				me.t.Fatal(err)
			}
			got := sortedIDs(eps, func(e protocol.Endpoint) string { return e.ID })
			if want := m.visibleEndpoints(u); !slices.Equal(got, want) {
				var diff []string
				for _, e := range m.eps {
					if slices.Contains(got, e.id) != slices.Contains(want, e.id) {
						a, _ := me.st.AgentByID(me.ctx, e.id)
						diff = append(diff, fmt.Sprintf("%s: model groups %v manual %v, stored %v (rule %v manual %v)", e.host, me.groupNames(m.epGroups(e)), e.manual,
							me.groupNames(a.Groups()), me.groupNames(a.RuleGroups), me.groupNames(a.ManualGroups)))
					}
				}
				me.t.Fatalf("step %d: %s %v sees endpoints %v, the model allows %v; %s", me.steps, u.name, me.spec(u.as), me.hosts(got), me.hosts(want), strings.Join(diff, "; "))
			}
		}
		if m.canSomewhere(u, perm.UsersManage) {
			us, err := me.s.ListUsers(ctx)
			if err != nil {
				me.t.Fatal(err)
			}
			got := sortedIDs(us, func(x protocol.User) string { return x.ID })
			if want := m.visibleUsers(u); !slices.Equal(got, want) {
				me.t.Fatalf("step %d: %s %v sees users %v, the model allows %v", me.steps, u.name, me.spec(u.as), me.userNames(got), me.userNames(want))
			}
		}
		if m.canSomewhere(u, perm.AuditRead) {
			rs, err := me.s.ListAudit(ctx, store.AuditFilter{Limit: auditLimit})
			if err != nil {
				me.t.Fatal(err)
			}
			global, _ := m.grants(u, perm.AuditRead)
			for _, r := range rs {
				if global {
					break
				}
				e := me.endpoint(r.EndpointID)
				if e == nil || !m.inScope(u, perm.AuditRead, e) {
					me.t.Fatalf("step %d: %s %v reads audit record %d (%s about endpoint %q), outside its scope", me.steps, u.name, me.spec(u.as), r.Seq, r.Type, r.EndpointID)
				}
			}
			// And it sees every record of its scope: compare with the whole
			// log over the same span.
			all, err := me.st.ListAudit(me.ctx, store.AuditFilter{Limit: auditLimit})
			if err != nil {
				me.t.Fatal(err)
			}
			var want []int64
			for _, r := range all {
				if e := me.endpoint(r.EndpointID); global || (e != nil && m.inScope(u, perm.AuditRead, e)) {
					want = append(want, r.Seq)
				}
			}
			var got []int64
			for _, r := range rs {
				if len(all) == 0 || r.Seq >= all[len(all)-1].Seq {
					got = append(got, r.Seq)
				}
			}
			if !slices.Equal(got, want) {
				me.t.Fatalf("step %d: %s %v reads audit records %v, the model expects %v", me.steps, u.name, me.spec(u.as), got, want)
			}
		}
	}
}

func (me *modelEnv) endpoint(id string) *mEndpoint {
	for _, e := range me.m.eps {
		if e.id == id {
			return e
		}
	}
	return nil
}

func (me *modelEnv) groupNames(ids []string) []string {
	var out []string
	for _, id := range ids {
		out = append(out, me.m.names[id])
	}
	return out
}

func (me *modelEnv) hosts(ids []string) []string {
	var out []string
	for _, id := range ids {
		if e := me.endpoint(id); e != nil {
			out = append(out, e.host)
		} else {
			out = append(out, id)
		}
	}
	return out
}

func (me *modelEnv) userNames(ids []string) []string {
	var out []string
	for _, id := range ids {
		if u := me.m.users[id]; u != nil {
			out = append(out, u.name)
		} else {
			out = append(out, id)
		}
	}
	return out
}

func TestScopeModel(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "model.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := New(Config{Store: st, PasswordParams: auth.Params{Time: 1, Memory: 64, Threads: 1}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	me := &modelEnv{t: t, s: s, st: st, ctx: ctx, rnd: rand.New(rand.NewPCG(*modelSeed, 1)),
		m: &model{names: map[string]string{}, rules: map[string]mRule{}, policy: map[string]bool{}, users: map[string]*mUser{}}}
	m := me.m
	if err := st.UpsertRole(ctx, store.Role{Name: "UserMgr", Permissions: []string{string(perm.UsersManage)}}); err != nil {
		t.Fatal(err)
	}
	def, err := st.GroupByName(ctx, store.DefaultGroup)
	if err != nil {
		t.Fatal(err)
	}
	m.defaultG, m.names[def.ID] = def.ID, def.Name
	for _, n := range []string{"G1", "G2", "G3"} {
		g, err := st.CreateGroup(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		m.groups = append(m.groups, g.ID)
		m.names[g.ID] = n
	}
	strong := `{"screenshare":{"acceptance_required":true,"clipboard_sync":false,"file_transfer":false}}`
	if _, err := st.PutPolicy(ctx, "", []byte(strong), s.now()); err != nil {
		t.Fatal(err)
	}
	m.policy[""] = true
	// Endpoints: two enrolled into each group and Default.
	for i, g := range append([]string{def.ID}, m.groups...) {
		tok, err := s.IssueEnrollmentToken(ctx, protocol.CreateTokenRequest{Group: m.names[g]}, "test", false)
		if err != nil {
			t.Fatal(err)
		}
		for j := range 2 {
			e := &mEndpoint{host: fmt.Sprintf("pc-%d%d", i, j), os: []string{"linux", "windows"}[j], ip: fmt.Sprintf("10.%d.0.%d", i, j+1), enroll: g, manual: map[string]bool{}}
			resp, err := s.Enroll(ctx, protocol.EnrollRequest{Token: tok.Token, Protocol: protocol.Version,
				Inventory: protocol.Inventory{Hostname: e.host, OS: e.os, IPs: []string{e.ip}}}, "")
			if err != nil {
				t.Fatal(err)
			}
			e.id = resp.AgentID
			m.eps = append(m.eps, e)
		}
	}
	// The principals.
	g1, g2, g3 := m.groups[0], m.groups[1], m.groups[2]
	for _, p := range []struct {
		name string
		as   []mAssign
	}{
		{"root", []mAssign{{perm.RoleAdministrator, ""}}},
		{"a1", []mAssign{{perm.RoleAdministrator, g1}}},
		{"a2", []mAssign{{perm.RoleAdministrator, g2}}},
		{"um1", []mAssign{{"UserMgr", g1}}},
		{"s2", []mAssign{{perm.RoleScreenShareAdmin, g2}}},
		{"t3", []mAssign{{perm.RoleScreenShareAgent, g3}}},
		{"mixed", []mAssign{{perm.RoleAdministrator, g1}, {perm.RoleScreenShareAgent, g2}}},
	} {
		u, err := s.AddUser(ctx, protocol.CreateUserRequest{Name: p.name, Password: "long enough password", Roles: me.spec(p.as)})
		if err != nil {
			t.Fatal(err)
		}
		m.users[u.ID] = &mUser{id: u.ID, name: p.name, as: p.as, principal: true}
	}
	me.check(50)
	for me.steps = 1; me.steps <= *modelSteps; me.steps++ {
		me.step()
		limit := 20
		if me.steps%1000 == 0 {
			limit = 2000
		}
		me.check(limit)
	}
	t.Logf("%d steps, seed %d: %d users, every view matched the model", *modelSteps, *modelSeed, len(m.users))
}

// sortedIDs is the sorted ids of xs.
func sortedIDs[T any](xs []T, id func(T) string) []string {
	var out []string
	for _, x := range xs {
		out = append(out, id(x))
	}
	sort.Strings(out)
	return out
}
