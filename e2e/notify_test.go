//go:build linux

package e2e

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// The end user's notification window (agent/desktop): its title's
// beginning and the colours tests find its controls by.
const (
	noticeTitle    = "Tether notification"
	noticePostpone = 0x374151 // the Postpone button
	noticeWarning  = 0xb45309 // a warning's accent: its first button
)

// windowRect is a window's rectangle on display.
func windowRect(t testing.TB, display, win string) image.Rectangle {
	t.Helper()
	var r image.Rectangle
	testenv.Eventually(t, 20*time.Second, "the window's geometry", func() (bool, error) {
		out, err := xdotool(t, display, 10*time.Second, "getwindowgeometry", "--shell", win)
		if err != nil {
			return false, err
		}
		v := map[string]int{}
		for _, l := range strings.Fields(out) {
			k, val, _ := strings.Cut(l, "=")
			v[k], _ = strconv.Atoi(val)
		}
		r = image.Rect(v["X"], v["Y"], v["X"]+v["WIDTH"], v["Y"]+v["HEIGHT"])
		return r.Dx() > 1 && r.Dy() > 1, fmt.Errorf("geometry %q", out)
	})
	return r
}

// clickColour clicks, with a real X pointer event, the middle of what is
// drawn in rgb inside r below its top skip pixels (the accent band).
func clickColour(t testing.TB, display string, r image.Rectangle, skip int, rgb uint32, what string) {
	t.Helper()
	var at image.Point
	testenv.Eventually(t, 20*time.Second, what, func() (bool, error) {
		below := image.Rect(r.Min.X, r.Min.Y+skip, r.Max.X, r.Max.Y)
		p, ok := barButton(t, display, below, rgb)
		at = p
		return ok, fmt.Errorf("nothing of #%06x in %v", rgb, below)
	})
	if out, err := xdotool(t, display, 10*time.Second, "mousemove", "--sync", strconv.Itoa(at.X), strconv.Itoa(at.Y), "click", "1"); err != nil {
		t.Fatalf("xdotool click: %v %s", err, out)
	}
}

// reportRow waits until the endpoint's row in the notification's report
// satisfies cond and returns it.
func reportRow(t testing.TB, c *apiClient, id, endpointID, what string, cond func(protocol.NotificationEndpoint) bool) protocol.NotificationEndpoint {
	t.Helper()
	var row protocol.NotificationEndpoint
	testenv.Eventually(t, 40*time.Second, what, func() (bool, error) {
		var rep protocol.NotificationReport
		if err := c.do(http.MethodGet, "/api/v1/notifications/"+id+"/report", "", nil, &rep); err != nil {
			return false, err
		}
		for _, r := range rep.Endpoints {
			if r.EndpointID == endpointID {
				row = r
				return cond(r), fmt.Errorf("row %+v", r)
			}
		}
		return false, fmt.Errorf("no row in %+v", rep)
	})
	return row
}

// TestNotification is the end-user notification from compose to report:
// an administrator composes it with two buttons and one postpone; the
// endpoint shows nothing before a second user approves; the window then
// appears on the endpoint's display; a real click postpones it; it comes
// back after the interval although the agent restarted meanwhile, now
// without a postpone choice; Tab and Return press the first button; the
// report and its CSV say delivered, shown, postponed once and the answer.
func TestNotification(t *testing.T) {
	s := startServer(t)
	display := startXvfb(t)
	state := t.TempDir()
	a := startAgentEnv(t, s, s.enrollmentToken(), state, "DISPLAY="+display)
	ep := waitEndpoint(t, s.api, hostname(t))

	for _, u := range []struct{ name, role string }{{"composer", perm.RoleNotifyAdmin}, {"approver", perm.RoleNotifyApprover}} {
		if err := s.api.do(http.MethodPost, "/api/v1/users", "", protocol.CreateUserRequest{Name: u.name, Password: tech1Password,
			Roles: []string{u.role}}, nil); err != nil {
			t.Fatalf("create %s: %v", u.name, err)
		}
	}
	composer := s.userClient("composer", tech1Password)

	// The administrator composes in the console: two buttons, one
	// postpone of 10 s (the least the server allows), a live preview.
	br := startBrowser(t)
	ctab := br.firstTab().on(t)
	ctab.signIn(s.url, "composer", tech1Password)
	ctab.goTo(s.url, "notifications/new", "compose")
	set := func(id, v string) {
		t.Helper()
		if _, err := evalJS[bool](ctab, `(() => { const e = document.getElementById(`+jsonString(id)+`); e.value = `+jsonString(v)+
			`; e.dispatchEvent(new Event("input")); e.dispatchEvent(new Event("change")); return true })()`); err != nil {
			t.Fatalf("set %s: %v", id, err)
		}
	}
	set("nc-title", "Restart tonight")
	set("nc-message", "Updates are waiting. Save your work; see https://it.example/restart")
	set("nc-severity", "warning")
	set("nc-btn-label-0", "Restart now")
	set("nc-btn-value-0", "now")
	set("nc-btn-label-1", "Tonight")
	set("nc-btn-value-1", "tonight")
	set("nc-postpones", "1")
	set("nc-intervals", fmt.Sprint(10.0/60))
	ctab.waitJS(10*time.Second, "the preview", `document.querySelector("#nt-preview .np-title").textContent === "Restart tonight" && document.querySelector("#nt-preview .np-postpone")`)
	if _, err := evalJS[bool](ctab, `(() => { for (const o of document.getElementById("nc-groups").options) o.selected = o.textContent === "Default"; return true })()`); err != nil {
		t.Fatal(err)
	}
	ctab.do("submit for approval", chromedp.Click(chromedp.CSS(`#nc-submit`)), chromedp.WaitVisible(chromedp.CSS(`#nd-status`)))
	id, err := evalJS[string](ctab, `decodeURIComponent(location.hash.split("/")[2])`)
	if err != nil || id == "" {
		t.Fatalf("the notification's page: %q %v", id, err)
	}
	var n protocol.NotificationInfo
	if err := composer.do(http.MethodGet, "/api/v1/notifications/"+id, "", nil, &n); err != nil {
		t.Fatal(err)
	}
	if n.Status != protocol.NotifyPendingApproval || len(n.Buttons) != 2 || n.Deferral == nil || n.Deferral.IntervalsS[0] != 10 {
		t.Fatalf("composed: %+v", n)
	}
	if ctab.present("#nd-approve") {
		t.Error("the console offers its author to approve it")
	}
	// Before approval: a whole poll round trip later (an echo action
	// queued after the notification ran), nothing on the endpoint.
	st := s.api.queueEcho(t, ep.ID, "after compose", 0)
	s.api.waitActionFinished(t, st.ID)
	if windowNamed(t, display, noticeTitle) {
		t.Fatal("the notification is on the endpoint before approval")
	}
	if err := composer.do(http.MethodPost, "/api/v1/notifications/"+n.ID+"/approve", "", protocol.NotificationDecide{Version: 1}, nil); err == nil {
		t.Fatal("the author approved their own notification")
	}
	// A second user approves it from the console's approval queue.
	atab := br.newProfileTab(t)
	atab.signIn(s.url, "approver", tech1Password)
	atab.goTo(s.url, "notifications", "notifications")
	atab.do("the approval queue", chromedp.Click(chromedp.CSS(`#nt-queue`)))
	atab.waitJS(10*time.Second, "the notification in the queue", `document.querySelector(`+jsonString(rowSel("nt-table", n.ID))+`)`)
	atab.goTo(s.url, "notifications/"+n.ID, "notification")
	atab.do("approve", chromedp.WaitVisible(chromedp.CSS(`#nd-approve`)), chromedp.Click(chromedp.CSS(`#nd-approve`)))

	win := waitWindowNamed(t, display, noticeTitle, liveTimeout)
	r := windowRect(t, display, win)
	saveDisplay(t, display, "endpoint-notification.png")
	reportRow(t, composer, n.ID, ep.ID, "delivered and shown in the report", func(e protocol.NotificationEndpoint) bool {
		return e.Delivered != nil && e.Shown != nil
	})

	// Postpone, with the pointer.
	clickColour(t, display, r, 12, noticePostpone, "the Postpone button")
	noWindowNamed(t, display, noticeTitle, 20*time.Second)
	reportRow(t, composer, n.ID, ep.ID, "postponed in the report", func(e protocol.NotificationEndpoint) bool {
		return e.Status == "postponed" && e.Postpones == 1
	})
	// The agent restarts during the postponement: the notification comes
	// back once the interval is over, from its journal.
	a.proc.stop(t)
	a = startAgentEnv(t, s, s.enrollmentToken(), state, "DISPLAY="+display)
	win = waitWindowNamed(t, display, noticeTitle, liveTimeout)
	r = windowRect(t, display, win)
	saveDisplay(t, display, "endpoint-notification-again.png")
	// No postpone left: the window has no Postpone button now.
	if _, ok := barButton(t, display, image.Rect(r.Min.X, r.Min.Y+12, r.Max.X, r.Max.Y), noticePostpone); ok {
		t.Error("the window offers a postpone after the only one was used")
	}
	// Answered with the keyboard: Tab to the first button, Return.
	if _, ok := barButton(t, display, image.Rect(r.Min.X, r.Min.Y+12, r.Max.X, r.Max.Y), noticeWarning); !ok {
		t.Error("the first button is not drawn in the warning's accent")
	}
	if out, err := xdotool(t, display, 10*time.Second, "windowfocus", "--sync", win); err != nil {
		t.Fatalf("xdotool windowfocus: %v %s", err, out)
	}
	if out, err := xdotool(t, display, 10*time.Second, "key", "Tab", "Return"); err != nil {
		t.Fatalf("xdotool key: %v %s", err, out)
	}
	noWindowNamed(t, display, noticeTitle, 20*time.Second)
	row := reportRow(t, composer, n.ID, ep.ID, "the answer in the report", func(e protocol.NotificationEndpoint) bool {
		return e.Status == "responded"
	})
	// The console's report says it for that endpoint, with the chart.
	rowQ := rowSel("nd-table", ep.ID)
	ctab.waitJS(20*time.Second, "the endpoint's row in the console report", `(() => { const r = document.querySelector(`+jsonString(rowQ)+
		`); return r && r.querySelector(".nd-st").textContent === "Responded" && r.querySelector(".nd-resp").textContent === "Restart now" && r.querySelector(".nd-post").textContent === "1" })()`)
	ctab.waitJS(10*time.Second, "the responses chart", `document.querySelector('#nd-chart [data-response="now"]')`)
	if _, err := evalJS[bool](ctab, `(document.getElementById("nd-h").scrollIntoView(), true)`); err != nil {
		t.Fatal(err)
	}
	ctab.screenshot("console-notification-report.png")
	if row.Response != "now" || row.Postpones != 1 || row.Delivered == nil || row.Shown == nil || row.Answered == nil {
		t.Fatalf("report row %+v", row)
	}
	// The CSV has the row.
	req, _ := http.NewRequest(http.MethodGet, s.url+"/api/v1/notifications/"+n.ID+"/report.csv", nil)
	req.Header.Set("Authorization", "Bearer "+composer.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("csv %q: %v", body, err)
	}
	if got := strings.Join(recs[1][:5], ","); got != ep.ID+","+ep.Hostname+",responded,now,1" {
		t.Errorf("csv row %q", got)
	}
}

// clockServer is built once: tether-server with the testclock tag, whose
// clock a test drives through a file (server/cmd/tether-server).
var clockServer = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "tether-e2e-clock-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "tether-server")
	root, err := testenv.ModuleRoot(context.Background())
	if err != nil {
		return "", err
	}
	cmd := exec.Command(testenv.GoTool(), "build", "-tags", "testclock", "-o", bin, "./server/cmd/tether-server")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build -tags testclock: %w\n%s", err, out)
	}
	return bin, nil
})

// agentIdentity waits for the agent's stored identity and returns its id.
func agentIdentity(t testing.TB, a *agent) string {
	t.Helper()
	var id string
	testenv.Eventually(t, startTimeout, "the agent to store its identity", func() (bool, error) {
		b, err := os.ReadFile(filepath.Join(a.state, "identity.json"))
		if err != nil {
			return false, err
		}
		var ident struct {
			AgentID string `json:"agent_id"`
		}
		err = json.Unmarshal(b, &ident)
		id = ident.AgentID
		return err == nil && id != "", err
	})
	return id
}

// TestNotificationSchedule: a notification set for 09:00 on the
// endpoints' clocks shows on an agent in Tokyo when the server's clock
// (driven by the test) reaches 09:00 there, and on one in New York only
// when it reaches 09:00 there, fourteen hours later.
func TestNotificationSchedule(t *testing.T) {
	bin, err := clockServer()
	if err != nil {
		t.Fatal(err)
	}
	clock := filepath.Join(t.TempDir(), "clock")
	setClock := func(at time.Time) {
		t.Helper()
		// The server's time is the real time plus the file's offset.
		if err := os.WriteFile(clock, []byte(time.Until(at).Round(time.Millisecond).String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The day after tomorrow (UTC): 09:00 in Tokyo is 00:00 UTC, 09:00 in
	// New York 14:00 UTC (winter) or 13:00 UTC (summer).
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(48 * time.Hour)
	nyOpen := time.Date(day.Year(), day.Month(), day.Day(), 9, 0, 0, 0, mustZone(t, "America/New_York")).UTC()
	setClock(day.Add(-20 * time.Hour)) // before 09:00 anywhere (UTC+14 is there at 19:00 UTC)
	s := &server{t: t, data: t.TempDir(), addr: "127.0.0.1:0", bin: bin, env: []string{"TETHER_TEST_CLOCK=" + clock}}
	s.start()
	s.api = s.newAPIClient()

	type endpoint struct {
		zone, display string
		a             *agent
		id            string
	}
	eps := []*endpoint{{zone: "Asia/Tokyo"}, {zone: "America/New_York"}}
	for _, e := range eps {
		e.display = startXvfb(t)
		e.a = startAgentEnv(t, s, s.enrollmentToken(), t.TempDir(), "DISPLAY="+e.display, "TZ="+e.zone)
		e.id = agentIdentity(t, e.a)
	}
	tokyo, york := eps[0], eps[1]
	// Each endpoint's zone reached the server with its inventory.
	roundTrip := func(e *endpoint) {
		t.Helper()
		st := s.api.queueEcho(t, e.id, "round trip", 0)
		s.api.waitActionFinished(t, st.ID)
	}
	for _, e := range eps {
		roundTrip(e)
	}

	spec := protocol.NotificationSpec{
		NotificationContent: protocol.NotificationContent{Title: "Good morning", Message: "The office opens at nine.",
			Buttons: []protocol.NotificationButton{{Label: "OK", Value: "ok"}}},
		Schedule: protocol.NotificationSchedule{Start: day.Format("2006-01-02") + "T09:00", Local: true, Expires: day.Add(48 * time.Hour)},
		Targets:  protocol.NotificationTargets{Groups: []string{"Default"}},
	}
	var n protocol.NotificationInfo
	if err := s.api.do(http.MethodPost, "/api/v1/notifications", "", spec, &n); err != nil {
		t.Fatalf("compose: %v", err)
	}
	if err := s.api.do(http.MethodPost, "/api/v1/users", "", protocol.CreateUserRequest{Name: "approver", Password: tech1Password,
		Roles: []string{perm.RoleNotifyApprover}}, nil); err != nil {
		t.Fatal(err)
	}
	approver := s.userClient("approver", tech1Password)
	if err := approver.do(http.MethodPost, "/api/v1/notifications/"+n.ID+"/approve", "", protocol.NotificationDecide{Version: 1}, &n); err != nil {
		t.Fatalf("approve: %v", err)
	}
	if n.Status != protocol.NotifyScheduled {
		t.Fatalf("approved before 09:00 anywhere: status %q, want scheduled", n.Status)
	}
	noneYet := func(e *endpoint, when string) {
		t.Helper()
		roundTrip(e) // a poll answered after the clock moved
		if windowNamed(t, e.display, noticeTitle) {
			t.Fatalf("%s shows the notification %s", e.zone, when)
		}
	}
	noneYet(tokyo, "at 13:00 the day before, its time")

	// 08:59:50 in Tokyo: not yet; then 09:00 there: the sweep wakes its
	// held poll and the window comes up. New York (19:00 the day before)
	// gets nothing.
	setClock(day.Add(-10 * time.Second))
	noneYet(tokyo, "at 08:59:50 its time")
	setClock(day.Add(time.Second))
	waitWindowNamed(t, tokyo.display, noticeTitle, liveTimeout)
	saveDisplay(t, tokyo.display, "endpoint-notification-tokyo.png")
	noneYet(york, "at 19:00 the day before, its time")
	reportRow(t, s.api, n.ID, tokyo.id, "Tokyo shown", func(e protocol.NotificationEndpoint) bool { return e.Shown != nil })

	setClock(nyOpen.Add(-10 * time.Second))
	noneYet(york, "at 08:59:50 its time")
	setClock(nyOpen.Add(time.Second))
	waitWindowNamed(t, york.display, noticeTitle, liveTimeout)
	reportRow(t, s.api, n.ID, york.id, "New York shown", func(e protocol.NotificationEndpoint) bool { return e.Shown != nil })

	// Cancelled: both windows go, and the report says so.
	if err := s.api.do(http.MethodPost, "/api/v1/notifications/"+n.ID+"/cancel", "", protocol.NotificationDecide{Reason: "snow day"}, nil); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	for _, e := range eps {
		noWindowNamed(t, e.display, noticeTitle, liveTimeout)
		reportRow(t, s.api, n.ID, e.id, e.zone+" withdrawn", func(r protocol.NotificationEndpoint) bool { return r.Status == "cancelled" })
	}
}

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
