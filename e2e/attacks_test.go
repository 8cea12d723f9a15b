//go:build linux

package e2e

// Attacks on scoped administration and sign-in, each reproduced through
// the HTTP API of a real tether-server process, the way an attacker holding
// a scoped role (or nothing at all) would try them. Each test failed on the
// server before scope was checked against the object acted on.

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

const (
	attackGroup    = "Branch"
	attackPassword = "scoped admin password"
)

// scopedAdmin starts a server with a computer group and an administrator
// scoped to it, and returns the server and that administrator's client.
func scopedAdmin(t *testing.T, roles ...string) (*server, *apiClient) {
	t.Helper()
	s := startServer(t)
	if err := s.api.do(http.MethodPost, "/api/v1/groups", "", protocol.Group{Name: attackGroup}, nil); err != nil {
		t.Fatalf("create group: %v", err)
	}
	if len(roles) == 0 {
		roles = []string{perm.RoleAdministrator + "@" + attackGroup}
	}
	if err := s.api.do(http.MethodPost, "/api/v1/users", "", protocol.CreateUserRequest{Name: "branch-admin", Password: attackPassword, Roles: roles}, nil); err != nil {
		t.Fatalf("create scoped administrator: %v", err)
	}
	return s, s.userClient("branch-admin", attackPassword)
}

// wantStatus checks that err is an API answer with status want.
func wantStatus(t *testing.T, what string, err error, want int) {
	t.Helper()
	var ae *apiError
	switch {
	case want < 300 && err != nil:
		t.Fatalf("%s: %v, want %d", what, err, want)
	case want >= 300 && !errors.As(err, &ae):
		t.Fatalf("%s: %v, want HTTP %d", what, err, want)
	case want >= 300 && ae.Status != want:
		t.Fatalf("%s: HTTP %d (%s), want %d", what, ae.Status, ae.Body, want)
	}
}

// adminID finds the first administrator's user id.
func adminID(t *testing.T, s *server) string {
	t.Helper()
	var us struct{ Users []protocol.User }
	if err := s.api.do(http.MethodGet, "/api/v1/users", "", nil, &us); err != nil {
		t.Fatal(err)
	}
	for _, u := range us.Users {
		if u.Name == "admin" {
			return u.ID
		}
	}
	t.Fatal("no user admin")
	return ""
}

// login signs in from the local address src (127.0.0.x) and returns the
// status.
func login(t *testing.T, s *server, src, name, password string) int {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	b, _ := json.Marshal(protocol.LoginRequest{Name: name, Password: password})
	resp, err := hc.Post(s.url+"/api/v1/login", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("login from %s: %v", src, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAttackTakeoverByPasswordReset: an administrator scoped to one group
// resets the global administrator's password and signs in as them.
func TestAttackTakeoverByPasswordReset(t *testing.T) {
	s, branch := scopedAdmin(t)
	id := adminID(t, s)
	err := branch.do(http.MethodPost, "/api/v1/users/"+id+"/password", "", protocol.ResetPasswordRequest{Password: "i own this server now"}, nil)
	wantStatus(t, "scoped administrator resets the global administrator's password", err, http.StatusNotFound)
	if st := login(t, s, "127.0.0.1", "admin", "i own this server now"); st != http.StatusUnauthorized {
		t.Fatalf("sign-in with the attacker's password: %d, want 401", st)
	}
	err = branch.do(http.MethodPatch, "/api/v1/users/"+id, "", map[string]any{"disabled": true}, nil)
	wantStatus(t, "scoped administrator disables the global administrator", err, http.StatusNotFound)
	err = branch.do(http.MethodDelete, "/api/v1/users/"+id, "", nil, nil)
	wantStatus(t, "scoped administrator deletes the global administrator", err, http.StatusNotFound)
	// Its own users it still manages.
	err = branch.do(http.MethodPost, "/api/v1/users", "", protocol.CreateUserRequest{Name: "branch-tech", Password: "branch tech password",
		Roles: []string{perm.RoleScreenShareAgent + "@" + attackGroup}}, nil)
	wantStatus(t, "scoped administrator creates a technician of its group", err, http.StatusOK)
	err = branch.do(http.MethodPost, "/api/v1/users", "", protocol.CreateUserRequest{Name: "global-tech", Password: "global tech password",
		Roles: []string{perm.RoleScreenShareAgent}}, nil)
	wantStatus(t, "scoped administrator creates an unscoped technician", err, http.StatusForbidden)
}

// TestAttackTokenForAnotherGroup: a scoped administrator mints an
// enrollment token for a group outside its scope.
func TestAttackTokenForAnotherGroup(t *testing.T) {
	_, branch := scopedAdmin(t)
	err := branch.do(http.MethodPost, "/api/v1/enrollment-tokens", "", protocol.CreateTokenRequest{Group: "Default"}, nil)
	wantStatus(t, "token for Default", err, http.StatusForbidden)
	var tok protocol.EnrollmentToken
	err = branch.do(http.MethodPost, "/api/v1/enrollment-tokens", "", protocol.CreateTokenRequest{Group: attackGroup}, &tok)
	wantStatus(t, "token for its own group", err, http.StatusOK)
	var list struct{ Tokens []protocol.EnrollmentToken }
	if err := branch.do(http.MethodGet, "/api/v1/enrollment-tokens", "", nil, &list); err != nil {
		t.Fatal(err)
	}
	for _, x := range list.Tokens {
		if x.Group != attackGroup {
			t.Errorf("the scoped administrator sees a token of %q", x.Group)
		}
	}
}

// enrollRaw enrolls a made-up endpoint through the agent API.
func enrollRaw(t *testing.T, s *server, token, hostname string) string {
	t.Helper()
	var resp protocol.EnrollResponse
	err := s.newRawClient().do(http.MethodPost, protocol.PathEnroll, "", protocol.EnrollRequest{Token: token, Protocol: protocol.Version,
		Inventory: protocol.Inventory{Hostname: hostname, OS: "linux", Arch: "amd64", AgentVersion: "e2e"}}, &resp)
	if err != nil {
		t.Fatalf("enroll %s: %v", hostname, err)
	}
	return resp.AgentID
}

func (s *server) newRawClient() *apiClient {
	return &apiClient{base: s.url, hc: &http.Client{Timeout: 30 * time.Second}}
}

// TestAttackCatchAllRule: a scoped administrator puts a catch-all rule on
// its group, which would pull every endpoint of the fleet into its scope.
func TestAttackCatchAllRule(t *testing.T) {
	s, branch := scopedAdmin(t)
	enrollRaw(t, s, s.enrollmentToken(), "hq-finance-01")
	catchAll := protocol.GroupRequest{Name: attackGroup, Rules: []protocol.GroupRule{{Kind: protocol.RuleHostname, Value: "*"}}}
	err := branch.do(http.MethodPut, "/api/v1/groups/"+attackGroup, "", catchAll, nil)
	wantStatus(t, "catch-all rule on its group", err, http.StatusForbidden)
	eps, err := branch.search("")
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 0 {
		t.Fatalf("the scoped administrator sees %d endpoints outside its group: %+v", len(eps), eps)
	}
	// The global administrator may set rules.
	err = s.api.do(http.MethodPut, "/api/v1/groups/"+attackGroup, "", catchAll, nil)
	wantStatus(t, "the global administrator sets a rule", err, http.StatusOK)
}

// TestAttackConsentWeakenedByScopedPolicy: a scoped administrator turns
// acceptance off for its group, so "attended" sessions start unasked.
func TestAttackConsentWeakenedByScopedPolicy(t *testing.T) {
	s, branch := scopedAdmin(t)
	weak := map[string]any{"screenshare": map[string]any{"acceptance_required": false}}
	err := branch.do(http.MethodPut, "/api/v1/policies/"+attackGroup, "", weak, nil)
	wantStatus(t, "scoped acceptance off", err, http.StatusForbidden)
	unattended := map[string]any{"screenshare": map[string]any{"unattended_allowed": true}}
	err = branch.do(http.MethodPut, "/api/v1/policies/"+attackGroup, "", unattended, nil)
	wantStatus(t, "scoped unattended on", err, http.StatusForbidden)
	strict := map[string]any{"screenshare": map[string]any{"acceptance_timeout_s": 60}}
	err = branch.do(http.MethodPut, "/api/v1/policies/"+attackGroup, "", strict, nil)
	wantStatus(t, "scoped change that weakens nothing", err, http.StatusOK)
	// The global administrator may weaken it, and that is audited as such.
	err = s.api.do(http.MethodPut, "/api/v1/policies/"+attackGroup, "", weak, nil)
	wantStatus(t, "global acceptance off", err, http.StatusOK)
	var audit struct{ Records []protocol.AuditRecord }
	if err := s.api.do(http.MethodGet, "/api/v1/audit?type=policy.consent_weakened", "", nil, &audit); err != nil {
		t.Fatal(err)
	}
	if len(audit.Records) != 1 || audit.Records[0].Actor != "admin" || !strings.Contains(string(audit.Records[0].Details), "acceptance_required off") {
		t.Fatalf("consent_weakened records: %+v", audit.Records)
	}
}

// TestAttackRoleEditEscalation: an administrator scoped to a group who
// also holds a harmless unscoped role edits that role to grant itself
// everything, everywhere.
func TestAttackRoleEditEscalation(t *testing.T) {
	s := startServer(t)
	for _, req := range []struct {
		path string
		body any
	}{
		{"/api/v1/groups", protocol.Group{Name: attackGroup}},
		{"/api/v1/roles", protocol.RoleRequest{Name: "Viewer", Permissions: []string{string(perm.EndpointsView)}}},
		{"/api/v1/users", protocol.CreateUserRequest{Name: "branch-admin", Password: attackPassword,
			Roles: []string{perm.RoleAdministrator + "@" + attackGroup, "Viewer"}}},
	} {
		if err := s.api.do(http.MethodPost, req.path, "", req.body, nil); err != nil {
			t.Fatalf("POST %s: %v", req.path, err)
		}
	}
	branch := s.userClient("branch-admin", attackPassword)
	all := []string{string(perm.EndpointsView), string(perm.UsersManage), string(perm.RolesManage), string(perm.AuditRead), string(perm.ScreenShareSettings)}
	err := branch.do(http.MethodPut, "/api/v1/roles/Viewer", "", protocol.RoleRequest{Permissions: all}, nil)
	wantStatus(t, "scoped administrator edits its unscoped role", err, http.StatusForbidden)
	err = branch.do(http.MethodPost, "/api/v1/roles", "", protocol.RoleRequest{Name: "Mine", Permissions: all}, nil)
	wantStatus(t, "scoped administrator defines a role", err, http.StatusForbidden)
	var roles struct{ Roles []protocol.Role }
	if err := s.api.do(http.MethodGet, "/api/v1/roles", "", nil, &roles); err != nil {
		t.Fatal(err)
	}
	for _, r := range roles.Roles {
		if r.Name == "Viewer" && (len(r.Permissions) != 1 || r.Permissions[0] != string(perm.EndpointsView)) {
			t.Fatalf("the role Viewer now grants %v", r.Permissions)
		}
		if r.Name == "Mine" {
			t.Fatalf("the scoped administrator defined a role: %+v", r)
		}
	}
	var us struct{ Users []protocol.User }
	if err := branch.do(http.MethodGet, "/api/v1/users", "", nil, &us); err != nil {
		t.Fatal(err)
	}
	for _, u := range us.Users {
		if u.Name == "admin" {
			t.Fatalf("the scoped administrator sees the global administrator: %+v", us.Users)
		}
	}
}

// TestAttackAuditOutsideScope: a screen sharing administrator scoped to a
// group reads the audit log of the whole server.
func TestAttackAuditOutsideScope(t *testing.T) {
	s, branch := scopedAdmin(t, perm.RoleScreenShareAdmin+"@"+attackGroup)
	var tok protocol.EnrollmentToken
	if err := s.api.do(http.MethodPost, "/api/v1/enrollment-tokens", "", protocol.CreateTokenRequest{Group: attackGroup}, &tok); err != nil {
		t.Fatal(err)
	}
	inside := enrollRaw(t, s, tok.Token, "branch-pc")
	outside := enrollRaw(t, s, s.enrollmentToken(), "hq-pc")
	var audit struct{ Records []protocol.AuditRecord }
	if err := branch.do(http.MethodGet, "/api/v1/audit", "", nil, &audit); err != nil {
		t.Fatal(err)
	}
	sawInside := false
	for _, r := range audit.Records {
		switch r.EndpointID {
		case inside:
			sawInside = true
		case "":
			t.Errorf("scoped reader sees a record about no endpoint: %s by %s", r.Type, r.Actor)
		default:
			t.Errorf("scoped reader sees a record about endpoint %s (outside %s: %v): %s", r.EndpointID, inside, r.EndpointID == outside, r.Type)
		}
	}
	if !sawInside {
		t.Errorf("scoped reader does not see the enrollment of its own endpoint: %+v", audit.Records)
	}
}

// TestAttackAnonymousLockout: a stranger sends five wrong passwords for
// admin; the real administrator, from another address, must still sign in.
func TestAttackAnonymousLockout(t *testing.T) {
	s := startServer(t)
	pw := adminPassword(t, s)
	for i := range 5 {
		if st := login(t, s, "127.0.0.2", "admin", "guess-"+string(rune('a'+i))); st != http.StatusUnauthorized {
			t.Fatalf("stranger's attempt %d: %d, want 401", i+1, st)
		}
	}
	if st := login(t, s, "127.0.0.2", "admin", pw); st != http.StatusTooManyRequests {
		t.Fatalf("the stranger's own address after 5 failures: %d, want 429", st)
	}
	if st := login(t, s, "127.0.0.1", "admin", pw); st != http.StatusOK {
		t.Fatalf("the administrator from a clean address: %d, want 200 (locked out by a stranger)", st)
	}
}
