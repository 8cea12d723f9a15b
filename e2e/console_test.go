//go:build linux

package e2e

// The technician console in headless Chromium against the real server: sign
// in, find an endpoint by IP, the Open Screen Share dialog, the Sessions tab
// with live updates and ending from it, the audit history and its CSV
// export, settings, and what a Screen Sharing Agent may not see. The
// endpoint is a scripted agent that enrolls and keeps polling through the
// agent API (online, never answering a screenshare.start), so sessions stay
// in their first state for as long as the test looks at them.

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Users of the console test. odd's name has a comma and quotes, for the CSV.
const (
	lead, leadPassword = "lead", "correct horse battery lead"
	odd, oddPassword   = `Pat "PJ" O'Brien, Jr`, "correct horse battery odd"
	sam, samPassword   = "sam", "correct horse battery sam"
	consoleHost        = "console-e2e-pc"
	consoleIP          = "10.77.1.5"
)

// pollingEndpoint enrolls a scripted agent with hostname and ip and keeps it
// polling until the test ends, so the server lists it online.
func pollingEndpoint(t *testing.T, s *server, hostname, ip string) string {
	t.Helper()
	c := &apiClient{base: s.url, hc: &http.Client{Timeout: 30 * time.Second}}
	var res protocol.EnrollResponse
	if err := c.do(http.MethodPost, protocol.PathEnroll, "", protocol.EnrollRequest{Token: s.enrollmentToken(), Protocol: protocol.Version,
		Inventory: protocol.Inventory{Hostname: hostname, IPs: []string{ip}, OS: "linux", OSVersion: "Debian 13", Arch: "amd64", AgentVersion: "e2e", Users: []string{"alex"}}}, &res); err != nil {
		t.Fatalf("enroll %s: %v", hostname, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			body := strings.NewReader(fmt.Sprintf(`{"protocol":%d}`, protocol.Version))
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url+protocol.PathPoll, body)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+res.Secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				select { // the server is restarting or gone: back off a little
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond):
				}
				continue
			}
			resp.Body.Close()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return res.AgentID
}

// waitJS waits until the JavaScript expression is true in the page.
func (tb *tab) waitJS(timeout time.Duration, what, expr string) {
	tb.t.Helper()
	testenv.Eventually(tb.t, timeout, what, func() (bool, error) {
		return evalJS[bool](tb, "!!("+expr+")")
	})
}

// text is the textContent of the first element matching a CSS selector, or "".
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	v, err := evalJS[string](tb, `(document.querySelector(`+jsonString(sel)+`) || {}).textContent || ""`)
	if err != nil {
		tb.t.Fatalf("read %s: %v", sel, err)
	}
	return v
}

// present reports whether a CSS selector matches.
func (tb *tab) present(sel string) bool {
	tb.t.Helper()
	v, err := evalJS[bool](tb, `document.querySelector(`+jsonString(sel)+`) !== null`)
	if err != nil {
		tb.t.Fatalf("query %s: %v", sel, err)
	}
	return v
}

// goTo follows a route of the console and waits for its section.
func (tb *tab) goTo(url, route, section string) {
	tb.t.Helper()
	tb.do("open "+route, chromedp.Navigate(url+"/#/"+route), chromedp.WaitVisible(chromedp.ID(section)))
}

// userIDOf finds a user's id through the API.
func userIDOf(t *testing.T, s *server, name string) string {
	t.Helper()
	var list struct{ Users []protocol.User }
	if err := s.api.do(http.MethodGet, "/api/v1/users", "", nil, &list); err != nil {
		t.Fatalf("list users: %v", err)
	}
	for _, u := range list.Users {
		if u.Name == name {
			return u.ID
		}
	}
	t.Fatalf("no user %q", name)
	return ""
}

func rowSel(tbody, id string) string { return fmt.Sprintf(`#%s tr[data-id=%q]`, tbody, id) }

func TestConsole(t *testing.T) {
	s := startServer(t)
	requireSessionsAPI(t, s)
	epID := pollingEndpoint(t, s, consoleHost, consoleIP)
	for _, u := range []struct {
		name, pw string
		roles    []string
	}{
		{lead, leadPassword, []string{perm.RoleAdministrator, perm.RoleScreenShareUnattended}},
		{odd, oddPassword, []string{perm.RoleScreenShareAgent}},
		{sam, samPassword, []string{perm.RoleScreenShareAgent}},
	} {
		if err := s.api.do(http.MethodPost, "/api/v1/users", "", protocol.CreateUserRequest{Name: u.name, Password: u.pw, Roles: u.roles}, nil); err != nil {
			t.Fatalf("create user %s: %v", u.name, err)
		}
	}
	oddAPI, samAPI := s.userClient(odd, oddPassword), s.userClient(sam, samPassword)
	startAs := func(t *testing.T, c *apiClient) protocol.Session {
		t.Helper()
		var ss protocol.Session
		if err := c.do(http.MethodPost, "/api/v1/sessions", "", protocol.CreateSessionRequest{EndpointID: epID, Attended: true}, &ss); err != nil {
			t.Fatalf("start a session: %v", err)
		}
		return ss
	}
	sessionState := func(t *testing.T, id string) protocol.Session {
		t.Helper()
		var ss protocol.Session
		if err := s.api.do(http.MethodGet, "/api/v1/sessions/"+url.PathEscape(id), "", nil, &ss); err != nil {
			t.Fatalf("GET session %s: %v", id, err)
		}
		return ss
	}
	waitEndpoint(t, s.api, consoleHost)

	br := startBrowser(t)
	tb := br.firstTab()

	t.Run("SignIn", func(t *testing.T) {
		tb := tb.on(t)
		tb.do("open the console", chromedp.Navigate(s.url+"/"), chromedp.WaitVisible(chromedp.ID("name")))
		tb.screenshot("console-signin.png")
		tb.do("sign in with a wrong password",
			chromedp.SendKeys(chromedp.ID("name"), lead), chromedp.SendKeys(chromedp.ID("password"), "not the password"),
			chromedp.Click(chromedp.CSS(`#signin-form button[type="submit"]`)))
		tb.waitJS(startTimeout, "the wrong-password message", `document.getElementById("signin-error").textContent.includes("Wrong name or password")`)
		tb.signIn(s.url, lead, leadPassword)
		nav := tb.text("#nav")
		for _, want := range []string{"Endpoints", "Screen Share Sessions", "Audit Log", "Settings"} {
			if !strings.Contains(nav, want) {
				t.Errorf("the administrator's navigation %q lacks %q", nav, want)
			}
		}
	})

	// A session started through the API by another technician: the
	// endpoint's row offers Join and End, the Sessions tab lists it.
	first := startAs(t, oddAPI)

	t.Run("FindEndpointByIP", func(t *testing.T) {
		tb := tb.on(t)
		tb.goTo(s.url, "endpoints", "endpoints")
		tb.do("type the IP", chromedp.SendKeys(chromedp.ID("q"), "10.77.1"))
		row := rowSel("ep-rows", epID)
		tb.waitJS(startTimeout, "the endpoint's row with Join and End", `document.querySelector(`+jsonString(row+` button.end`)+`)`)
		got := tb.text(row)
		for _, want := range []string{consoleHost, "Online", consoleIP, "alex", "Join Screen Share", "Open Screen Share"} {
			if !strings.Contains(got, want) {
				t.Errorf("endpoint row %q lacks %q", got, want)
			}
		}
		if n, _ := evalJS[int](tb, `document.querySelectorAll("#ep-rows tr").length`); n != 1 {
			t.Errorf("search 10.77.1 lists %d rows, want 1", n)
		}
		tb.screenshot("console-endpoints.png")
		tb.do("phone width", chromedp.EmulateViewport(390, 844))
		tb.screenshot("console-endpoints-phone.png")
		tb.do("back to 1280x720", chromedp.EmulateViewport(displayW, displayH))
	})

	t.Run("ShareDialog", func(t *testing.T) {
		tb := tb.on(t)
		tb.do("click Open Screen Share", chromedp.Click(chromedp.CSS(rowSel("ep-rows", epID)+` button.share`)))
		tb.waitJS(startTimeout, "the dialog", `document.getElementById("share-dialog") && document.getElementById("share-dialog").open`)
		if ok, _ := evalJS[bool](tb, `document.getElementById("share-ask").checked`); !ok {
			t.Errorf("“Ask the endpoint user for permission” is not checked by default for a holder of the unattended permission")
		}
		tb.do("start", chromedp.Click(chromedp.ID("share-start")))
		// The scripted agent takes the action but never answers: deploying.
		tb.waitJS(startTimeout, "the dialog to say deploying", `(document.getElementById("share-state").textContent || "").includes("Deploying")`)
		tb.screenshot("console-share-dialog.png")
		var mine []protocol.Session
		var list struct{ Sessions []protocol.Session }
		if err := s.userClient(lead, leadPassword).do(http.MethodGet, "/api/v1/sessions?state=active", "", nil, &list); err != nil {
			t.Fatal(err)
		}
		for _, ss := range list.Sessions {
			if ss.Technician == lead {
				mine = append(mine, ss)
			}
		}
		if len(mine) != 1 || !mine[0].Attended || mine[0].State != protocol.SessionRequested {
			t.Fatalf("lead's active sessions after Start: %+v, want one attended, requested", mine)
		}
		tb.do("cancel", chromedp.Click(chromedp.ID("share-cancel")))
		testenv.Eventually(t, startTimeout, "the cancelled session to end", func() (bool, error) {
			ss := sessionState(t, mine[0].ID)
			return ss.State == protocol.SessionEnded && ss.Reason == protocol.EndedByTechnician, fmt.Errorf("%s %s", ss.State, ss.Reason)
		})
	})

	t.Run("SessionsTab", func(t *testing.T) {
		tb := tb.on(t)
		tb.do("open the Sessions tab", chromedp.Click(chromedp.CSS(`#nav a[data-page="sessions"]`)), chromedp.WaitVisible(chromedp.ID("sessions")))
		row := rowSel("ss-rows", first.ID)
		tb.waitJS(startTimeout, "the session in the tab", `document.querySelector(`+jsonString(row)+`)`)
		if got := tb.text(row); !strings.Contains(got, odd) || !strings.Contains(got, consoleHost) {
			t.Errorf("session row %q lacks the technician or endpoint", got)
		}
		// Live: a session started now appears without a reload.
		second := startAs(t, oddAPI)
		tb.waitJS(startTimeout, "a new session to appear without reloading", `document.querySelector(`+jsonString(rowSel("ss-rows", second.ID))+`)`)
		tb.screenshot("console-sessions.png")
		tb.do("select both", chromedp.Click(chromedp.ID("ss-all")))
		if on, _ := evalJS[bool](tb, `!document.getElementById("ss-end").disabled && document.querySelectorAll("#ss-rows input:checked").length === 2`); !on {
			t.Errorf("ticking “select all” did not at once tick both rows and enable End Screen Share")
		}
		tb.do("end", chromedp.Click(chromedp.ID("ss-end")))
		tb.waitJS(startTimeout, "the ended sessions to leave the tab", `!document.querySelector("#ss-rows tr") && !document.getElementById("ss-empty").hidden`)
		for _, id := range []string{first.ID, second.ID} {
			if ss := sessionState(t, id); ss.State != protocol.SessionEnded || ss.Reason != protocol.EndedByTechnician {
				t.Errorf("session %s: %s %s, want ended by the technician", id, ss.State, ss.Reason)
			}
		}
		tb.screenshot("console-sessions-empty.png")
	})

	t.Run("AuditAndCSV", func(t *testing.T) {
		tb := tb.on(t)
		tb.goTo(s.url, "audit", "audit")
		tb.waitJS(startTimeout, "the session history", `document.querySelector(`+jsonString(rowSel("au-table tbody", first.ID))+`)`)
		got := tb.text(rowSel("au-table tbody", first.ID))
		for _, want := range []string{odd, consoleHost, "Yes", "Ended by technician"} {
			if !strings.Contains(got, want) {
				t.Errorf("history row %q lacks %q", got, want)
			}
		}
		tb.screenshot("console-audit.png")

		var hist struct{ Sessions []protocol.SessionRecord }
		if err := s.api.do(http.MethodGet, "/api/v1/audit/sessions", "", nil, &hist); err != nil {
			t.Fatal(err)
		}
		// The export the page links to, fetched with the browser's sign-in.
		body, err := evalJS[string](tb, `fetch(document.getElementById("au-csv").href).then(r => r.ok && r.headers.get("Content-Type").startsWith("text/csv") ? r.text() : "HTTP " + r.status)`)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll("out", 0o755); err == nil {
			_ = os.WriteFile(filepath.Join("out", "console-sessions.csv"), []byte(body), 0o644)
		}
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatalf("the CSV export does not parse: %v\n%s", err, body)
		}
		if len(rows) != 1+len(hist.Sessions) || len(hist.Sessions) != 3 || rows[0][0] != "session_id" || rows[0][1] != "technician" {
			t.Fatalf("CSV has %d rows for %d sessions (header %q), want a header and 3 rows", len(rows), len(hist.Sessions), rows[0])
		}
		found := false
		for _, r := range rows[1:] {
			if r[0] == first.ID {
				found = true
				if r[1] != odd || r[2] != consoleHost || r[10] != string(protocol.EndedByTechnician) {
					t.Errorf("CSV row %q: want technician %q, endpoint %q, reason %s", r, odd, consoleHost, protocol.EndedByTechnician)
				}
			}
		}
		if !found {
			t.Errorf("CSV lacks session %s", first.ID)
		}

		tb.do("filter by an unknown endpoint", chromedp.SendKeys(chromedp.ID("au-endpoint"), "no-such-pc"), chromedp.Click(chromedp.CSS(`#au-filters button[type="submit"]`)))
		tb.waitJS(startTimeout, "the empty state", `document.querySelector("#audit .empty") && !document.getElementById("au-table")`)
		tb.do("clear the filters", chromedp.Click(chromedp.CSS(`#au-filters button[type="button"]`)))
		tb.goTo(s.url, "audit/events", "audit")
		tb.waitJS(startTimeout, "the other events", `document.querySelector("#ev-table") && document.querySelector("#ev-table").textContent.includes("Signed in")`)
		tb.screenshot("console-audit-events.png")
	})

	t.Run("EndpointPage", func(t *testing.T) {
		tb := tb.on(t)
		tb.goTo(s.url, "endpoints/"+url.PathEscape(epID), "endpoint")
		tb.waitJS(startTimeout, "the inventory", `document.querySelector("dl.inventory") && document.getElementById("epd-title").textContent === `+jsonString(consoleHost))
		if got := tb.text("dl.inventory"); !strings.Contains(got, "Debian 13") || !strings.Contains(got, consoleIP) {
			t.Errorf("inventory %q lacks the OS or IP", got)
		}
		tb.screenshot("console-endpoint.png")
	})

	t.Run("Settings", func(t *testing.T) {
		tb := tb.on(t)
		tb.goTo(s.url, "settings/tokens", "settings")
		tb.waitJS(startTimeout, "the tokens tab", `document.getElementById("token-group") && document.getElementById("token-group").options.length > 0`)
		tb.do("create an enrollment token", chromedp.Click(chromedp.CSS(`#token-form button[type="submit"]`)))
		tb.waitJS(startTimeout, "the install command", `document.getElementById("install-command")`)
		cmd := tb.text("#install-command")
		if !strings.HasPrefix(cmd, "tether-agent install --server "+s.url+" --token tet_") {
			t.Errorf("install command %q, want tether-agent install --server %s --token tet_…", cmd, s.url)
		}
		tb.screenshot("console-settings-tokens.png")
		tb.goTo(s.url, "settings/policy", "settings")
		tb.waitJS(startTimeout, "the policy tab", `document.getElementById("policy-inherit") && document.getElementById("policy-inherit").textContent`)
		tb.screenshot("console-settings-policy.png")
	})

	t.Run("SettingsUsers", func(t *testing.T) {
		tb := tb.on(t)
		tb.goTo(s.url, "settings/users", "settings")
		row := `#users-table tr[data-id]`
		tb.waitJS(startTimeout, "the users", `document.querySelectorAll(`+jsonString(row)+`).length >= 3`)
		tb.screenshot("console-settings-users.png")
		samID := userIDOf(t, s, sam)
		samRow := rowSel("users-table", samID)
		tb.do("edit sam", chromedp.Click(chromedp.CSS(samRow+` button.edit`)))
		tb.waitJS(startTimeout, "the user dialog", `document.getElementById("user-dialog") && document.getElementById("user-dialog").open`)
		tb.do("set a display name and scope a second role",
			chromedp.SetValue(chromedp.ID("user-display"), "Sam Support"),
			chromedp.Click(chromedp.ID("user-add-role")))
		if _, err := evalJS[bool](tb, `(() => { const rows = document.querySelectorAll("#user-roles .role-row"); const last = rows[rows.length-1];
			last.querySelector(".role-name").value = "End-User Notifications Read Only User"; last.querySelector(".role-scope").value = "Default"; return true; })()`); err != nil {
			t.Fatal(err)
		}
		tb.screenshot("console-settings-user-edit.png")
		tb.do("save", chromedp.Click(chromedp.ID("user-save")))
		tb.waitJS(startTimeout, "the saved user", `!document.getElementById("user-dialog") && document.querySelector(`+jsonString(samRow)+`).textContent.includes("Sam Support")`)
		if got := tb.text(samRow); !strings.Contains(got, "End-User Notifications Read Only User@Default") {
			t.Errorf("sam's row after the edit: %q", got)
		}
		// The last administrator is protected: lead may not delete themselves,
		// and the dialog says so instead of offering it.
		leadRow := rowSel("users-table", userIDOf(t, s, lead))
		tb.do("edit lead (self)", chromedp.Click(chromedp.CSS(leadRow+` button.edit`)))
		tb.waitJS(startTimeout, "the own-account dialog", `document.getElementById("user-dialog") && !document.getElementById("user-delete") && document.getElementById("user-disabled").disabled`)
		tb.do("close", chromedp.KeyEvent("\x1b"))
		tb.waitJS(startTimeout, "the dialog to close", `!document.getElementById("user-dialog")`)
	})

	t.Run("SettingsRoles", func(t *testing.T) {
		tb := tb.on(t)
		tb.goTo(s.url, "settings/roles", "settings")
		tb.waitJS(startTimeout, "the roles", `document.querySelector('#roles-table tr[data-name="Administrator"]')`)
		if tb.present(`#roles-table tr[data-name="Administrator"] button.edit`) {
			t.Errorf("the built-in Administrator role offers Edit")
		}
		tb.do("new role", chromedp.Click(chromedp.ID("role-new")))
		tb.waitJS(startTimeout, "the role dialog", `document.getElementById("role-dialog") && document.getElementById("role-dialog").open`)
		tb.do("name it and pick permissions", chromedp.SendKeys(chromedp.ID("role-name"), "Night Shift"),
			chromedp.Click(chromedp.CSS(`#role-perms input[value="endpoints.view"]`)), chromedp.Click(chromedp.CSS(`#role-perms input[value="audit.read"]`)))
		tb.screenshot("console-settings-role-edit.png")
		tb.do("save", chromedp.Click(chromedp.ID("role-save")))
		tb.waitJS(startTimeout, "the new role", `document.querySelector('#roles-table tr[data-name="Night Shift"]')`)
		tb.screenshot("console-settings-roles.png")
		tb.do("delete it", chromedp.Click(chromedp.CSS(`#roles-table tr[data-name="Night Shift"] button.danger`)))
		tb.do("confirm", chromedp.Click(chromedp.CSS(`#roles-table tr[data-name="Night Shift"] button.confirm`)))
		tb.waitJS(startTimeout, "the role to go", `!document.querySelector('#roles-table tr[data-name="Night Shift"]')`)
	})

	t.Run("SettingsGroups", func(t *testing.T) {
		tb := tb.on(t)
		tb.goTo(s.url, "settings/groups", "settings")
		tb.waitJS(startTimeout, "the groups", `document.querySelector('#groups-table tr[data-id="Default"]')`)
		tb.do("new group", chromedp.Click(chromedp.ID("group-new")))
		tb.waitJS(startTimeout, "the group dialog", `document.getElementById("group-dialog") && document.getElementById("group-dialog").open`)
		tb.do("name it, add an IP rule", chromedp.SendKeys(chromedp.ID("group-name"), "Lab"), chromedp.Click(chromedp.ID("group-add-rule")))
		if _, err := evalJS[bool](tb, `(() => { const r = document.querySelector("#group-rules .rule-row"); r.querySelector(".rule-kind").value = "ip"; r.querySelector(".rule-value").value = "10.77.0.0/16"; return true; })()`); err != nil {
			t.Fatal(err)
		}
		tb.screenshot("console-settings-group-edit.png")
		tb.do("save", chromedp.Click(chromedp.ID("group-save")))
		tb.waitJS(startTimeout, "the Lab group with its member", `[...document.querySelectorAll("#groups-table tbody tr")].some((tr) => tr.textContent.includes("Lab") && tr.textContent.includes("10.77.0.0/16") && tr.children[2].textContent === "1")`)
		tb.screenshot("console-settings-groups.png")

		// The endpoint page shows the group, joined by rule.
		tb.goTo(s.url, "endpoints/"+url.PathEscape(epID), "endpoint")
		tb.waitJS(startTimeout, "the endpoint's groups", `document.getElementById("epd-group-list") && document.getElementById("epd-group-list").textContent.includes("Lab (by rule)")`)
		tb.screenshot("console-endpoint-groups.png")
	})

	t.Run("ShareDialogModes", func(t *testing.T) {
		tb := tb.on(t)
		if err := s.api.do(http.MethodPut, "/api/v1/policies/Lab", "", map[string]any{"screenshare": map[string]any{"modes": []string{"guidance", "monitor"}}}, nil); err != nil {
			t.Fatalf("Lab policy: %v", err)
		}
		tb.goTo(s.url, "endpoints/"+url.PathEscape(epID), "endpoint")
		tb.waitJS(startTimeout, "Open Screen Share", `document.querySelector("#endpoint button.share")`)
		tb.do("open the dialog", chromedp.Click(chromedp.CSS(`#endpoint button.share`)))
		tb.waitJS(startTimeout, "the modes the policy enables", `document.getElementById("share-mode-guidance") && document.getElementById("share-mode-monitor") && !document.getElementById("share-mode-active")`)
		tb.do("pick Monitor", chromedp.Click(chromedp.ID("share-mode-monitor")))
		tb.screenshot("console-share-dialog-modes.png")
		tb.do("start", chromedp.Click(chromedp.ID("share-start")))
		tb.waitJS(startTimeout, "deploying", `(document.getElementById("share-state").textContent || "").includes("Deploying")`)
		var list struct{ Sessions []protocol.Session }
		if err := s.userClient(lead, leadPassword).do(http.MethodGet, "/api/v1/sessions?state=active", "", nil, &list); err != nil {
			t.Fatal(err)
		}
		var mine *protocol.Session
		for i, ss := range list.Sessions {
			if ss.Technician == lead {
				mine = &list.Sessions[i]
			}
		}
		if mine == nil || mine.Mode != protocol.ModeMonitor {
			t.Fatalf("lead's session: %+v, want one in monitor mode", mine)
		}
		tb.do("cancel", chromedp.Click(chromedp.ID("share-cancel")))
		testenv.Eventually(t, startTimeout, "the session to end", func() (bool, error) {
			ss := sessionState(t, mine.ID)
			return ss.State == protocol.SessionEnded, fmt.Errorf("%s", ss.State)
		})
		// The API refuses a mode the policy disables, with the reason.
		var ae *apiError
		err := s.userClient(lead, leadPassword).do(http.MethodPost, "/api/v1/sessions", "", protocol.CreateSessionRequest{EndpointID: epID, Attended: true, Mode: protocol.ModeActive}, nil)
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || !strings.Contains(ae.Body, "not enabled by policy") {
			t.Errorf("an Active session where the policy disables it: %v, want 400 not enabled by policy", err)
		}
		if err := s.api.do(http.MethodPut, "/api/v1/policies/Lab", "", map[string]any{}, nil); err != nil {
			t.Fatalf("reset the Lab policy: %v", err)
		}
	})

	t.Run("AuditEventFilters", func(t *testing.T) {
		tb := tb.on(t)
		tb.goTo(s.url, "audit/events", "audit")
		tb.waitJS(startTimeout, "the events", `document.querySelector("#ev-table tbody tr")`)
		tb.do("filter: groups by lead", chromedp.SendKeys(chromedp.ID("ev-actor"), lead), chromedp.SetValue(chromedp.ID("ev-type"), "group.*"))
		if _, err := evalJS[bool](tb, `(document.getElementById("ev-type").dispatchEvent(new Event("change")), true)`); err != nil {
			t.Fatal(err)
		}
		tb.do("apply", chromedp.Click(chromedp.CSS(`#ev-filters button[type="submit"]`)))
		tb.waitJS(startTimeout, "only lead's group events", `(() => { const rows = [...document.querySelectorAll("#ev-table tbody tr")];
			return rows.length > 0 && rows.every((r) => r.dataset.type.startsWith("group.") && r.children[1].textContent === `+jsonString(lead)+`); })()`)
		tb.screenshot("console-audit-events-filtered.png")
		tb.do("filter: a day with nothing", chromedp.SetValue(chromedp.ID("ev-from"), "2001-01-01"), chromedp.SetValue(chromedp.ID("ev-to"), "2001-01-02"))
		if _, err := evalJS[bool](tb, `(["ev-from","ev-to"].forEach((id) => document.getElementById(id).dispatchEvent(new Event("input"))), true)`); err != nil {
			t.Fatal(err)
		}
		tb.do("apply", chromedp.Click(chromedp.CSS(`#ev-filters button[type="submit"]`)))
		tb.waitJS(startTimeout, "the empty state", `!document.getElementById("ev-table") && document.querySelector("#audit .empty") && document.querySelector("#audit .empty").textContent.includes("No events match")`)
		tb.do("clear", chromedp.Click(chromedp.CSS(`#ev-filters button[type="button"]`)))
	})

	t.Run("ScreenSharingAgent", func(t *testing.T) {
		other := startAs(t, oddAPI)
		own := startAs(t, samAPI)
		t.Cleanup(func() {
			for _, id := range []string{other.ID, own.ID} {
				_ = s.api.do(http.MethodPost, "/api/v1/sessions/"+url.PathEscape(id)+"/end", "", struct{}{}, nil)
			}
		})
		st := br.newProfileTab(t)
		st.signIn(s.url, sam, samPassword)
		nav := st.text("#nav")
		if strings.Contains(nav, "Audit Log") || strings.Contains(nav, "Settings") || !strings.Contains(nav, "Screen Share Sessions") {
			t.Errorf("a Screen Sharing Agent's navigation: %q", nav)
		}
		st.goTo(s.url, "sessions", "sessions")
		st.waitJS(startTimeout, "sam's own session", `document.querySelector(`+jsonString(rowSel("ss-rows", own.ID))+`)`)
		if st.present(rowSel("ss-rows", other.ID)) {
			t.Errorf("a Screen Sharing Agent sees another technician's session %s", other.ID)
		}
		st.screenshot("console-sessions-agent.png")

		st.goTo(s.url, "endpoints", "endpoints")
		st.waitJS(startTimeout, "the endpoint", `document.querySelector(`+jsonString(rowSel("ep-rows", epID)+" button.share")+`)`)
		st.do("open the dialog", chromedp.Click(chromedp.CSS(rowSel("ep-rows", epID)+" button.share")))
		st.waitJS(startTimeout, "the dialog", `document.getElementById("share-dialog") && document.getElementById("share-dialog").open`)
		if st.present("#share-ask") {
			t.Errorf("a Screen Sharing Agent is shown the “Ask the endpoint user for permission” checkbox")
		}
		st.screenshot("console-share-dialog-agent.png")
		st.do("close the dialog", chromedp.Click(chromedp.ID("share-cancel")))

		// The same requests straight to the API.
		var ae *apiError
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{http.MethodGet, "/api/v1/sessions/" + url.PathEscape(other.ID), nil},
			{http.MethodPost, "/api/v1/sessions/" + url.PathEscape(other.ID) + "/end", struct{}{}},
			{http.MethodPost, "/api/v1/sessions", protocol.CreateSessionRequest{EndpointID: epID, Attended: false}},
			{http.MethodGet, "/api/v1/audit/sessions.csv", nil},
		} {
			if err := samAPI.do(c.method, c.path, "", c.body, nil); !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
				t.Errorf("%s %s as a Screen Sharing Agent: %v, want 403", c.method, c.path, err)
			}
		}

		// The sign-in expires (the cookie goes): back to sign-in, with a message.
		// The Sessions tab polls, so its next request finds out.
		st.goTo(s.url, "sessions", "sessions")
		ctx, cancel := context.WithTimeout(st.ctx, startTimeout)
		_, err := chromedp.Call(ctx, network.DeleteCookies, network.DeleteCookiesParams{Name: protocol.SessionCookie, URL: s.url})
		cancel()
		if err != nil {
			t.Fatalf("delete the sign-in cookie: %v", err)
		}
		st.waitJS(startTimeout, "the expired sign-in message", `!document.getElementById("signin").hidden && document.getElementById("signin-error").textContent.includes("expired")`)
		st.screenshot("console-signin-expired.png")
	})

	t.Run("SignOut", func(t *testing.T) {
		tb := tb.on(t)
		tb.do("sign out", chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("signin")))
		if got := tb.text("#signin-error"); !strings.Contains(got, "signed out") {
			t.Errorf("after signing out: %q", got)
		}
	})
}
