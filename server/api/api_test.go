package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/api"
	"github.com/tetherdesk/tether/server/app"
	"github.com/tetherdesk/tether/server/store/sqlstore"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

func TestLoginWrongPasswordAndThrottling(t *testing.T) {
	e := newEnv(t)
	e.user("alice", perm.RoleScreenShareAgent)
	c := e.client()
	for i := range 5 {
		if st := c.do("POST", "/api/v1/login", protocol.LoginRequest{Name: "alice", Password: "wrong"}, nil); st != 401 {
			t.Fatalf("attempt %d: status %d, want 401", i+1, st)
		}
	}
	// Throttled now, even with the right password.
	if st := c.do("POST", "/api/v1/login", protocol.LoginRequest{Name: "alice", Password: "correct horse battery"}, nil); st != 429 {
		t.Fatalf("after 5 failures: status %d, want 429 (%s)", st, c.last)
	}
	if got := c.apiError().Code; got != protocol.CodeThrottled {
		t.Errorf("code = %q", got)
	}
	// Other accounts are unaffected by alice's lock.
	e.user("bob", perm.RoleScreenShareAgent)
	// The window passes and alice may sign in again.
	e.clock.Add(16 * time.Minute)
	if st := c.do("POST", "/api/v1/login", protocol.LoginRequest{Name: "alice", Password: "correct horse battery"}, nil); st != 200 {
		t.Fatalf("after the window: status %d, want 200 (%s)", st, c.last)
	}
	// An unknown account answers like a wrong password.
	if st := c.do("POST", "/api/v1/login", protocol.LoginRequest{Name: "nobody", Password: "x"}, nil); st != 401 {
		t.Fatalf("unknown user: status %d", st)
	}
}

func TestLoginThrottledPerIP(t *testing.T) {
	e := newEnv(t, func(c *app.Config) { c.IPFailures = 8 })
	e.user("carol", perm.RoleScreenShareAgent)
	c := e.client()
	for i := range 8 {
		// Spread over names so the per-account limit never triggers.
		if st := c.do("POST", "/api/v1/login", protocol.LoginRequest{Name: fmt.Sprintf("spray-%d", i), Password: "x"}, nil); st != 401 {
			t.Fatalf("attempt %d: %d", i, st)
		}
	}
	if st := c.do("POST", "/api/v1/login", protocol.LoginRequest{Name: "carol", Password: "correct horse battery"}, nil); st != 429 {
		t.Fatalf("after IP limit: status %d, want 429", st)
	}
}

func TestMalformedJSON(t *testing.T) {
	e := newEnv(t)
	admin := e.user("admin", perm.RoleAdministrator)
	epID, secret := e.enroll("json-pc", "Default")
	agent := e.client()
	agent.bearer = secret
	cases := []struct {
		name string
		c    *client
		path string
		body string
	}{
		{"login truncated", e.client(), "/api/v1/login", `{"name":"admin"`},
		{"login wrong type", e.client(), "/api/v1/login", `{"name":1}`},
		{"login unknown field", e.client(), "/api/v1/login", `{"name":"a","password":"b","x":1}`},
		{"login empty", e.client(), "/api/v1/login", ``},
		{"action garbage", admin, "/api/v1/endpoints/" + epID + "/actions", `not json`},
		{"action trailing", admin, "/api/v1/endpoints/" + epID + "/actions", `{"type":"echo"} {}`},
		{"user array", admin, "/api/v1/users", `[1,2]`},
		{"enroll truncated", e.client(), protocol.PathEnroll, `{"token":`},
		{"poll truncated", agent, protocol.PathPoll, `{"wait":tru`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.t = t
			if st := tc.c.do("POST", tc.path, tc.body, nil); st != 400 {
				t.Fatalf("status = %d, want 400 (%s)", st, tc.c.last)
			}
			if e := tc.c.apiError(); e.Code != protocol.CodeBadRequest || e.Error == "" {
				t.Fatalf("error body = %+v", e)
			}
		})
	}
	// Too large a body is refused as such.
	big := `{"type":"echo","payload":"` + strings.Repeat("x", 2<<20) + `"}`
	if st := admin.do("POST", "/api/v1/endpoints/"+epID+"/actions", big, nil); st != 413 {
		t.Fatalf("2 MiB body: status %d, want 413", st)
	}
}

func TestEndpointsOutsideGroupsInvisible(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.store.CreateGroup(ctx, "Sales"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateGroup(ctx, "Finance"); err != nil {
		t.Fatal(err)
	}
	salesID, _ := e.enroll("sales-laptop", "Sales", "10.1.0.5")
	finID, _ := e.enroll("finance-laptop", "Finance", "10.2.0.5")
	tech := e.user("tech", perm.RoleScreenShareAgent+"@Sales")
	admin := e.user("admin", perm.RoleAdministrator)

	search := func(c *client, q string) []string {
		t.Helper()
		var l protocol.EndpointList
		if st := c.do("GET", "/api/v1/endpoints?q="+q, nil, &l); st != 200 {
			t.Fatalf("search %q: %d", q, st)
		}
		var names []string
		for _, ep := range l.Endpoints {
			names = append(names, ep.Hostname)
		}
		return names
	}
	for _, tc := range []struct {
		c    *client
		q    string
		want string
	}{
		{tech, "laptop", "sales-laptop"},
		{tech, "10.", "sales-laptop"},
		{tech, "FINANCE", ""},
		{tech, "10.2", ""},
		{admin, "laptop", "finance-laptop,sales-laptop"},
		{admin, "10.2", "finance-laptop"},
		{admin, "LAPTOP", "finance-laptop,sales-laptop"},
		{admin, "127.0", "finance-laptop,sales-laptop"}, // the address the server saw
	} {
		if got := strings.Join(search(tc.c, tc.q), ","); got != tc.want {
			t.Errorf("search %q: got %q, want %q", tc.q, got, tc.want)
		}
	}
	if st := tech.do("GET", "/api/v1/endpoints/"+finID, nil, nil); st != 404 {
		t.Errorf("other group's endpoint: status %d, want 404", st)
	}
	if st := tech.do("GET", "/api/v1/endpoints/"+salesID, nil, nil); st != 200 {
		t.Errorf("own group's endpoint: status %d, want 200", st)
	}
}

func TestCSRFRequiredForCookieWrites(t *testing.T) {
	e := newEnv(t)
	admin := e.user("admin", perm.RoleAdministrator)
	csrf := admin.csrf
	admin.csrf = ""
	if st := admin.do("POST", "/api/v1/groups", protocol.Group{Name: "NoToken"}, nil); st != 403 || admin.apiError().Code != protocol.CodeCSRF {
		t.Fatalf("without CSRF token: %d %s", st, admin.last)
	}
	admin.csrf = "wrong"
	if st := admin.do("POST", "/api/v1/groups", protocol.Group{Name: "WrongToken"}, nil); st != 403 {
		t.Fatalf("with wrong CSRF token: %d", st)
	}
	admin.csrf = csrf
	if st := admin.do("POST", "/api/v1/groups", protocol.Group{Name: "RightToken"}, nil); st != 201 {
		t.Fatalf("with CSRF token: %d %s", st, admin.last)
	}
	// A bearer token needs none.
	var tok protocol.APIToken
	if st := admin.do("POST", "/api/v1/api-tokens", protocol.CreateAPITokenRequest{Name: "ci"}, &tok); st != 201 {
		t.Fatal(st)
	}
	bot := e.client()
	bot.bearer = tok.Token
	if st := bot.do("POST", "/api/v1/groups", protocol.Group{Name: "ByBearer"}, nil); st != 201 {
		t.Fatalf("bearer write: %d %s", st, bot.last)
	}
	bot.bearer = tok.Token + "x"
	if st := bot.do("GET", "/api/v1/me", nil, nil); st != 401 {
		t.Fatalf("bad bearer: %d", st)
	}
}

func TestLogoutEndsSession(t *testing.T) {
	e := newEnv(t)
	c := e.user("dora", perm.RoleScreenShareAgent)
	if st := c.do("POST", "/api/v1/logout", map[string]any{}, nil); st != 200 {
		t.Fatal(st)
	}
	if st := c.do("GET", "/api/v1/me", nil, nil); st != 401 {
		t.Fatalf("after logout: %d", st)
	}
}

func TestSessionExpires(t *testing.T) {
	e := newEnv(t, func(c *app.Config) { c.SessionTTL = time.Hour })
	c := e.user("erin", perm.RoleScreenShareAgent)
	if st := c.do("GET", "/api/v1/me", nil, nil); st != 200 {
		t.Fatal(st)
	}
	// The store compares expiry with the wall clock, so expire it for real:
	// a session created an hour in the past.
	e.clock.Add(-2 * time.Hour)
	c2 := e.client()
	if st := c2.do("POST", "/api/v1/login", protocol.LoginRequest{Name: "erin", Password: "correct horse battery"}, nil); st != 200 {
		t.Fatal(st)
	}
	if st := c2.do("GET", "/api/v1/me", nil, nil); st != 401 {
		t.Fatalf("expired session: %d, want 401", st)
	}
}

// TestGuardWithholdsUncheckedAnswers proves a handler that forgets its
// permission check cannot answer successfully.
func TestGuardWithholdsUncheckedAnswers(t *testing.T) {
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc, err := app.New(app.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	h, err := api.Handler(api.Config{Service: svc, Extra: func(mux *http.ServeMux) {
		mux.HandleFunc("GET /forgot", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("secret data")) })
	}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/forgot", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "secret") {
		t.Fatalf("unchecked handler answered %d %q", rec.Code, rec.Body.String())
	}
}

func TestEnrollBadToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	inv := protocol.Inventory{Hostname: "pc", OS: "linux", Arch: "amd64"}
	revoked, _ := e.svc.IssueEnrollmentToken(ctx, protocol.CreateTokenRequest{}, "test", false)
	if err := e.store.RevokeEnrollmentToken(ctx, revoked.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	expiring, _ := e.svc.IssueEnrollmentToken(ctx, protocol.CreateTokenRequest{TTLHours: 1}, "test", false)
	e.clock.Add(2 * time.Hour)
	for name, tok := range map[string]string{"unknown": "tet_made_up", "empty": "", "revoked": revoked.Token, "expired": expiring.Token} {
		t.Run(name, func(t *testing.T) {
			c := e.client()
			c.t = t
			if st := c.do("POST", protocol.PathEnroll, protocol.EnrollRequest{Token: tok, Inventory: inv}, nil); st != 401 {
				t.Fatalf("status %d, want 401", st)
			}
			if code := c.apiError().Code; code != protocol.CodeBadToken {
				t.Fatalf("code %q, want bad_token", code)
			}
		})
	}
}

func TestPollHeldAnsweredAtOnceWhenActionQueued(t *testing.T) {
	e := newEnv(t) // PollHold 30 s: an unwoken poll would come back empty
	admin := e.user("admin", perm.RoleAdministrator)
	epID, secret := e.enroll("held-pc", "Default")
	// First poll collects the policy without waiting.
	first, st := e.poll(secret, protocol.PollRequest{})
	if st != 200 || first.Policy == nil {
		t.Fatalf("first poll: %d policy=%v", st, first.Policy)
	}
	type answer struct {
		resp protocol.PollResponse
		st   int
	}
	got := make(chan answer, 1)
	go func() {
		r, st := e.poll(secret, protocol.PollRequest{Wait: true, PolicyVersion: first.Policy.Version})
		got <- answer{r, st}
	}()
	waitHeld(t, e, epID)
	var act protocol.ActionStatus
	if st := admin.do("POST", "/api/v1/endpoints/"+epID+"/actions", protocol.QueueActionRequest{Type: protocol.ActionEcho, Payload: json.RawMessage(`{"message":"hi"}`)}, &act); st != 202 {
		t.Fatalf("queue: %d %s", st, admin.last)
	}
	a := <-got
	if a.st != 200 || len(a.resp.Actions) != 1 || a.resp.Actions[0].ID != act.ID {
		t.Fatalf("held poll answered %d with %+v, want action %s", a.st, a.resp.Actions, act.ID)
	}
	// Report the result twice (a lost answer): it is recorded once.
	res := protocol.ActionResult{ID: act.ID, OK: true, Output: json.RawMessage(`{"message":"hi"}`)}
	for range 2 {
		if _, st := e.poll(secret, protocol.PollRequest{Results: []protocol.ActionResult{res}, PolicyVersion: first.Policy.Version}); st != 200 {
			t.Fatal(st)
		}
	}
	var status protocol.ActionStatus
	if st := admin.do("GET", "/api/v1/actions/"+act.ID, nil, &status); st != 200 {
		t.Fatal(st)
	}
	if status.State != protocol.ActionDone || string(status.Output) != `{"message":"hi"}` {
		t.Fatalf("status = %+v", status)
	}
	// Not offered again.
	again, _ := e.poll(secret, protocol.PollRequest{PolicyVersion: first.Policy.Version})
	if len(again.Actions) != 0 {
		t.Fatalf("finished action offered again: %+v", again.Actions)
	}
}

func TestUnackedActionOfferedAgain(t *testing.T) {
	e := newEnv(t)
	admin := e.user("admin", perm.RoleAdministrator)
	epID, secret := e.enroll("lossy-pc", "Default")
	var act protocol.ActionStatus
	admin.do("POST", "/api/v1/endpoints/"+epID+"/actions", protocol.QueueActionRequest{Type: protocol.ActionEcho}, &act)
	r1, _ := e.poll(secret, protocol.PollRequest{})
	r2, _ := e.poll(secret, protocol.PollRequest{}) // the first answer was "lost"
	if len(r1.Actions) != 1 || len(r2.Actions) != 1 || r2.Actions[0].ID != act.ID {
		t.Fatalf("re-offer: %+v then %+v", r1.Actions, r2.Actions)
	}
	r3, _ := e.poll(secret, protocol.PollRequest{Acks: []string{act.ID}})
	if len(r3.Actions) != 0 {
		t.Fatalf("acked action offered again: %+v", r3.Actions)
	}
}

func TestAgentCannotTouchOthersActions(t *testing.T) {
	e := newEnv(t)
	admin := e.user("admin", perm.RoleAdministrator)
	epA, _ := e.enroll("pc-a", "Default")
	_, secretB := e.enroll("pc-b", "Default")
	var act protocol.ActionStatus
	admin.do("POST", "/api/v1/endpoints/"+epA+"/actions", protocol.QueueActionRequest{Type: protocol.ActionEcho}, &act)
	e.poll(secretB, protocol.PollRequest{Results: []protocol.ActionResult{{ID: act.ID, OK: false, Error: "forged"}}})
	var status protocol.ActionStatus
	admin.do("GET", "/api/v1/actions/"+act.ID, nil, &status)
	if status.State != protocol.ActionQueued {
		t.Fatalf("another agent changed the action: %+v", status)
	}
}

func TestRevokedAgentRefused(t *testing.T) {
	e := newEnv(t)
	admin := e.user("admin", perm.RoleAdministrator)
	epID, secret := e.enroll("gone-pc", "Default")
	if _, st := e.poll(secret, protocol.PollRequest{}); st != 200 {
		t.Fatal(st)
	}
	if st := admin.do("POST", "/api/v1/endpoints/"+epID+"/revoke", map[string]any{}, nil); st != 200 {
		t.Fatal(st, string(admin.last))
	}
	c := e.client()
	c.bearer = secret
	if st := c.do("POST", protocol.PathPoll, protocol.PollRequest{}, nil); st != 401 || c.apiError().Code != protocol.CodeBadSecret {
		t.Fatalf("revoked poll: %d %s", st, c.last)
	}
	c.bearer = "tas_unknown"
	if st := c.do("POST", protocol.PathPoll, protocol.PollRequest{}, nil); st != 401 {
		t.Fatalf("unknown secret: %d", st)
	}
}

func TestOnlineState(t *testing.T) {
	e := newEnv(t)
	admin := e.user("admin", perm.RoleAdministrator)
	epID, secret := e.enroll("presence-pc", "Default")
	get := func() protocol.Endpoint {
		var ep protocol.Endpoint
		if st := admin.do("GET", "/api/v1/endpoints/"+epID, nil, &ep); st != 200 {
			t.Fatal(st)
		}
		return ep
	}
	e.poll(secret, protocol.PollRequest{})
	if !get().Online {
		t.Fatal("offline right after a poll")
	}
	e.clock.Add(41 * time.Second) // beyond PollHold (30 s) + grace (10 s)
	if ep := get(); ep.Online {
		t.Fatalf("online %s after the last poll", 41*time.Second)
	}
	e.poll(secret, protocol.PollRequest{})
	if !get().Online {
		t.Fatal("offline after polling again")
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if st := c.do("GET", p, nil, nil); st != 200 {
			t.Errorf("%s: %d", p, st)
		}
	}
	c.do("GET", "/metrics", nil, nil)
	if !strings.Contains(string(c.last), "tether_http_requests_total") {
		t.Error("metrics lack tether_http_requests_total")
	}

	// /readyz reports the audit chain's check, and stays ready whatever it
	// found; a broken chain is not a reason to stop serving.
	readyz := func(auditChain string) {
		t.Helper()
		if st := c.do("GET", "/readyz", nil, nil); st != 200 {
			t.Fatalf("readyz: %d %s", st, c.last)
		}
		want := `{"status":"ready","checks":{"store":"ok","audit_chain":"` + auditChain + `","nats":"off"}}`
		if got := strings.TrimSpace(string(c.last)); got != want {
			t.Fatalf("readyz:\n got  %s\n want %s", got, want)
		}
	}
	gauge := func(want string) {
		t.Helper()
		c.do("GET", "/metrics", nil, nil)
		if !strings.Contains(string(c.last), "\ntether_audit_chain_intact "+want+"\n") {
			t.Fatalf("metrics lack tether_audit_chain_intact %s", want)
		}
	}
	check := func() {
		t.Helper()
		if _, err := e.svc.CheckAuditChain(context.Background(), app.AuditTailRecords); err != nil {
			t.Fatal(err)
		}
	}
	readyz("unchecked")
	e.user("admin", perm.RoleAdministrator) // audited: user created, sign-in
	check()
	readyz("ok")
	gauge("1")

	if _, err := e.store.(*sqlstore.Store).DB().Exec(`UPDATE audit_log SET actor = 'mallory' WHERE seq = 1`); err != nil {
		t.Fatal(err)
	}
	check()
	readyz("broken at seq 1: hash mismatch")
	gauge("0")

	// The store failing is still 503.
	e.store.Close()
	if st := c.do("GET", "/readyz", nil, nil); st != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the store closed: %d %s", st, c.last)
	}
}

// waitHeld waits until the agent's poll is held by the server.
func waitHeld(t *testing.T, e *env, epID string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if e.svc.Holding(epID) {
			return
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not synchronising on time
	}
	t.Fatal("poll never held")
}

// TestEnrollRetryKeepsIdentity: an agent whose enrollment answer was lost
// retries with the same token and nonce and gets its endpoint back.
func TestEnrollRetryKeepsIdentity(t *testing.T) {
	e := newEnv(t)
	tok, err := e.svc.IssueEnrollmentToken(context.Background(), protocol.CreateTokenRequest{}, "test", false)
	if err != nil {
		t.Fatal(err)
	}
	enroll := func(nonce string) (protocol.EnrollResponse, int) {
		var r protocol.EnrollResponse
		st := e.client().do("POST", protocol.PathEnroll, protocol.EnrollRequest{Token: tok.Token, Nonce: nonce,
			Inventory: protocol.Inventory{Hostname: "retry-pc", OS: "linux", Arch: "amd64"}}, &r)
		return r, st
	}
	first, st := enroll("nonce-0123456789abcdef")
	if st != 201 {
		t.Fatal(st)
	}
	again, st := enroll("nonce-0123456789abcdef")
	if st != 201 || again.AgentID != first.AgentID || again.Secret == first.Secret {
		t.Fatalf("retry: %d %+v after %+v; want the same id with a new secret", st, again, first)
	}
	if _, st := e.poll(first.Secret, protocol.PollRequest{}); st != 401 {
		t.Errorf("the first, never-delivered secret still works: %d", st)
	}
	if _, st := e.poll(again.Secret, protocol.PollRequest{}); st != 200 {
		t.Errorf("the retried secret fails: %d", st)
	}
	other, _ := enroll("nonce-fedcba9876543210")
	if other.AgentID == first.AgentID {
		t.Error("another nonce got the same endpoint")
	}
	if _, st := enroll("short"); st != 400 {
		t.Errorf("short nonce: %d, want 400", st)
	}
	admin := e.user("admin", perm.RoleAdministrator)
	var l protocol.EndpointList
	admin.do("GET", "/api/v1/endpoints?q=retry-pc", nil, &l)
	if len(l.Endpoints) != 2 {
		t.Errorf("%d endpoints named retry-pc, want 2 (one per nonce)", len(l.Endpoints))
	}
}
