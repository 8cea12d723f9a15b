package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// scopeGroup is the computer group the scoped columns of the matrix hold
// their roles over; the unscoped fixtures live in Default.
const scopeGroup = "Scoped"

// matrixColumns are the principals of TestPermissionMatrix: every built-in
// role unscoped and scoped to scopeGroup, a custom role holding only
// users.manage scoped to scopeGroup, and anonymous (no roles).
var matrixColumns = func() [][]string {
	var cols [][]string
	for _, r := range []string{perm.RoleAdministrator, perm.RoleScreenShareAdmin, perm.RoleScreenShareAgent, perm.RoleScreenShareUnattended,
		perm.RoleNotifyAdmin, perm.RoleNotifyOperator, perm.RoleNotifyReadOnly, perm.RoleNotifyApprover} {
		cols = append(cols, []string{r}, []string{r + "@" + scopeGroup})
	}
	return append(cols, []string{"User Manager@" + scopeGroup}, nil)
}()

// The columns, by index, in the order of matrixColumns.
const (
	cAdmin = iota
	cAdminG
	cSSAdmin
	cSSAdminG
	cSSAgent
	cSSAgentG
	cUnatt
	cUnattG
	cNAdmin
	cNAdminG
	cNOp
	cNOpG
	cNRead
	cNReadG
	cApprover
	cApproverG
	cUserMgrG
	cAnon
	nCols
)

// cells builds an expected row: def everywhere, then the exceptions as
// column, status pairs. Anonymous is 401 unless an exception says otherwise.
func cells(def int, exceptions ...int) [nCols]int {
	var w [nCols]int
	for i := range w {
		w[i] = def
	}
	w[cAnon] = 401
	for i := 0; i+1 < len(exceptions); i += 2 {
		w[exceptions[i]] = exceptions[i+1]
	}
	return w
}

// Column sets used by the rows below.
var (
	// every principal holding endpoints.view (all but the unattended-only
	// roles, the user manager and anonymous)
	viewers = []int{cAdmin, cAdminG, cSSAdmin, cSSAdminG, cSSAgent, cSSAgentG, cNAdmin, cNAdminG, cNOp, cNOpG, cNRead, cNReadG, cApprover, cApproverG}
	// of those, the ones scoped to scopeGroup
	scopedViewers = []int{cAdminG, cSSAdminG, cSSAgentG, cNAdminG, cNOpG, cNReadG, cApproverG}
)

// each returns column, status pairs giving status to every column in cs.
func each(cs []int, status int) []int {
	var out []int
	for _, c := range cs {
		out = append(out, c, status)
	}
	return out
}

func join(parts ...[]int) []int { return slices.Concat(parts...) }

// matrixRow is one route with one target. route is the pattern as
// registered (for the coverage check); path may hold {name} placeholders
// filled from setup, which runs before every cell so each cell starts from
// the same state.
type matrixRow struct {
	route string
	path  string
	body  func(col int) any
	setup func(t *testing.T, col int) map[string]string
	ws    bool   // a real websocket upgrade: 101 when admitted
	auth  string // a bearer token to send instead of the column's sign-in
	want  [nCols]int
}

// TestPermissionMatrix sends every route, as every principal of
// matrixColumns, and asserts every cell. Hiding a button is not
// authorization: this is the server's own answer, including for roles that
// hold a permission only over another computer group. TestMatrixCoversEveryRoute
// checks that no registered route is missing.
func TestPermissionMatrix(t *testing.T) {
	e := newEnv(t, withInstallers(t), withRecordings(t.TempDir(), 0))
	ctx := context.Background()
	root := e.user("root-admin", perm.RoleAdministrator)
	mustDo(t, root, "POST", "/api/v1/groups", protocol.Group{Name: scopeGroup}, nil, 201)
	mustDo(t, root, "POST", "/api/v1/roles", protocol.RoleRequest{Name: "User Manager", Permissions: []string{string(perm.UsersManage)}}, nil, 201)
	epD, secD := e.enroll("matrix-d", "Default", "10.9.8.7")
	epG, secG := e.enroll("matrix-g", scopeGroup, "10.9.8.8")
	var actD, actG protocol.ActionStatus
	mustDo(t, root, "POST", "/api/v1/endpoints/"+epD+"/actions", protocol.QueueActionRequest{Type: protocol.ActionEcho}, &actD, 202)
	mustDo(t, root, "POST", "/api/v1/endpoints/"+epG+"/actions", protocol.QueueActionRequest{Type: protocol.ActionEcho}, &actG, 202)
	e.user("global-admin-victim", perm.RoleAdministrator)

	clients := make([]*client, nCols)
	for i, roles := range matrixColumns {
		if roles == nil {
			clients[i] = e.client()
			continue
		}
		clients[i] = e.user(fmt.Sprintf("col-%d", i), roles...)
	}
	// Per-column fixtures: victims unscoped (D) and scoped to the group
	// (G), a custom role and an empty group to change and delete.
	victimD, victimG := map[int]string{}, map[int]string{}
	for i := range nCols {
		var u protocol.User
		mustDo(t, root, "POST", "/api/v1/users", protocol.CreateUserRequest{Name: fmt.Sprintf("victim-d-%d", i), Password: "long enough password",
			Roles: []string{perm.RoleScreenShareAgent}}, &u, 201)
		victimD[i] = u.ID
		mustDo(t, root, "POST", "/api/v1/users", protocol.CreateUserRequest{Name: fmt.Sprintf("victim-g-%d", i), Password: "long enough password",
			Roles: []string{perm.RoleScreenShareAgent + "@" + scopeGroup}}, &u, 201)
		victimG[i] = u.ID
		mustDo(t, root, "POST", "/api/v1/roles", protocol.RoleRequest{Name: fmt.Sprintf("custom-%d", i), Permissions: []string{string(perm.EndpointsView)}}, nil, 201)
		mustDo(t, root, "POST", "/api/v1/groups", protocol.Group{Name: fmt.Sprintf("doomed-%d", i)}, nil, 201)
	}
	var globalVictimID string
	{
		var us struct{ Users []protocol.User }
		mustDo(t, root, "GET", "/api/v1/users", nil, &us, 200)
		for _, u := range us.Users {
			if u.Name == "global-admin-victim" {
				globalVictimID = u.ID
			}
		}
	}
	var code protocol.ConnectionCode
	mustDo(t, root, "POST", "/api/v1/codes", nil, &code, 201)
	var sD, sG protocol.Session
	mustDo(t, root, "POST", "/api/v1/sessions", protocol.CreateSessionRequest{EndpointID: epD, Attended: true}, &sD, 201)
	mustDo(t, root, "POST", "/api/v1/sessions", protocol.CreateSessionRequest{EndpointID: epG, Attended: true}, &sG, 201)
	agentToken := func(secret, sessionID string) string {
		resp, st := e.poll(secret, protocol.PollRequest{})
		if st != 200 {
			t.Fatalf("poll: %d", st)
		}
		for _, a := range resp.Actions {
			if strings.Contains(string(a.Payload), sessionID) {
				var p protocol.ScreenShareStart
				if err := json.Unmarshal(a.Payload, &p); err != nil {
					t.Fatal(err)
				}
				return p.AgentToken
			}
		}
		t.Fatalf("no screenshare.start for %s", sessionID)
		return ""
	}
	tokSD := agentToken(secD, sD.ID)
	_ = agentToken(secG, sG.ID)
	// Recorded sessions with their recordings, in Default (sRD) and in the
	// group (sRG); then the global policy records no more.
	mustDo(t, root, "PUT", "/api/v1/policies/global", `{"screenshare":{"record_sessions":true}}`, nil, 200)
	var sRD, sRG protocol.Session
	mustDo(t, root, "POST", "/api/v1/sessions", protocol.CreateSessionRequest{EndpointID: epD, Attended: true}, &sRD, 201)
	mustDo(t, root, "POST", "/api/v1/sessions", protocol.CreateSessionRequest{EndpointID: epG, Attended: true}, &sRG, 201)
	mustDo(t, root, "PUT", "/api/v1/policies/global", `{}`, nil, 200)
	tokRD := agentToken(secD, sRD.ID)
	for _, r := range []struct{ id, tok string }{{sRD.ID, tokRD}, {sRG.ID, agentToken(secG, sRG.ID)}} {
		if st, _ := e.uploadVideo(t, e.srv.URL, r.id, r.tok, webm(4096)); st != http.StatusCreated {
			t.Fatalf("upload the recording of %s: %d", r.id, st)
		}
	}

	// Terminal sessions, in Default (tD, with its transcript) and in the
	// group (tG).
	var tD, tG protocol.Session
	mustDo(t, root, "POST", "/api/v1/endpoints/"+epD+"/tools", protocol.CreateToolSessionRequest{Tool: protocol.ToolTerminal}, &tD, 201)
	mustDo(t, root, "POST", "/api/v1/endpoints/"+epG+"/tools", protocol.CreateToolSessionRequest{Tool: protocol.ToolTerminal}, &tG, 201)
	tokTD := agentToken(secD, tD.ID)
	for _, r := range []struct{ id, tok string }{{tD.ID, tokTD}, {tG.ID, agentToken(secG, tG.ID)}} {
		if st := e.uploadTranscript(t, r.id, r.tok, "$ id -un\r\nroot\r\n"); st != http.StatusCreated {
			t.Fatalf("upload the transcript of %s: %d", r.id, st)
		}
	}

	empty := func(int) any { return map[string]any{} }
	strongG := `{"screenshare":{"acceptance_required":true,"clipboard_sync":false,"file_transfer":false}}`
	weakG := `{"screenshare":{"acceptance_required":false,"clipboard_sync":false,"file_transfer":false}}`
	resetPolicyG := func(t *testing.T, _ int) map[string]string {
		mustDo(t, root, "PUT", "/api/v1/policies/"+scopeGroup, strongG, nil, 200)
		return nil
	}
	freshCode := func(t *testing.T, _ int) map[string]string {
		var c protocol.ConnectionCode
		mustDo(t, root, "POST", "/api/v1/codes", nil, &c, 201)
		return map[string]string{"code": c.ID}
	}
	// tokenSecrets are the secrets of the tokens freshTokens made last: the
	// installer rows' bodies carry the secret of the token in the path.
	tokenSecrets := map[string]string{}
	freshTokens := func(t *testing.T, _ int) map[string]string {
		d, err := e.svc.IssueEnrollmentToken(ctx, protocol.CreateTokenRequest{}, "test", false)
		if err != nil {
			t.Fatal(err)
		}
		g, err := e.svc.IssueEnrollmentToken(ctx, protocol.CreateTokenRequest{Group: scopeGroup}, "test", false)
		if err != nil {
			t.Fatal(err)
		}
		tokenSecrets["tokD"], tokenSecrets["tokG"] = d.Token, g.Token
		return map[string]string{"tokD": d.ID, "tokG": g.ID}
	}
	freshEndpoints := func(t *testing.T, col int) map[string]string {
		d, _ := e.enroll(fmt.Sprintf("doomed-d-%d", col), "Default")
		g, _ := e.enroll(fmt.Sprintf("doomed-g-%d", col), scopeGroup)
		return map[string]string{"epRD": d, "epRG": g}
	}
	victimToken := func(t *testing.T, col int) map[string]string {
		u := e.user(fmt.Sprintf("token-owner-%d", col), perm.RoleScreenShareAgent+"@"+scopeGroup)
		var tok protocol.APIToken
		mustDo(t, u, "POST", "/api/v1/api-tokens", protocol.CreateAPITokenRequest{Name: "automation"}, &tok, 201)
		return map[string]string{"apitok": tok.ID}
	}
	resetG := func(t *testing.T, _ int) map[string]string {
		mustDo(t, root, "PUT", "/api/v1/groups/"+scopeGroup, protocol.GroupRequest{Name: scopeGroup}, nil, 200)
		mustDo(t, root, "PUT", "/api/v1/endpoints/"+epG+"/groups", protocol.EndpointGroupsRequest{Groups: []string{}}, nil, 200)
		return nil
	}

	// End-user notifications: fixtures by root, one targeting Default
	// (nD) and one the group (nG), fresh per cell where a row changes them.
	notifyApprover := e.user("matrix-notify-approver", perm.RoleNotifyApprover)
	notice := func(group string, draft bool) protocol.NotificationSpec {
		return protocol.NotificationSpec{NotificationContent: protocol.NotificationContent{Title: "Restart tonight", Message: "Please save your work.",
			Buttons: []protocol.NotificationButton{{Label: "OK", Value: "ok"}}},
			Schedule: protocol.NotificationSchedule{Expires: time.Now().Add(24 * time.Hour)},
			Targets:  protocol.NotificationTargets{Groups: []string{group}}, Draft: draft}
	}
	freshNotices := func(draft, approve bool) func(t *testing.T, _ int) map[string]string {
		return func(t *testing.T, _ int) map[string]string {
			out := map[string]string{}
			for k, g := range map[string]string{"nD": "Default", "nG": scopeGroup} {
				var n protocol.NotificationInfo
				mustDo(t, root, "POST", "/api/v1/notifications", notice(g, draft), &n, 201)
				if approve {
					mustDo(t, notifyApprover, "POST", "/api/v1/notifications/"+n.ID+"/approve", protocol.NotificationDecide{Version: 1}, nil, 200)
				}
				out[k] = n.ID
			}
			return out
		}
	}
	nFixed := freshNotices(false, true)(t, 0)
	nD, nG := nFixed["nD"], nFixed["nG"]
	// The columns holding a notification permission, and of those the scoped.
	notifyReaders := []int{cAdmin, cAdminG, cNAdmin, cNAdminG, cNOp, cNOpG, cNRead, cNReadG, cApprover, cApproverG}
	notifyScoped := []int{cAdminG, cNAdminG, cNOpG, cNReadG, cApproverG}
	notifyReadD := cells(403, join(each(notifyReaders, 200), each(notifyScoped, 404))...)
	notifyReadG := cells(403, each(notifyReaders, 200)...)
	// manage: the administrators; a scoped one does not find Default's
	notifyManageD := func(st int) [nCols]int { return cells(403, cAdmin, st, cNAdmin, st, cAdminG, 404, cNAdminG, 404) }
	notifyManageG := func(st int) [nCols]int { return cells(403, cAdmin, st, cNAdmin, st, cAdminG, st, cNAdminG, st) }
	notifyApproveD := cells(403, cAdmin, 200, cApprover, 200, cAdminG, 404, cApproverG, 404)
	notifyApproveG := cells(403, cAdmin, 200, cApprover, 200, cAdminG, 200, cApproverG, 200)
	notifySendD := func(st int) [nCols]int {
		return cells(403, cAdmin, st, cNAdmin, st, cNOp, st, cAdminG, 404, cNAdminG, 404, cNOpG, 404)
	}
	notifySendG := func(st int) [nCols]int {
		return cells(403, cAdmin, st, cNAdmin, st, cNOp, st, cAdminG, st, cNAdminG, st, cNOpG, st)
	}
	sendTo := func(group string) func(int) any {
		return func(int) any {
			return protocol.NotificationSend{Schedule: protocol.NotificationSchedule{Expires: time.Now().Add(time.Hour)},
				Targets: protocol.NotificationTargets{Groups: []string{group}}}
		}
	}
	version1 := func(int) any { return protocol.NotificationDecide{Version: 1, Reason: "not tonight"} }
	changeTo := func(group string) func(int) any {
		return func(int) any { sp := notice(group, false); sp.Version = 1; return sp }
	}

	// Shapes shared by several rows.
	signedIn := cells(200)
	viewAll := cells(403, each(viewers, 200)...)
	viewUnscoped := cells(403, join(each(viewers, 200), each(scopedViewers, 404))...)
	adminsOnly := func(st int) [nCols]int { return cells(403, cAdmin, st, cAdminG, st) }
	adminOnly := func(st, scoped int) [nCols]int { return cells(403, cAdmin, st, cAdminG, scoped) }
	// users.manage holders acting on a user: unscoped victim, scoped victim
	userD := cells(403, cAdmin, 200, cAdminG, 404, cUserMgrG, 404)
	userG := cells(403, cAdmin, 200, cAdminG, 200, cUserMgrG, 403)
	auditors := cells(403, cAdmin, 200, cAdminG, 200, cSSAdmin, 200, cSSAdminG, 200)
	starters := func(st int) [nCols]int {
		return cells(403, cAdmin, st, cAdminG, st, cSSAdmin, st, cSSAdminG, st, cSSAgent, st, cSSAgentG, st)
	}
	startersD := func(st int) [nCols]int {
		return cells(403, cAdmin, st, cAdminG, 404, cSSAdmin, st, cSSAdminG, 404, cSSAgent, st, cSSAgentG, 404)
	}
	// someone else's session on an endpoint in Default / in the group
	sessionD := func(st int) [nCols]int {
		return cells(403, cAdmin, st, cAdminG, 404, cSSAdmin, st, cSSAdminG, 404, cSSAgent, 403, cSSAgentG, 404)
	}
	sessionG := func(st int) [nCols]int {
		return cells(403, cAdmin, st, cAdminG, st, cSSAdmin, st, cSSAdminG, st)
	}
	// a tool's session: the Administrator role alone holds the tool
	toolD := func(st int) [nCols]int { return cells(403, cAdmin, st, cAdminG, 404, cSSAdminG, 404, cSSAgentG, 404) }
	toolG := func(st int) [nCols]int { return cells(403, cAdmin, st, cAdminG, st) }
	// someone else's connection code: seen with screenshare.sessions over every group
	codeOf := cells(403, cAdmin, 200, cAdminG, 404, cSSAdmin, 200, cSSAdminG, 404, cSSAgent, 404, cSSAgentG, 404)
	// a recording: audit.read over the endpoint's group; a scoped reader
	// does not see an endpoint in Default at all
	recordingD := cells(403, cAdmin, 200, cSSAdmin, 200, cAdminG, 404, cSSAdminG, 404)
	recordingG := auditors
	policyGlobal := cells(403, cAdmin, 200, cSSAdmin, 200)
	policyG := cells(403, cAdmin, 200, cAdminG, 200, cSSAdmin, 200, cSSAdminG, 200)
	public := cells(200, cAnon, 200)
	agentOnly := cells(401)

	rows := []matrixRow{
		{route: "POST /api/v1/login", body: func(i int) any {
			return protocol.LoginRequest{Name: fmt.Sprintf("nobody-%d", i), Password: "wrong password"}
		}, want: cells(401)},
		{route: "GET /api/v1/me", want: signedIn},
		{route: "GET /api/v1/endpoints", path: "/api/v1/endpoints?q=matrix", want: viewAll},
		{route: "GET /api/v1/agent-updates", want: viewAll},
		{route: "GET /api/v1/endpoints/{id}", path: "/api/v1/endpoints/" + epD, want: viewUnscoped},
		{route: "GET /api/v1/endpoints/{id}", path: "/api/v1/endpoints/" + epG, want: viewAll},
		{route: "POST /api/v1/endpoints/{id}/actions", path: "/api/v1/endpoints/" + epD + "/actions",
			body: func(int) any { return protocol.QueueActionRequest{Type: protocol.ActionEcho} }, want: adminOnly(202, 404)},
		{route: "POST /api/v1/endpoints/{id}/actions", path: "/api/v1/endpoints/" + epG + "/actions",
			body: func(int) any { return protocol.QueueActionRequest{Type: protocol.ActionEcho} }, want: adminsOnly(202)},
		{route: "GET /api/v1/actions/{id}", path: "/api/v1/actions/" + actD.ID, want: viewUnscoped},
		{route: "GET /api/v1/actions/{id}", path: "/api/v1/actions/" + actG.ID, want: viewAll},

		// Users. A scoped administrator manages only users scoped inside its
		// group; the user manager holds users.manage@G but none of the
		// victims' other permissions.
		// users.read (the notification Administrator and Operator) lists users
		// but changes none (the PATCH and password rows).
		{route: "GET /api/v1/users", want: cells(403, cAdmin, 200, cAdminG, 200, cUserMgrG, 200, cNAdmin, 200, cNAdminG, 200, cNOp, 200, cNOpG, 200)},
		{route: "POST /api/v1/users", path: "/api/v1/users", body: func(i int) any {
			return protocol.CreateUserRequest{Name: fmt.Sprintf("made-d-%d", i), Password: "long enough password", Roles: []string{perm.RoleScreenShareAgent}}
		}, want: adminOnly(201, 403)},
		{route: "POST /api/v1/users", path: "/api/v1/users", body: func(i int) any {
			return protocol.CreateUserRequest{Name: fmt.Sprintf("made-g-%d", i), Password: "long enough password", Roles: []string{perm.RoleScreenShareAgent + "@" + scopeGroup}}
		}, want: adminsOnly(201)},
		{route: "PATCH /api/v1/users/{id}", path: "/api/v1/users/{victimD}", body: func(int) any { return map[string]any{"display_name": "Victim"} }, want: userD},
		{route: "PATCH /api/v1/users/{id}", path: "/api/v1/users/{victimG}", body: func(int) any { return map[string]any{"display_name": "Victim"} }, want: userG},
		{route: "PATCH /api/v1/users/{id}", path: "/api/v1/users/{victimG}", body: func(int) any {
			return map[string]any{"roles": []string{perm.RoleAdministrator}} // promote to global administrator
		}, want: adminOnly(200, 403)},
		{route: "DELETE /api/v1/api-tokens/{id}", path: "/api/v1/api-tokens/{apitok}", setup: victimToken,
			want: cells(404, cAdmin, 200, cAdminG, 200, cUserMgrG, 403)},
		{route: "POST /api/v1/users/{id}/password", path: "/api/v1/users/{victimD}/password",
			body: func(int) any { return protocol.ResetPasswordRequest{Password: "another long password"} }, want: userD},
		{route: "POST /api/v1/users/{id}/password", path: "/api/v1/users/{victimG}/password",
			body: func(int) any { return protocol.ResetPasswordRequest{Password: "another long password"} }, want: userG},
		// The takeover: resetting the global administrator's password.
		{route: "POST /api/v1/users/{id}/password", path: "/api/v1/users/" + globalVictimID + "/password",
			body: func(int) any { return protocol.ResetPasswordRequest{Password: "another long password"} }, want: userD},
		{route: "DELETE /api/v1/users/{id}", path: "/api/v1/users/{victimD}", want: userD},
		{route: "DELETE /api/v1/users/{id}", path: "/api/v1/users/{victimG}", want: userG},

		// Roles: defining and changing them needs roles.manage over every group.
		{route: "GET /api/v1/roles", want: signedIn},
		{route: "POST /api/v1/roles", path: "/api/v1/roles", body: func(i int) any {
			return protocol.RoleRequest{Name: fmt.Sprintf("made-role-%d", i), Permissions: []string{string(perm.EndpointsView)}}
		}, want: adminOnly(201, 403)},
		{route: "PUT /api/v1/roles/{name}", path: "/api/v1/roles/custom-{i}", body: func(int) any {
			return protocol.RoleRequest{Permissions: []string{string(perm.EndpointsView), string(perm.AuditRead)}}
		}, want: adminOnly(200, 403)},
		{route: "DELETE /api/v1/roles/{name}", path: "/api/v1/roles/custom-{i}", want: adminOnly(200, 403)},

		// Computer groups: rules, creation and deletion need groups.manage
		// over every group; a scoped holder renames its own group and moves
		// endpoints of its scope between groups it manages.
		{route: "GET /api/v1/groups", want: viewAll},
		{route: "POST /api/v1/groups", path: "/api/v1/groups", body: func(i int) any { return protocol.Group{Name: fmt.Sprintf("group-%d", i)} }, want: adminOnly(201, 403)},
		{route: "PUT /api/v1/groups/{id}", path: "/api/v1/groups/doomed-{i}", body: func(i int) any {
			return protocol.GroupRequest{Name: fmt.Sprintf("doomed-%d", i), Rules: []protocol.GroupRule{{Kind: protocol.RuleHostname, Value: "nothing-*"}}}
		}, want: adminOnly(200, 403)},
		{route: "PUT /api/v1/groups/{id}", path: "/api/v1/groups/" + scopeGroup, setup: resetG, body: func(i int) any {
			return protocol.GroupRequest{Name: scopeGroup, Rules: []protocol.GroupRule{{Kind: protocol.RuleHostname, Value: "*"}}} // the catch-all
		}, want: adminOnly(200, 403)},
		{route: "PUT /api/v1/groups/{id}", path: "/api/v1/groups/" + scopeGroup, setup: resetG, body: func(i int) any {
			return protocol.GroupRequest{Name: scopeGroup} // no change of rules
		}, want: adminsOnly(200)},
		{route: "DELETE /api/v1/groups/{id}", path: "/api/v1/groups/doomed-{i}", want: adminOnly(200, 403)},
		{route: "PUT /api/v1/endpoints/{id}/groups", path: "/api/v1/endpoints/" + epD + "/groups",
			body: func(int) any { return protocol.EndpointGroupsRequest{Groups: []string{}} }, want: adminOnly(200, 404)},
		{route: "PUT /api/v1/endpoints/{id}/groups", path: "/api/v1/endpoints/" + epG + "/groups", setup: resetG,
			body: func(int) any { return protocol.EndpointGroupsRequest{Groups: []string{}} }, want: adminsOnly(200)},
		{route: "PUT /api/v1/endpoints/{id}/groups", path: "/api/v1/endpoints/" + epG + "/groups", setup: resetG,
			body: func(int) any { return protocol.EndpointGroupsRequest{Groups: []string{"Default"}} }, want: adminOnly(200, 403)},

		// Enrollment tokens: only for groups in scope.
		{route: "GET /api/v1/enrollment-tokens", want: adminsOnly(200)},
		{route: "POST /api/v1/enrollment-tokens", path: "/api/v1/enrollment-tokens", body: func(int) any { return protocol.CreateTokenRequest{} }, want: adminOnly(201, 403)},
		{route: "POST /api/v1/enrollment-tokens", path: "/api/v1/enrollment-tokens", body: func(int) any { return protocol.CreateTokenRequest{Group: scopeGroup} }, want: adminsOnly(201)},
		{route: "POST /api/v1/enrollment-tokens/{id}/installer", path: "/api/v1/enrollment-tokens/{tokD}/installer", setup: freshTokens,
			body: func(int) any {
				return protocol.InstallerRequest{Format: protocol.InstallerDeb, Token: tokenSecrets["tokD"]}
			}, want: adminOnly(200, 404)},
		{route: "POST /api/v1/enrollment-tokens/{id}/installer", path: "/api/v1/enrollment-tokens/{tokG}/installer", setup: freshTokens,
			body: func(int) any {
				return protocol.InstallerRequest{Format: protocol.InstallerDeb, Token: tokenSecrets["tokG"]}
			}, want: adminsOnly(200)},
		{route: "POST /api/v1/enrollment-tokens/{id}/revoke", path: "/api/v1/enrollment-tokens/{tokD}/revoke", setup: freshTokens, body: empty, want: adminOnly(200, 404)},
		{route: "POST /api/v1/enrollment-tokens/{id}/revoke", path: "/api/v1/enrollment-tokens/{tokG}/revoke", setup: freshTokens, body: empty, want: adminsOnly(200)},
		{route: "GET /api/v1/api-tokens", want: signedIn},
		{route: "POST /api/v1/api-tokens", path: "/api/v1/api-tokens", body: func(int) any { return protocol.CreateAPITokenRequest{Name: "automation"} }, want: cells(201)},

		// Audit: scoped readers see records about their endpoints only
		// (checked by TestAuditScoped); here, who may ask.
		{route: "GET /api/v1/audit", want: auditors},
		{route: "GET /api/v1/audit/sessions", path: "/api/v1/audit/sessions?technician=root", want: auditors},
		{route: "GET /api/v1/audit/sessions.csv", want: auditors},

		// Session recordings: read with audit.read over the endpoint's group;
		// uploaded only with the session's agent token (409: it has one).
		{route: "GET /api/v1/sessions/{id}/recording", path: "/api/v1/sessions/" + sRD.ID + "/recording", want: recordingD},
		{route: "GET /api/v1/sessions/{id}/recording", path: "/api/v1/sessions/" + sRG.ID + "/recording", want: recordingG},
		{route: "GET /api/v1/sessions/{id}/recording/timeline", path: "/api/v1/sessions/" + sRD.ID + "/recording/timeline", want: recordingD},
		{route: "GET /api/v1/sessions/{id}/recording/timeline", path: "/api/v1/sessions/" + sRG.ID + "/recording/timeline", want: recordingG},
		{route: "POST " + protocol.PathAgentRecording, path: "/api/agent/v1/sessions/" + sRD.ID + "/recording", body: empty, want: agentOnly},
		{route: "POST " + protocol.PathAgentRecording, path: "/api/agent/v1/sessions/" + sRD.ID + "/recording", auth: tokRD, body: empty,
			want: cells(409, cAnon, 409)},
		{route: "GET /play/{id}", path: "/play/" + sRD.ID, want: public},

		// Support tools: only the Administrator role holds them; a scoped
		// one does not find Default's endpoint. A tool's session needs the
		// tool's permission also of a holder of screenshare.sessions.
		{route: "POST " + protocol.PathToolSessions, path: "/api/v1/endpoints/" + epD + "/tools",
			body: func(int) any { return protocol.CreateToolSessionRequest{Tool: protocol.ToolTerminal} }, want: cells(403, cAdmin, 201, cAdminG, 404)},
		{route: "POST " + protocol.PathToolSessions, path: "/api/v1/endpoints/" + epG + "/tools",
			body: func(int) any { return protocol.CreateToolSessionRequest{Tool: protocol.ToolTerminal} }, want: cells(403, cAdmin, 201, cAdminG, 201)},
		{route: "POST " + protocol.PathToolSessions, path: "/api/v1/endpoints/" + epD + "/tools",
			body: func(int) any { return protocol.CreateToolSessionRequest{Tool: protocol.ToolTerminalSystem} }, want: cells(403, cAdmin, 201, cAdminG, 404)},
		{route: "POST " + protocol.PathToolSessions, path: "/api/v1/endpoints/" + epG + "/tools",
			body: func(int) any { return protocol.CreateToolSessionRequest{Tool: protocol.ToolTerminalSystem} }, want: cells(403, cAdmin, 201, cAdminG, 201)},
		{route: "POST " + protocol.PathToolSessions, path: "/api/v1/endpoints/" + epD + "/tools",
			body: func(int) any { return protocol.CreateToolSessionRequest{Tool: protocol.ToolProcesses} }, want: cells(403, cAdmin, 201, cAdminG, 404)},
		{route: "POST " + protocol.PathToolSessions, path: "/api/v1/endpoints/" + epG + "/tools",
			body: func(int) any { return protocol.CreateToolSessionRequest{Tool: protocol.ToolProcesses} }, want: cells(403, cAdmin, 201, cAdminG, 201)},
		{route: "POST " + protocol.PathToolSessions, path: "/api/v1/endpoints/" + epD + "/tools",
			body: func(int) any { return protocol.CreateToolSessionRequest{Tool: protocol.ToolServices} }, want: cells(403, cAdmin, 201, cAdminG, 404)},
		{route: "POST " + protocol.PathToolSessions, path: "/api/v1/endpoints/" + epD + "/tools",
			body: func(int) any { return protocol.CreateToolSessionRequest{Tool: protocol.ToolFiles} }, want: cells(403, cAdmin, 201, cAdminG, 404)},
		{route: "POST " + protocol.PathToolSessions, path: "/api/v1/endpoints/" + epG + "/tools",
			body: func(int) any { return protocol.CreateToolSessionRequest{Tool: protocol.ToolFiles} }, want: cells(403, cAdmin, 201, cAdminG, 201)},
		{route: "POST " + protocol.PathToolSessions, path: "/api/v1/endpoints/" + epG + "/tools",
			body: func(int) any { return protocol.CreateToolSessionRequest{Tool: protocol.ToolServices} }, want: cells(403, cAdmin, 201, cAdminG, 201)},
		{route: "POST " + protocol.PathToolSessions, path: "/api/v1/endpoints/" + epD + "/tools",
			body: func(int) any { return protocol.CreateToolSessionRequest{Tool: protocol.ToolFilesSystem} }, want: cells(403, cAdmin, 201, cAdminG, 404)},
		{route: "POST " + protocol.PathToolSessions, path: "/api/v1/endpoints/" + epG + "/tools",
			body: func(int) any { return protocol.CreateToolSessionRequest{Tool: protocol.ToolFilesSystem} }, want: cells(403, cAdmin, 201, cAdminG, 201)},
		{route: "GET /api/v1/sessions/{id}", path: "/api/v1/sessions/" + tD.ID, want: toolD(200)},
		{route: "GET /api/v1/sessions/{id}", path: "/api/v1/sessions/" + tG.ID, want: toolG(200)},
		{route: "POST /api/v1/sessions/{id}/control", path: "/api/v1/sessions/" + tG.ID + "/control",
			body: func(int) any { return protocol.ControlRequest{Op: protocol.ControlRequestOp, Viewer: "vnone"} }, want: toolG(400)},
		// Only its own technician joins a tool's session.
		{route: "GET " + protocol.PathViewerSignal, path: "/api/v1/sessions/" + tD.ID + "/signal", ws: true, want: toolD(403)},
		{route: "GET " + protocol.PathViewerSignal, path: "/api/v1/sessions/" + tG.ID + "/signal", ws: true, want: toolG(403)},
		{route: "GET " + protocol.PathTranscript, path: "/api/v1/sessions/" + tD.ID + "/transcript", want: recordingD},
		{route: "GET " + protocol.PathTranscript, path: "/api/v1/sessions/" + tG.ID + "/transcript", want: recordingG},
		{route: "POST " + protocol.PathAgentTranscript, path: "/api/agent/v1/sessions/" + tD.ID + "/transcript", body: empty, want: agentOnly},
		{route: "POST " + protocol.PathAgentTranscript, path: "/api/agent/v1/sessions/" + tD.ID + "/transcript", auth: tokTD, body: empty,
			want: cells(409, cAnon, 409)},

		// Sessions.
		{route: "POST /api/v1/sessions", path: "/api/v1/sessions", body: func(int) any { return protocol.CreateSessionRequest{EndpointID: epD, Attended: true} }, want: startersD(201)},
		{route: "POST /api/v1/sessions", path: "/api/v1/sessions", body: func(int) any { return protocol.CreateSessionRequest{EndpointID: epG, Attended: true} }, want: starters(201)},
		// Unattended needs a permission no built-in role holds with screenshare.start.
		{route: "POST /api/v1/sessions", path: "/api/v1/sessions", body: func(int) any { return protocol.CreateSessionRequest{EndpointID: epG} },
			want: cells(403)},
		{route: "GET /api/v1/sessions", path: "/api/v1/sessions?state=active", want: starters(200)},
		{route: "GET /api/v1/sessions/{id}", path: "/api/v1/sessions/" + sD.ID, want: sessionD(200)},
		{route: "GET /api/v1/sessions/{id}", path: "/api/v1/sessions/" + sG.ID, want: sessionG(200)},
		// A viewer id that is not connected: 400 once allowed to try.
		{route: "POST /api/v1/sessions/{id}/control", path: "/api/v1/sessions/" + sD.ID + "/control",
			body: func(int) any { return protocol.ControlRequest{Op: protocol.ControlRequestOp, Viewer: "vnone"} }, want: sessionD(400)},
		{route: "POST /api/v1/sessions/{id}/control", path: "/api/v1/sessions/" + sG.ID + "/control",
			body: func(int) any { return protocol.ControlRequest{Op: protocol.ControlRequestOp, Viewer: "vnone"} }, want: sessionG(400)},
		{route: "GET " + protocol.PathViewerSignal, path: "/api/v1/sessions/" + sD.ID + "/signal", ws: true, want: sessionD(101)},
		{route: "GET " + protocol.PathViewerSignal, path: "/api/v1/sessions/" + sG.ID + "/signal", ws: true, want: sessionG(101)},
		// The agent side needs the session's agent token, whoever asks.
		{route: "GET " + protocol.PathAgentSignal, path: "/api/agent/v1/sessions/" + sD.ID + "/signal", ws: true, want: agentOnly},
		{route: "GET " + protocol.PathAgentSignal, path: "/api/agent/v1/sessions/" + sD.ID + "/signal", ws: true, auth: tokSD, want: cells(101, cAnon, 101)},
		{route: "GET /view/{id}", path: "/view/" + sD.ID, want: public},

		// Connection codes.
		{route: "POST /api/v1/codes", path: "/api/v1/codes", want: starters(201)},
		{route: "GET /api/v1/codes/{id}", path: "/api/v1/codes/" + code.ID, want: codeOf},
		{route: "POST /api/v1/codes/{id}/extend", path: "/api/v1/codes/{code}/extend", setup: freshCode, want: codeOf},
		{route: "POST /api/v1/codes/{id}/renew", path: "/api/v1/codes/{code}/renew", setup: freshCode, want: codeOf},
		{route: "POST /api/v1/codes/{id}/cancel", path: "/api/v1/codes/{code}/cancel", setup: freshCode, want: codeOf},

		// Agents authenticate with their own credentials, never a sign-in.
		{route: "POST " + protocol.PathRedeemCode, body: func(int) any { return protocol.RedeemCodeRequest{Code: "123-456-789"} }, want: agentOnly},
		{route: "POST " + protocol.PathPoll, body: func(int) any { return protocol.PollRequest{Protocol: protocol.Version} }, want: agentOnly},
		{route: "GET " + protocol.PathRelease, path: "/api/agent/v1/releases/v1.2.0/linux/amd64", want: agentOnly},
		{route: "GET " + protocol.PathRelease, path: "/api/agent/v1/releases/v1.2.0/linux/amd64", auth: secD, want: cells(200, cAnon, 200)},
		{route: "POST " + protocol.PathEnroll, body: func(int) any {
			return protocol.EnrollRequest{Token: "tet_wrong", Protocol: protocol.Version, Inventory: protocol.Inventory{Hostname: "x"}}
		}, want: agentOnly},

		// Policies: a group's needs the permission over that group, the
		// global one over every group, and weakening consent over every group.
		{route: "GET /api/v1/policies/{group}", path: "/api/v1/policies/global", want: policyGlobal},
		{route: "PUT /api/v1/policies/{group}", path: "/api/v1/policies/global", body: empty, setup: func(t *testing.T, _ int) map[string]string {
			mustDo(t, root, "PUT", "/api/v1/policies/global", `{}`, nil, 200)
			return nil
		}, want: policyGlobal},
		{route: "GET /api/v1/policies/{group}", path: "/api/v1/policies/Default", want: policyGlobal},
		{route: "GET /api/v1/policies/{group}", path: "/api/v1/policies/" + scopeGroup, want: policyG},
		{route: "PUT /api/v1/policies/{group}", path: "/api/v1/policies/" + scopeGroup, setup: resetPolicyG, body: func(int) any { return strongG }, want: policyG},
		{route: "PUT /api/v1/policies/{group}", path: "/api/v1/policies/" + scopeGroup, setup: resetPolicyG, body: func(int) any { return weakG }, want: policyGlobal},

		{route: "POST /api/v1/sessions/{id}/end", path: "/api/v1/sessions/" + sG.ID + "/end", body: empty, want: sessionG(200)},
		{route: "POST /api/v1/sessions/{id}/end", path: "/api/v1/sessions/" + sD.ID + "/end", body: empty, want: sessionD(200)},
		{route: "POST /api/v1/endpoints/{id}/revoke", path: "/api/v1/endpoints/{epRD}/revoke", setup: freshEndpoints, body: empty, want: adminOnly(200, 404)},
		{route: "POST /api/v1/endpoints/{id}/revoke", path: "/api/v1/endpoints/{epRG}/revoke", setup: freshEndpoints, body: empty, want: adminsOnly(200)},

		// End-user notifications (the rules in detail: notifications_test.go).
		{route: "GET /api/v1/notifications", want: notifyReadG},
		{route: "GET /api/v1/notifications/{id}", path: "/api/v1/notifications/" + nD, want: notifyReadD},
		{route: "GET /api/v1/notifications/{id}", path: "/api/v1/notifications/" + nG, want: notifyReadG},
		{route: "GET /api/v1/notifications/{id}/report", path: "/api/v1/notifications/" + nD + "/report", want: notifyReadD},
		{route: "GET /api/v1/notifications/{id}/report", path: "/api/v1/notifications/" + nG + "/report", want: notifyReadG},
		{route: "GET /api/v1/notifications/{id}/report.csv", path: "/api/v1/notifications/" + nD + "/report.csv", want: notifyReadD},
		{route: "GET /api/v1/notifications/{id}/report.csv", path: "/api/v1/notifications/" + nG + "/report.csv", want: notifyReadG},
		{route: "POST /api/v1/notifications", path: "/api/v1/notifications", body: func(int) any { return notice("Default", false) },
			want: cells(403, cAdmin, 201, cNAdmin, 201)},
		{route: "POST /api/v1/notifications", path: "/api/v1/notifications", body: func(int) any { return notice(scopeGroup, false) },
			want: notifyManageG(201)},
		{route: "PUT /api/v1/notifications/{id}", path: "/api/v1/notifications/{nD}", setup: freshNotices(false, false), body: changeTo("Default"),
			want: notifyManageD(200)},
		{route: "PUT /api/v1/notifications/{id}", path: "/api/v1/notifications/{nG}", setup: freshNotices(false, false), body: changeTo(scopeGroup),
			want: notifyManageG(200)},
		// Moving a notification to a group outside the caller's scope.
		{route: "PUT /api/v1/notifications/{id}", path: "/api/v1/notifications/{nG}", setup: freshNotices(false, false), body: changeTo("Default"),
			want: cells(403, cAdmin, 200, cNAdmin, 200)},
		{route: "POST /api/v1/notifications/{id}/submit", path: "/api/v1/notifications/{nD}/submit", setup: freshNotices(true, false), body: version1,
			want: notifyManageD(200)},
		{route: "POST /api/v1/notifications/{id}/submit", path: "/api/v1/notifications/{nG}/submit", setup: freshNotices(true, false), body: version1,
			want: notifyManageG(200)},
		{route: "POST /api/v1/notifications/{id}/approve", path: "/api/v1/notifications/{nD}/approve", setup: freshNotices(false, false), body: version1,
			want: notifyApproveD},
		{route: "POST /api/v1/notifications/{id}/approve", path: "/api/v1/notifications/{nG}/approve", setup: freshNotices(false, false), body: version1,
			want: notifyApproveG},
		{route: "POST /api/v1/notifications/{id}/reject", path: "/api/v1/notifications/{nD}/reject", setup: freshNotices(false, false), body: version1,
			want: notifyApproveD},
		{route: "POST /api/v1/notifications/{id}/reject", path: "/api/v1/notifications/{nG}/reject", setup: freshNotices(false, false), body: version1,
			want: notifyApproveG},
		{route: "POST /api/v1/notifications/{id}/cancel", path: "/api/v1/notifications/{nD}/cancel", setup: freshNotices(false, true), body: version1,
			want: notifySendD(200)},
		{route: "POST /api/v1/notifications/{id}/cancel", path: "/api/v1/notifications/{nG}/cancel", setup: freshNotices(false, true), body: version1,
			want: notifySendG(200)},
		{route: "POST /api/v1/notifications/{id}/send", path: "/api/v1/notifications/" + nD + "/send", body: sendTo("Default"), want: notifySendD(201)},
		{route: "POST /api/v1/notifications/{id}/send", path: "/api/v1/notifications/" + nG + "/send", body: sendTo(scopeGroup), want: notifySendG(201)},
		// Sending the group's notification to Default: only with the permission there.
		{route: "POST /api/v1/notifications/{id}/send", path: "/api/v1/notifications/" + nG + "/send", body: sendTo("Default"),
			want: cells(403, cAdmin, 201, cNAdmin, 201, cNOp, 201)},
		{route: "GET /api/v1/notifications/settings", want: notifyReadG},
		{route: "PUT /api/v1/notifications/settings", path: "/api/v1/notifications/settings",
			body: func(int) any { return protocol.NotificationSettings{ApprovalRequired: true} }, want: cells(403, cAdmin, 200)},
		{route: "GET /api/v1/notification-branding/{group}", path: "/api/v1/notification-branding/Default", want: notifyReadD},
		{route: "GET /api/v1/notification-branding/{group}", path: "/api/v1/notification-branding/" + scopeGroup, want: notifyReadG},
		{route: "PUT /api/v1/notification-branding/{group}", path: "/api/v1/notification-branding/Default",
			body: func(int) any { return protocol.NotificationBranding{Name: "IT", Accent: "#0b5cad"} }, want: notifyManageD(200)},
		{route: "PUT /api/v1/notification-branding/{group}", path: "/api/v1/notification-branding/" + scopeGroup,
			body: func(int) any { return protocol.NotificationBranding{Name: "IT", Accent: "#0b5cad"} }, want: notifyManageG(200)},

		{route: "GET /healthz", want: public},
		{route: "GET /readyz", want: public},
		{route: "GET /metrics", want: public}, // loopback clients; see TestMetricsAccess
		{route: "GET /{$}", path: "/", want: public},
		{route: "GET /static/", path: "/static/console.js", want: public},
		{route: "/api/", path: "/api/v1/no-such-route", want: cells(404, cAnon, 404)},
		// Last: it ends the sign-ins the rows above use.
		{route: "POST /api/v1/logout", body: empty, want: signedIn},
	}
	matrixRoutes = nil
	for _, r := range rows {
		matrixRoutes = append(matrixRoutes, r.route)
		path := r.path
		if path == "" {
			_, path, _ = strings.Cut(r.route, " ")
		}
		for col := range nCols {
			name := "anonymous"
			if matrixColumns[col] != nil {
				name = strings.Join(matrixColumns[col], "+")
			}
			t.Run(r.route+" "+path+"/"+name, func(t *testing.T) {
				c := clients[col]
				c.t = t
				subst := map[string]string{"{victimD}": victimD[col], "{victimG}": victimG[col], "{i}": fmt.Sprint(col)}
				if r.setup != nil {
					for k, v := range r.setup(t, col) {
						subst["{"+k+"}"] = v
					}
				}
				p := path
				for k, v := range subst {
					p = strings.ReplaceAll(p, k, v)
				}
				var body any
				if r.body != nil {
					body = r.body(col)
				}
				var got int
				switch {
				case r.ws:
					got = wsStatus(t, e, c, p, r.auth)
				case r.auth != "":
					// An agent's own credential instead of the column's sign-in.
					agent := e.client()
					agent.t, agent.bearer = t, r.auth
					got = agent.do(methodOf(r.route), p, body, nil)
				default:
					got = c.do(methodOf(r.route), p, body, nil)
				}
				if got != r.want[col] {
					t.Errorf("status = %d, want %d (%s)", got, r.want[col], c.last)
				}
			})
		}
	}
}

// matrixRoutes are the routes TestPermissionMatrix covered, for
// TestMatrixCoversEveryRoute.
var matrixRoutes []string

func methodOf(route string) string {
	m, _, ok := strings.Cut(route, " ")
	if !ok || strings.HasPrefix(m, "/") {
		return "GET"
	}
	return m
}

// wsStatus attempts a real websocket upgrade as c (or with bearer) and
// returns 101 when it succeeded, else the HTTP status of the refusal.
func wsStatus(t *testing.T, e *env, c *client, path, bearer string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hdr := http.Header{}
	if bearer != "" {
		hdr.Set("Authorization", "Bearer "+bearer)
	}
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+path, &websocket.DialOptions{HTTPClient: c.hc, HTTPHeader: hdr})
	if err == nil {
		conn.Close(websocket.StatusNormalClosure, "")
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	return resp.StatusCode
}

// TestMatrixCoversEveryRoute fails when a route registered by the API or
// the console has no row in TestPermissionMatrix.
func TestMatrixCoversEveryRoute(t *testing.T) {
	if matrixRoutes == nil {
		t.Run("matrix", TestPermissionMatrix)
	}
	re := regexp.MustCompile(`HandleFunc\("([A-Z]+ )?([^"]*)"(?:\+(protocol\.\w+))?`)
	var registered []string
	for _, f := range []string{"api.go", "notifications.go", "../console/console.go"} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			route := m[1] + m[2]
			if m[3] != "" {
				route += constValue(t, m[3])
			}
			registered = append(registered, route)
		}
	}
	if len(registered) < 40 {
		t.Fatalf("found only %d routes: the pattern no longer matches api.go", len(registered))
	}
	for _, r := range registered {
		if !slices.Contains(matrixRoutes, r) {
			t.Errorf("route %q has no row in TestPermissionMatrix", r)
		}
	}
}

func constValue(t *testing.T, name string) string {
	switch name {
	case "protocol.PathEnroll":
		return protocol.PathEnroll
	case "protocol.PathPoll":
		return protocol.PathPoll
	case "protocol.PathRedeemCode":
		return protocol.PathRedeemCode
	case "protocol.PathViewerSignal":
		return protocol.PathViewerSignal
	case "protocol.PathAgentSignal":
		return protocol.PathAgentSignal
	case "protocol.PathRelease":
		return protocol.PathRelease
	case "protocol.PathAgentRecording":
		return protocol.PathAgentRecording
	case "protocol.PathAgentTranscript":
		return protocol.PathAgentTranscript
	case "protocol.PathToolSessions":
		return protocol.PathToolSessions
	case "protocol.PathTranscript":
		return protocol.PathTranscript
	}
	t.Fatalf("unknown path constant %s: add it here", name)
	return ""
}

// mustDo sends a request and fails the test unless the status is want.
func mustDo(t *testing.T, c *client, method, path string, body, out any, want int) {
	t.Helper()
	c.t = t
	if st := c.do(method, path, body, out); st != want {
		t.Fatalf("%s %s: %d, want %d (%s)", method, path, st, want, c.last)
	}
}
