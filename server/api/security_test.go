package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/api"
	"github.com/tetherdesk/tether/server/app"
	"github.com/tetherdesk/tether/server/auth"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// TestPasswordResetRevokesAccess: a new password ends every sign-in and API
// token the old one opened; someone resetting their own keeps the browser
// they did it from.
func TestPasswordResetRevokesAccess(t *testing.T) {
	e := newEnv(t)
	admin := e.user("admin", perm.RoleAdministrator)
	tech := e.user("tech", perm.RoleScreenShareAgent)
	second := e.client()
	var me protocol.Me
	mustDo(t, second, "POST", "/api/v1/login", protocol.LoginRequest{Name: "tech", Password: "correct horse battery"}, &me, 200)
	second.csrf = me.CSRFToken
	var tok protocol.APIToken
	mustDo(t, tech, "POST", "/api/v1/api-tokens", protocol.CreateAPITokenRequest{Name: "script"}, &tok, 201)
	bearer := e.client()
	bearer.bearer = tok.Token
	mustDo(t, bearer, "GET", "/api/v1/me", nil, nil, 200)

	var us struct{ Users []protocol.User }
	mustDo(t, admin, "GET", "/api/v1/users", nil, &us, 200)
	techID := ""
	for _, u := range us.Users {
		if u.Name == "tech" {
			techID = u.ID
		}
	}
	mustDo(t, admin, "POST", "/api/v1/users/"+techID+"/password", protocol.ResetPasswordRequest{Password: "a brand new password"}, nil, 200)
	for name, c := range map[string]*client{"first browser": tech, "second browser": second, "API token": bearer} {
		if st := c.do("GET", "/api/v1/me", nil, nil); st != 401 {
			t.Errorf("%s after the reset: %d, want 401", name, st)
		}
	}

	// Resetting one's own password keeps this browser, ends the others.
	self := e.client()
	mustDo(t, self, "POST", "/api/v1/login", protocol.LoginRequest{Name: "tech", Password: "a brand new password"}, &me, 200)
	self.csrf = me.CSRFToken
	other := e.client()
	mustDo(t, other, "POST", "/api/v1/login", protocol.LoginRequest{Name: "tech", Password: "a brand new password"}, nil, 200)
	mustDo(t, self, "POST", "/api/v1/api-tokens", protocol.CreateAPITokenRequest{Name: "script"}, &tok, 201)
	bearer.bearer = tok.Token
	// tech lacks users.manage: its own reset goes through an administrator's
	// right only; give it the role for this part.
	mustDo(t, admin, "PATCH", "/api/v1/users/"+techID, map[string]any{"roles": []string{perm.RoleAdministrator}}, nil, 200)
	mustDo(t, self, "POST", "/api/v1/users/"+techID+"/password", protocol.ResetPasswordRequest{Password: "yet another password"}, nil, 200)
	if st := self.do("GET", "/api/v1/me", nil, nil); st != 200 {
		t.Errorf("the browser that reset its own password: %d, want 200", st)
	}
	if st := other.do("GET", "/api/v1/me", nil, nil); st != 401 {
		t.Errorf("another browser of the same user: %d, want 401", st)
	}
	if st := bearer.do("GET", "/api/v1/me", nil, nil); st != 401 {
		t.Errorf("the user's API token: %d, want 401", st)
	}
}

// TestDisableClosesViewers: disabling a user closes their live viewers'
// signalling within 2 s, the agent hears they left, and the TURN relay
// refuses their credential from then on.
func TestDisableClosesViewers(t *testing.T) {
	f := newSessionFixture(t)
	f.allowUnattended(t, true)
	s := f.create(t, f.tech, false)
	p := f.start(t)
	agent := f.agentConn(t, p)
	v, vid := f.viewerConn(t, f.tech, s.ID)
	agent.expectWhere(protocol.SignalViewerJoined, func(m protocol.Signal) bool { return m.ViewerID == vid })
	ctx := context.Background()
	if !f.e.svc.RelayAllowed(ctx, s.ID, vid) || !f.e.svc.RelayAllowed(ctx, s.ID, "agent") {
		t.Fatal("relay refuses a live session's viewer or agent")
	}
	if f.e.svc.RelayAllowed(ctx, s.ID, "vnobody") {
		t.Fatal("relay admits a viewer that never joined")
	}
	var us struct{ Users []protocol.User }
	mustDo(t, f.admin, "GET", "/api/v1/users", nil, &us, 200)
	for _, u := range us.Users {
		if u.Name == "tech" {
			mustDo(t, f.admin, "PATCH", "/api/v1/users/"+u.ID, map[string]any{"disabled": true}, nil, 200)
		}
	}
	v.waitClosed(2 * time.Second)
	agent.expectWhere(protocol.SignalViewerLeft, func(m protocol.Signal) bool { return m.ViewerID == vid })
	if f.e.svc.RelayAllowed(ctx, s.ID, vid) {
		t.Error("relay still admits the disabled user's viewer")
	}
	if !f.e.svc.RelayAllowed(ctx, s.ID, "agent") {
		t.Error("relay refuses the agent of a session that goes on")
	}
	mustDo(t, f.admin, "POST", "/api/v1/sessions/"+s.ID+"/end", map[string]any{}, nil, 200)
	if f.e.svc.RelayAllowed(ctx, s.ID, "agent") {
		t.Error("relay admits the agent of an ended session")
	}
}

// TestRoleChangeClosesViewersOutOfScope: a viewer whose roles no longer
// cover the session is closed; one still covered stays.
func TestRoleChangeClosesViewersOutOfScope(t *testing.T) {
	f := newSessionFixture(t)
	s := f.create(t, f.admin, true)
	p := f.start(t)
	f.agentConn(t, p)
	v, _ := f.viewerConn(t, f.ssAdmin, s.ID)
	var us struct{ Users []protocol.User }
	mustDo(t, f.admin, "GET", "/api/v1/users", nil, &us, 200)
	id := ""
	for _, u := range us.Users {
		if u.Name == "ssadmin" {
			id = u.ID
		}
	}
	// Still a screen sharing administrator of everything: the viewer stays.
	mustDo(t, f.admin, "PATCH", "/api/v1/users/"+id, map[string]any{"roles": []string{perm.RoleScreenShareAdmin, perm.RoleNotifyReadOnly}}, nil, 200)
	// The re-check ran before the PATCH answered: a round trip shows the
	// socket is still served (a closed one would not answer).
	v.send(map[string]any{"type": "bogus"})
	v.expect(protocol.SignalError)
	mustDo(t, f.admin, "POST", "/api/v1/groups", protocol.Group{Name: "Elsewhere"}, nil, 201)
	mustDo(t, f.admin, "PATCH", "/api/v1/users/"+id, map[string]any{"roles": []string{perm.RoleScreenShareAdmin + "@Elsewhere"}}, nil, 200)
	v.waitClosed(2 * time.Second)
}

// TestRoleEditClosesViewers: a role's permissions changed close the
// viewers of its holders that it no longer covers.
func TestRoleEditClosesViewers(t *testing.T) {
	f := newSessionFixture(t)
	s := f.create(t, f.admin, true)
	p := f.start(t)
	f.agentConn(t, p)
	mustDo(t, f.admin, "POST", "/api/v1/roles", protocol.RoleRequest{Name: "Watchers", Permissions: []string{
		string(perm.EndpointsView), string(perm.ScreenShareAllSession)}}, nil, 201)
	w := f.e.user("watcher", "Watchers")
	v, _ := f.viewerConn(t, w, s.ID)
	// Still covered: the viewer stays.
	mustDo(t, f.admin, "PUT", "/api/v1/roles/Watchers", protocol.RoleRequest{Permissions: []string{
		string(perm.EndpointsView), string(perm.ScreenShareAllSession), string(perm.AuditRead)}}, nil, 200)
	v.send(map[string]any{"type": "bogus"})
	v.expect(protocol.SignalError)
	mustDo(t, f.admin, "PUT", "/api/v1/roles/Watchers", protocol.RoleRequest{Permissions: []string{string(perm.EndpointsView)}}, nil, 200)
	v.waitClosed(2 * time.Second)
}

// TestLoginNotLockedByStrangers: failures count per account and address,
// and per address; a right password from a clean address always signs in,
// even while the account is sprayed from many addresses.
func TestLoginNotLockedByStrangers(t *testing.T) {
	e := newEnv(t, func(c *app.Config) { c.AccountSprayFailures = 10; c.IPFailures = 8 })
	e.user("alice", perm.RoleScreenShareAgent)
	ctx := context.Background()
	login := func(pw, ip string) error {
		_, err := e.svc.Login(ctx, protocol.LoginRequest{Name: "alice", Password: pw}, ip)
		return err
	}
	throttled := func(err error) bool { var te *app.ThrottledError; return errors.As(err, &te) }
	for i := range 5 {
		if err := login("wrong", "198.51.100.7"); !errors.Is(err, app.ErrUnauthorized) {
			t.Fatalf("stranger's attempt %d: %v", i+1, err)
		}
	}
	if err := login("correct horse battery", "198.51.100.7"); !throttled(err) {
		t.Fatalf("the stranger's address after 5 failures: %v, want throttled", err)
	}
	if err := login("correct horse battery", "203.0.113.1"); err != nil {
		t.Fatalf("alice from her own address: %v (locked out by a stranger)", err)
	}
	// An IPv6 /64 is one address: rotating within it does not help.
	for i := range 5 {
		login("wrong", fmt.Sprintf("2001:db8:1:2::%x", i+1))
	}
	if err := login("correct horse battery", "2001:db8:1:2::ffff"); !throttled(err) {
		t.Fatalf("another address of the same /64: %v, want throttled", err)
	}
	// A spray from many addresses: past AccountSprayFailures, only addresses
	// that already failed for alice are refused.
	for i := range 10 {
		login("wrong", fmt.Sprintf("192.0.2.%d", i+1))
	}
	if err := login("wrong again", "192.0.2.3"); !throttled(err) {
		t.Fatalf("a spraying address during the spray: %v, want throttled", err)
	}
	if err := login("correct horse battery", "203.0.113.9"); err != nil {
		t.Fatalf("alice from a clean address during the spray: %v", err)
	}
	// The per-address bound holds across names.
	for i := range 8 {
		e.svc.Login(ctx, protocol.LoginRequest{Name: fmt.Sprintf("n%d", i), Password: "x"}, "198.51.100.99")
	}
	if err := login("correct horse battery", "198.51.100.99"); !throttled(err) {
		t.Fatalf("an address over its own bound: %v, want throttled", err)
	}
}

// TestBusyAnswers503: BusyError (too many password hashes at once) is 503
// with Retry-After, not 429 or 500.
func TestBusyAnswers503(t *testing.T) {
	hasher := auth.NewHasher(auth.Params{Time: 1, Memory: 1024, Threads: 1}, 1, time.Millisecond)
	e := newEnv(t, func(c *app.Config) { c.Hasher = hasher })
	e.user("bob", perm.RoleScreenShareAgent)
	release, err := hasher.Acquire(context.Background()) // another sign-in hashing
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	c := e.client()
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/login", strings.NewReader(`{"name":"bob","password":"correct horse battery"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("sign-in with every hash slot taken: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	release()
	mustDo(t, c, "POST", "/api/v1/login", protocol.LoginRequest{Name: "bob", Password: "correct horse battery"}, nil, 200)
}

// TestEnrollmentRateLimited: wrong tokens are limited per address, and a
// valid token per token, so a leaked token cannot flood the store.
func TestEnrollmentRateLimited(t *testing.T) {
	e := newEnv(t, func(c *app.Config) { c.EnrollFailuresPerAddress = 3; c.EnrollPerToken = 4 })
	ctx := context.Background()
	enroll := func(tok, ip string, i int) error {
		_, err := e.svc.Enroll(ctx, protocol.EnrollRequest{Token: tok, Protocol: protocol.Version, Inventory: protocol.Inventory{Hostname: fmt.Sprintf("pc-%d", i)}}, ip)
		return err
	}
	throttled := func(err error) bool { var te *app.ThrottledError; return errors.As(err, &te) }
	for i := range 3 {
		if err := enroll("tet_wrong", "198.51.100.1", i); !errors.Is(err, app.ErrBadToken) {
			t.Fatalf("wrong token %d: %v", i, err)
		}
	}
	tok, err := e.svc.IssueEnrollmentToken(ctx, protocol.CreateTokenRequest{}, "test", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := enroll(tok.Token, "198.51.100.1", 10); !throttled(err) {
		t.Fatalf("an address that tried 3 wrong tokens: %v, want throttled", err)
	}
	for i := range 4 {
		if err := enroll(tok.Token, fmt.Sprintf("203.0.113.%d", i), 20+i); err != nil {
			t.Fatalf("enrollment %d: %v", i, err)
		}
	}
	if err := enroll(tok.Token, "203.0.113.99", 30); !throttled(err) {
		t.Fatalf("fifth enrollment with one token: %v, want throttled", err)
	}
	e.clock.Add(11 * time.Minute)
	if err := enroll(tok.Token, "198.51.100.1", 40); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// TestCodeLimitPerIPv6Prefix: one subscriber's /64 is one address for the
// connection-code limits, so it cannot take the server-wide bound alone by
// rotating addresses.
func TestCodeLimitPerIPv6Prefix(t *testing.T) {
	e := newEnv(t, func(c *app.Config) { c.CodeIPFailures = 4; c.CodeEndpointFailures = 100 })
	ctx := context.Background()
	_, secret := e.enroll("v6-pc", "Default")
	for i := range 4 {
		if _, err := e.svc.RedeemCode(ctx, secret, "000-000-000", fmt.Sprintf("2001:db8:aa:bb::%x", i+1)); !errors.Is(err, app.ErrWrongCode) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	var te *app.ThrottledError
	if _, err := e.svc.RedeemCode(ctx, secret, "000-000-000", "2001:db8:aa:bb::beef"); !errors.As(err, &te) {
		t.Fatalf("another address of the same /64: %v, want throttled", err)
	}
	if _, err := e.svc.RedeemCode(ctx, secret, "000-000-000", "2001:db8:aa:cc::1"); !errors.Is(err, app.ErrWrongCode) {
		t.Fatalf("another /64: %v, want a plain wrong code", err)
	}
}

// TestMetricsAccess: /metrics answers loopback clients only, or whoever
// bears metrics_token when one is set.
func TestMetricsAccess(t *testing.T) {
	h := api.MetricsHandler("", true)
	get := func(h http.Handler, remote, bearer, forwarded string) int {
		r := httptest.NewRequest("GET", "/metrics", nil)
		r.RemoteAddr = remote
		if forwarded != "" {
			r.Header.Set("X-Forwarded-For", forwarded)
		}
		if bearer != "" {
			r.Header.Set("Authorization", "Bearer "+bearer)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for _, tc := range []struct {
		h                         http.Handler
		remote, bearer, forwarded string
		want                      int
	}{
		// A load balancer on this host passes somebody else's request.
		{h, "127.0.0.1:5000", "", "203.0.113.4", 403},
		{h, "127.0.0.1:5000", "", "", 200},
		{h, "[::1]:5000", "", "", 200},
		{h, "10.0.0.5:5000", "", "", 403},
		{h, "203.0.113.4:5000", "anything", "", 403},
		{api.MetricsHandler("s3cret", true), "203.0.113.4:5000", "s3cret", "", 200},
		{api.MetricsHandler("s3cret", true), "203.0.113.4:5000", "wrong", "", 401},
		{api.MetricsHandler("s3cret", true), "127.0.0.1:5000", "", "", 401},
		// metrics_listen: whoever reaches that address, or the token's bearers.
		{api.MetricsHandler("", false), "10.0.0.5:5000", "", "", 200},
		{api.MetricsHandler("s3cret", false), "10.0.0.5:5000", "", "", 401},
	} {
		if got := get(tc.h, tc.remote, tc.bearer, tc.forwarded); got != tc.want {
			t.Errorf("from %s (forwarded for %q) with %q: %d, want %d", tc.remote, tc.forwarded, tc.bearer, got, tc.want)
		}
	}
}

// failingAudit is a store whose audit log fails once fail is set.
type failingAudit struct {
	store.Store
	fail atomic.Bool
}

func (f *failingAudit) AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error) {
	if f.fail.Load() {
		return store.AuditRecord{}, errors.New("disk full")
	}
	return f.Store.AppendAudit(ctx, r)
}

// TestNoUnauditedChange: when the audit log cannot be written, security
// changes are refused (503) and not made.
func TestNoUnauditedChange(t *testing.T) {
	var fa *failingAudit
	e := newEnv(t, func(c *app.Config) { fa = &failingAudit{Store: c.Store}; c.Store = fa })
	admin := e.user("admin", perm.RoleAdministrator)
	epID, _ := e.enroll("audit-pc", "Default")
	fa.fail.Store(true)
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/users", protocol.CreateUserRequest{Name: "ghost", Password: "long enough password", Roles: []string{perm.RoleAdministrator}}},
		{"POST", "/api/v1/roles", protocol.RoleRequest{Name: "Ghost", Permissions: []string{string(perm.UsersManage)}}},
		{"POST", "/api/v1/groups", protocol.Group{Name: "Ghosts"}},
		{"PUT", "/api/v1/policies/global", `{"screenshare":{"unattended_allowed":true}}`},
		{"POST", "/api/v1/enrollment-tokens", protocol.CreateTokenRequest{}},
		{"POST", "/api/v1/endpoints/" + epID + "/revoke", map[string]any{}},
	} {
		if st := admin.do(r.method, r.path, r.body, nil); st != 503 {
			t.Errorf("%s %s with the audit log failing: %d, want 503 (%s)", r.method, r.path, st, admin.last)
		}
	}
	// A sign-in cannot be recorded either: refused.
	if st := e.client().do("POST", "/api/v1/login", protocol.LoginRequest{Name: "admin", Password: "correct horse battery"}, nil); st != 503 {
		t.Errorf("sign-in with the audit log failing: %d, want 503", st)
	}
	fa.fail.Store(false)
	var us struct{ Users []protocol.User }
	mustDo(t, admin, "GET", "/api/v1/users", nil, &us, 200)
	for _, u := range us.Users {
		if u.Name == "ghost" {
			t.Error("the user was created without an audit record")
		}
	}
	var p protocol.Policy
	mustDo(t, admin, "GET", "/api/v1/policies/global", nil, &p, 200)
	if strings.Contains(string(p.Doc), "unattended") {
		t.Errorf("the policy changed without an audit record: %s", p.Doc)
	}
	mustDo(t, admin, "GET", "/api/v1/endpoints/"+epID, nil, nil, 200) // not revoked
	var gs struct{ Groups []protocol.Group }
	mustDo(t, admin, "GET", "/api/v1/groups", nil, &gs, 200)
	for _, g := range gs.Groups {
		if g.Name == "Ghosts" {
			t.Error("the group was created without an audit record")
		}
	}
	var ts struct{ Tokens []protocol.EnrollmentToken }
	mustDo(t, admin, "GET", "/api/v1/enrollment-tokens", nil, &ts, 200)
	if len(ts.Tokens) != 1 { // the fixture's own
		t.Errorf("%d enrollment tokens, want only the fixture's", len(ts.Tokens))
	}
}

// TestCodeLimitOneAddressCannotBlockEveryone: with the default limits, one
// address (with many enrolled endpoints behind it) is stopped by its own
// bucket long before the server-wide bound, so an end user elsewhere still
// gets their code evaluated.
func TestCodeLimitOneAddressCannotBlockEveryone(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var secrets []string
	for i := range 40 {
		_, s := e.enroll(fmt.Sprintf("flood-pc-%d", i), "Default")
		secrets = append(secrets, s)
	}
	throttled := 0
	for i := range 400 {
		_, err := e.svc.RedeemCode(ctx, secrets[i%len(secrets)], "000-000-000", "203.0.113.7")
		var te *app.ThrottledError
		if errors.As(err, &te) {
			throttled++
		} else if !errors.Is(err, app.ErrWrongCode) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if throttled < 300 {
		t.Fatalf("only %d of 400 guesses from one address were throttled", throttled)
	}
	_, victim := e.enroll("victim-pc", "Default")
	if _, err := e.svc.RedeemCode(ctx, victim, "000-000-000", "198.51.100.20"); !errors.Is(err, app.ErrWrongCode) {
		t.Fatalf("an end user at another address after the flood: %v, want the code evaluated (wrong code)", err)
	}
}

func makeGroup(t *testing.T, admin *client, name string) protocol.Group {
	t.Helper()
	var g protocol.Group
	if st := admin.do("POST", "/api/v1/groups", protocol.Group{Name: name}, &g); st != http.StatusCreated {
		t.Fatalf("create group %s: %d %s", name, st, admin.last)
	}
	return g
}

func screenPolicyOf(t *testing.T, c *client, id string) protocol.EndpointScreenShare {
	t.Helper()
	var ep protocol.Endpoint
	if st := c.do("GET", "/api/v1/endpoints/"+id, nil, &ep); st != 200 || ep.ScreenShare == nil {
		t.Fatalf("get endpoint: %d %s", st, c.last)
	}
	return *ep.ScreenShare
}

func countAudit(t *testing.T, c *client, typ protocol.AuditType) int {
	t.Helper()
	var rs struct{ Records []protocol.AuditRecord }
	if st := c.do("GET", "/api/v1/audit?type="+string(typ), nil, &rs); st != 200 {
		t.Fatalf("audit: %d %s", st, c.last)
	}
	return len(rs.Records)
}

// TestRenameCannotWeakenConsent: a group's name orders the policies of an
// endpoint's extra groups, so renaming a weak group past a strict one
// weakens consent; that needs unscoped screenshare.settings like a policy
// change, and is audited as policy.consent_weakened.
func TestRenameCannotWeakenConsent(t *testing.T) {
	e := newEnv(t)
	admin := e.user("root", perm.RoleAdministrator)
	kiosk := makeGroup(t, admin, "Kiosk")
	makeGroup(t, admin, "Strict")
	ep, _ := e.enroll("desk-1", "Default")
	if st := admin.do("PUT", "/api/v1/endpoints/"+ep+"/groups", protocol.EndpointGroupsRequest{Groups: []string{"Kiosk", "Strict"}}, nil); st != 200 {
		t.Fatalf("groups: %d %s", st, admin.last)
	}
	if st := admin.do("PUT", "/api/v1/policies/Strict", `{"screenshare":{"acceptance_required":true,"unattended_allowed":false}}`, nil); st != 200 {
		t.Fatalf("strict policy: %d %s", st, admin.last)
	}
	if st := admin.do("PUT", "/api/v1/policies/Kiosk", `{"screenshare":{"acceptance_required":false,"unattended_allowed":true}}`, nil); st != 200 {
		t.Fatalf("kiosk policy: %d %s", st, admin.last)
	}
	if sp := screenPolicyOf(t, admin, ep); !sp.AcceptanceRequired || sp.UnattendedAllowed {
		t.Fatalf("setup: desk-1 should require acceptance: %+v", sp)
	}
	scoped := e.user("kadmin", perm.RoleAdministrator+"@Kiosk")
	if st := scoped.do("PUT", "/api/v1/groups/"+kiosk.ID, protocol.GroupRequest{Name: "ZZ Kiosk"}, nil); st != 403 {
		t.Fatalf("a scoped rename that weakens consent: %d %s, want 403", st, scoped.last)
	}
	if sp := screenPolicyOf(t, admin, ep); !sp.AcceptanceRequired || sp.UnattendedAllowed {
		t.Fatalf("desk-1 after a refused rename: %+v", sp)
	}
	// A rename that weakens nothing stays the scoped manager's to make.
	if st := scoped.do("PUT", "/api/v1/groups/"+kiosk.ID, protocol.GroupRequest{Name: "A Kiosk"}, nil); st != 200 {
		t.Fatalf("a harmless rename: %d %s", st, scoped.last)
	}
	before := countAudit(t, admin, protocol.AuditPolicyWeakened)
	if st := admin.do("PUT", "/api/v1/groups/"+kiosk.ID, protocol.GroupRequest{Name: "ZZ Kiosk"}, nil); st != 200 {
		t.Fatalf("the administrator's rename: %d %s", st, admin.last)
	}
	if sp := screenPolicyOf(t, admin, ep); sp.AcceptanceRequired {
		t.Fatalf("desk-1 after the administrator's rename: %+v", sp)
	}
	if n := countAudit(t, admin, protocol.AuditPolicyWeakened); n != before+1 {
		t.Fatalf("%d policy.consent_weakened records after the rename, want %d", n, before+1)
	}
}

// TestMembershipCannotWeakenConsent: putting an endpoint by hand into a
// group whose policy drops the prompt weakens its consent: refused to one
// who manages both groups but not screenshare.settings everywhere.
func TestMembershipCannotWeakenConsent(t *testing.T) {
	e := newEnv(t)
	admin := e.user("root", perm.RoleAdministrator)
	makeGroup(t, admin, "Desktops")
	makeGroup(t, admin, "Kiosk")
	ep, _ := e.enroll("desk-1", "Desktops")
	if st := admin.do("PUT", "/api/v1/policies/Kiosk", `{"screenshare":{"acceptance_required":false,"unattended_allowed":true,"user_may_end":false}}`, nil); st != 200 {
		t.Fatalf("kiosk policy: %d %s", st, admin.last)
	}
	alice := e.user("alice", perm.RoleAdministrator+"@Desktops", perm.RoleAdministrator+"@Kiosk")
	if st := alice.do("PUT", "/api/v1/endpoints/"+ep+"/groups", protocol.EndpointGroupsRequest{Groups: []string{"Kiosk"}}, nil); st != 403 {
		t.Fatalf("adding desk-1 to Kiosk: %d %s, want 403", st, alice.last)
	}
	if sp := screenPolicyOf(t, admin, ep); !sp.AcceptanceRequired || sp.UnattendedAllowed {
		t.Fatalf("desk-1 after a refused move: %+v", sp)
	}
	before := countAudit(t, admin, protocol.AuditPolicyWeakened)
	if st := admin.do("PUT", "/api/v1/endpoints/"+ep+"/groups", protocol.EndpointGroupsRequest{Groups: []string{"Kiosk"}}, nil); st != 200 {
		t.Fatalf("the administrator adds desk-1 to Kiosk: %d %s", st, admin.last)
	}
	if n := countAudit(t, admin, protocol.AuditPolicyWeakened); n != before+1 {
		t.Fatalf("%d policy.consent_weakened records, want %d", n, before+1)
	}
	// Taking it out again strengthens consent: the scoped manager may.
	if st := alice.do("PUT", "/api/v1/endpoints/"+ep+"/groups", protocol.EndpointGroupsRequest{Groups: nil}, nil); st != 200 {
		t.Fatalf("taking desk-1 out of Kiosk: %d %s", st, alice.last)
	}
}

// TestOwnSessionFollowsScope: a technician's own session is theirs only
// while their roles cover the endpoint; a change of roles closes the
// viewer, and reading, rejoining and control are refused.
func TestOwnSessionFollowsScope(t *testing.T) {
	e := newEnv(t)
	admin := e.user("root", perm.RoleAdministrator)
	makeGroup(t, admin, "G1")
	makeGroup(t, admin, "G2")
	ep, _ := e.enroll("desk-1", "G1")
	tech := e.user("tech", perm.RoleScreenShareAgent+"@G1")
	var s protocol.Session
	if st := tech.do("POST", "/api/v1/sessions", protocol.CreateSessionRequest{EndpointID: ep, Attended: true}, &s); st != 201 {
		t.Fatalf("session: %d %s", st, tech.last)
	}
	v, st, err := e.dial(t, tech, "/api/v1/sessions/"+s.ID+"/signal", "", nil)
	if err != nil {
		t.Fatalf("dial: %d %v", st, err)
	}
	v.expect(protocol.SignalHello)
	roles := []string{perm.RoleScreenShareAgent + "@G2"}
	if st := admin.do("PATCH", "/api/v1/users/"+e.userID("tech"), protocol.UpdateUserRequest{Roles: &roles}, nil); st != 200 {
		t.Fatalf("change roles: %d %s", st, admin.last)
	}
	select {
	case <-v.closed:
	case <-time.After(2 * time.Second):
		t.Fatal("the viewer is still open 2 s after the roles stopped covering desk-1")
	}
	if st := tech.do("GET", "/api/v1/sessions/"+s.ID, nil, nil); st != 404 {
		t.Errorf("reading the session: %d, want 404", st)
	}
	var list struct{ Sessions []protocol.Session }
	tech.do("GET", "/api/v1/sessions", nil, &list)
	if len(list.Sessions) != 0 {
		t.Errorf("the session list still shows %d sessions", len(list.Sessions))
	}
	if _, st, err := e.dial(t, tech, "/api/v1/sessions/"+s.ID+"/signal", "", nil); err == nil || st != 404 {
		t.Errorf("rejoining: %d %v, want 404", st, err)
	}
	if st := tech.do("DELETE", "/api/v1/sessions/"+s.ID, nil, nil); st != 404 {
		t.Errorf("ending: %d, want 404", st)
	}
}
