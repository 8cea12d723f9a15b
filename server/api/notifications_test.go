package api_test

import (
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// noticeSpec is a valid notification to Default with two buttons and a
// postpone choice, expiring a day after now.
func noticeSpec(now time.Time, groups ...string) protocol.NotificationSpec {
	if len(groups) == 0 {
		groups = []string{"Default"}
	}
	return protocol.NotificationSpec{
		NotificationContent: protocol.NotificationContent{Title: "Restart tonight", Message: "Save your work.\nSee https://it.example/restart",
			Severity: protocol.SeverityWarning, Buttons: []protocol.NotificationButton{{Label: "Restart now", Value: "now"}, {Label: "Tonight", Value: "tonight"}},
			Deferral: &protocol.NotificationDeferral{MaxPostpones: 1, IntervalsS: []int64{60}}},
		Schedule: protocol.NotificationSchedule{Expires: now.Add(24 * time.Hour)},
		Targets:  protocol.NotificationTargets{Groups: groups},
	}
}

func createNotice(t *testing.T, c *client, sp protocol.NotificationSpec) protocol.NotificationInfo {
	t.Helper()
	var n protocol.NotificationInfo
	mustDo(t, c, "POST", "/api/v1/notifications", sp, &n, 201)
	return n
}

// TestNotificationApprovalRules: a second person with notifications.approve
// over every target group approves one version; the author never can.
func TestNotificationApprovalRules(t *testing.T) {
	e := newEnv(t)
	root := e.user("root", perm.RoleAdministrator)
	mustDo(t, root, "POST", "/api/v1/groups", protocol.Group{Name: "Lab"}, nil, 201)
	// The author holds approve too: still not over their own version.
	author := e.user("author", perm.RoleNotifyAdmin, perm.RoleNotifyApprover)
	approver := e.user("approver", perm.RoleNotifyApprover)
	// Reads everything, approves only in Lab.
	labApprover := e.user("lab-approver", perm.RoleNotifyReadOnly, perm.RoleNotifyApprover+"@Lab")
	now := e.clock.Now()

	n := createNotice(t, author, noticeSpec(now, "Default", "Lab"))
	if n.Status != protocol.NotifyPendingApproval || n.Version != 1 || n.MayApprove {
		t.Fatalf("created %+v", n)
	}
	mustDo(t, author, "POST", "/api/v1/notifications/"+n.ID+"/approve", protocol.NotificationDecide{Version: 1}, nil, 403)
	if !strings.Contains(author.apiError().Error, "author") {
		t.Errorf("own approval refused with %q", author.apiError().Error)
	}
	mustDo(t, labApprover, "POST", "/api/v1/notifications/"+n.ID+"/approve", protocol.NotificationDecide{Version: 1}, nil, 403)
	mustDo(t, approver, "POST", "/api/v1/notifications/"+n.ID+"/approve", protocol.NotificationDecide{Version: 2}, nil, 409)
	var got protocol.NotificationInfo
	mustDo(t, approver, "GET", "/api/v1/notifications/"+n.ID, nil, &got, 200)
	if !got.MayApprove {
		t.Errorf("approver is not told it may approve: %+v", got)
	}
	mustDo(t, approver, "POST", "/api/v1/notifications/"+n.ID+"/approve", protocol.NotificationDecide{Version: 1}, &got, 200)
	if got.Status != protocol.NotifyDelivering || got.ApprovedVersion != 1 || got.ApprovedBy != "approver" {
		t.Fatalf("approved %+v", got)
	}
	// An edit after approval is a new version, pending again; approving
	// the old version again is refused.
	sp := noticeSpec(now, "Default", "Lab")
	sp.Title, sp.Version = "Restart tonight at 22:00", 1
	mustDo(t, author, "PUT", "/api/v1/notifications/"+n.ID, sp, &got, 200)
	if got.Status != protocol.NotifyPendingApproval || got.Version != 2 || got.ApprovedVersion != 1 {
		t.Fatalf("changed %+v", got)
	}
	mustDo(t, approver, "POST", "/api/v1/notifications/"+n.ID+"/approve", protocol.NotificationDecide{Version: 1}, nil, 409)
	// A second editor's version may be approved by the first author.
	editor := e.user("editor", perm.RoleNotifyAdmin)
	sp.Version = 2
	mustDo(t, editor, "PUT", "/api/v1/notifications/"+n.ID, sp, &got, 200)
	mustDo(t, editor, "POST", "/api/v1/notifications/"+n.ID+"/approve", protocol.NotificationDecide{Version: 3}, nil, 403) // lacks approve
	mustDo(t, author, "POST", "/api/v1/notifications/"+n.ID+"/reject", protocol.NotificationDecide{Version: 3}, nil, 400)  // no reason
	mustDo(t, author, "POST", "/api/v1/notifications/"+n.ID+"/reject", protocol.NotificationDecide{Version: 3, Reason: "say which time zone"}, &got, 200)
	if got.Status != protocol.NotifyRejected || got.Reason != "say which time zone" {
		t.Fatalf("rejected %+v", got)
	}
	mustDo(t, editor, "POST", "/api/v1/notifications/"+n.ID+"/submit", protocol.NotificationDecide{Version: 3}, &got, 200)
	mustDo(t, author, "POST", "/api/v1/notifications/"+n.ID+"/approve", protocol.NotificationDecide{Version: 3}, &got, 200)
	if got.ApprovedVersion != 3 || got.ApprovedBy != "author" {
		t.Fatalf("approved v3 %+v", got)
	}

	// Turning approval off: an unscoped administrator only, audited.
	scopedAdmin := e.user("lab-admin", perm.RoleAdministrator+"@Lab")
	mustDo(t, scopedAdmin, "PUT", "/api/v1/notifications/settings", protocol.NotificationSettings{ApprovalRequired: false}, nil, 403)
	mustDo(t, author, "PUT", "/api/v1/notifications/settings", protocol.NotificationSettings{ApprovalRequired: false}, nil, 403)
	before := countAudit(t, root, protocol.AuditNotifySettings)
	mustDo(t, root, "PUT", "/api/v1/notifications/settings", protocol.NotificationSettings{ApprovalRequired: false}, nil, 200)
	if countAudit(t, root, protocol.AuditNotifySettings) != before+1 {
		t.Error("turning approval off was not audited")
	}
	var set protocol.NotificationSettings
	mustDo(t, author, "GET", "/api/v1/notifications/settings", nil, &set, 200)
	if set.ApprovalRequired {
		t.Fatal("approval still required")
	}
	free := createNotice(t, author, noticeSpec(now))
	if free.Status != protocol.NotifyDelivering || free.ApprovedVersion != 1 {
		t.Fatalf("created without approval: %+v", free)
	}
	mustDo(t, root, "PUT", "/api/v1/notifications/settings", protocol.NotificationSettings{ApprovalRequired: true}, nil, 200)
	if n := createNotice(t, author, noticeSpec(now)); n.Status != protocol.NotifyPendingApproval {
		t.Fatalf("approval back on, created %+v", n)
	}
}

// TestNotificationOperatorSubset: the Operator sends what was approved,
// to targets and on a schedule of its choosing, and changes nothing else.
func TestNotificationOperatorSubset(t *testing.T) {
	e := newEnv(t)
	root := e.user("root", perm.RoleAdministrator)
	op := e.user("operator", perm.RoleNotifyOperator)
	approver := e.user("approver", perm.RoleNotifyApprover)
	now := e.clock.Now()
	n := createNotice(t, root, noticeSpec(now))

	mustDo(t, op, "POST", "/api/v1/notifications", noticeSpec(now), nil, 403)
	sp := noticeSpec(now)
	sp.Version = 1
	mustDo(t, op, "PUT", "/api/v1/notifications/"+n.ID, sp, nil, 403)
	mustDo(t, op, "PUT", "/api/v1/notification-branding/Default", protocol.NotificationBranding{Accent: "#000000"}, nil, 403)
	mustDo(t, op, "PUT", "/api/v1/notifications/settings", protocol.NotificationSettings{}, nil, 403)
	send := protocol.NotificationSend{Schedule: protocol.NotificationSchedule{Expires: now.Add(time.Hour)},
		Targets: protocol.NotificationTargets{Groups: []string{"Default"}, OS: []string{"linux"}}}
	// Not approved yet: nothing to send.
	mustDo(t, op, "POST", "/api/v1/notifications/"+n.ID+"/send", send, nil, 409)
	mustDo(t, approver, "POST", "/api/v1/notifications/"+n.ID+"/approve", protocol.NotificationDecide{Version: 1}, nil, 200)
	// The content is not the Operator's to change: a body with it is refused.
	mustDo(t, op, "POST", "/api/v1/notifications/"+n.ID+"/send",
		map[string]any{"title": "Something else", "targets": send.Targets, "schedule": send.Schedule}, nil, 400)
	var sent protocol.NotificationInfo
	mustDo(t, op, "POST", "/api/v1/notifications/"+n.ID+"/send", send, &sent, 201)
	if sent.ID == n.ID || sent.Title != "Restart tonight" || sent.Author != "operator" || sent.Status != protocol.NotifyPendingApproval ||
		len(sent.Targets.OS) != 1 || sent.MayEdit {
		t.Fatalf("sent %+v", sent)
	}
	// It needs approval like any other, and the Operator may cancel it.
	mustDo(t, approver, "POST", "/api/v1/notifications/"+sent.ID+"/approve", protocol.NotificationDecide{Version: 1}, nil, 200)
	mustDo(t, op, "POST", "/api/v1/notifications/"+sent.ID+"/cancel", protocol.NotificationDecide{Reason: "wrong day"}, &sent, 200)
	if sent.Status != protocol.NotifyCancelled {
		t.Fatalf("cancelled %+v", sent)
	}
}

// TestNotificationBadInput: each refused with a clear 4xx, nothing stored.
func TestNotificationBadInput(t *testing.T) {
	e := newEnv(t)
	root := e.user("root", perm.RoleAdministrator)
	mustDo(t, root, "POST", "/api/v1/groups", protocol.Group{Name: "Lab"}, nil, 201)
	labAdmin := e.user("lab-notify-admin", perm.RoleNotifyAdmin+"@Lab")
	now := e.clock.Now()
	past := now.Add(-time.Hour)
	cases := []struct {
		name   string
		by     *client
		mod    func(*protocol.NotificationSpec)
		status int
		says   string
	}{
		{"title too long", root, func(s *protocol.NotificationSpec) { s.Title = strings.Repeat("x", 121) }, 400, "at most 120"},
		{"message too long", root, func(s *protocol.NotificationSpec) { s.Message = strings.Repeat("é", 4001) }, 400, "at most 4000"},
		{"no title", root, func(s *protocol.NotificationSpec) { s.Title = "  " }, 400, "title is required"},
		{"HTML markup", root, func(s *protocol.NotificationSpec) { s.Message = `Click <a href="http://evil">here</a>` }, 400, "markup"},
		{"Pango markup", root, func(s *protocol.NotificationSpec) { s.Title = `<span foreground="red">Urgent</span>` }, 400, "markup"},
		{"entity", root, func(s *protocol.NotificationSpec) { s.Message = "a &lt; b" }, 400, "markup"},
		{"control character", root, func(s *protocol.NotificationSpec) { s.Title = "Restart\x1b[2J" }, 400, "control character"},
		{"bidi override", root, func(s *protocol.NotificationSpec) { s.Title = "Restart \u202enow" }, 400, "control character"},
		{"four buttons", root, func(s *protocol.NotificationSpec) {
			s.Buttons = append(s.Buttons, protocol.NotificationButton{Label: "c", Value: "c"}, protocol.NotificationButton{Label: "d", Value: "d"})
		}, 400, "at most 3"},
		{"button value", root, func(s *protocol.NotificationSpec) { s.Buttons[0].Value = "now please" }, 400, "button 1 value"},
		{"same value twice", root, func(s *protocol.NotificationSpec) { s.Buttons[1].Value = "now" }, 400, "used twice"},
		{"deferral past the deadline", root, func(s *protocol.NotificationSpec) {
			dl := s.Schedule.Expires.Add(time.Hour)
			s.Deferral.Deadline = &dl
		}, 400, "after the notification expires"},
		{"deferral interval", root, func(s *protocol.NotificationSpec) { s.Deferral.IntervalsS = []int64{1} }, 400, "deferral interval"},
		{"no postpones", root, func(s *protocol.NotificationSpec) { s.Deferral.MaxPostpones = 0 }, 400, "postpones"},
		{"expired schedule", root, func(s *protocol.NotificationSpec) { s.Schedule.Expires = past }, 400, "has passed"},
		{"start after expiry", root, func(s *protocol.NotificationSpec) {
			s.Schedule.Start = s.Schedule.Expires.Add(time.Hour).Format("2006-01-02T15:04")
		}, 400, "not before it expires"},
		{"bad start", root, func(s *protocol.NotificationSpec) { s.Schedule.Start = "tomorrow 9am" }, 400, "2006-01-02T15:04"},
		{"unknown group", root, func(s *protocol.NotificationSpec) { s.Targets.Groups = []string{"Nowhere"} }, 400, "no computer group"},
		{"no group", root, func(s *protocol.NotificationSpec) { s.Targets.Groups = nil }, 400, "at least one"},
		{"bad OS", root, func(s *protocol.NotificationSpec) { s.Targets.OS = []string{"plan9"} }, 400, "OS"},
		{"bad hostname pattern", root, func(s *protocol.NotificationSpec) { s.Targets.Hostname = "ws-[" }, 400, "hostname pattern"},
		{"severity", root, func(s *protocol.NotificationSpec) { s.Severity = "panic" }, 400, "severity"},
		{"audience", root, func(s *protocol.NotificationSpec) { s.Audience = "everyone" }, 400, "audience"},
		{"target outside scope", labAdmin, func(s *protocol.NotificationSpec) { s.Targets.Groups = []string{"Lab", "Default"} }, 403, "every target group"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sp := noticeSpec(now)
			tc.mod(&sp)
			if st := tc.by.do("POST", "/api/v1/notifications", sp, nil); st != tc.status {
				t.Fatalf("status %d, want %d: %s", st, tc.status, tc.by.last)
			}
			if msg := tc.by.apiError().Error; !strings.Contains(msg, tc.says) {
				t.Errorf("error %q does not say %q", msg, tc.says)
			}
		})
	}
	var list struct{ Notifications []protocol.NotificationInfo }
	mustDo(t, root, "GET", "/api/v1/notifications", nil, &list, 200)
	if len(list.Notifications) != 0 {
		t.Fatalf("refused notifications were stored: %+v", list.Notifications)
	}
	if n := countAudit(t, root, protocol.AuditNotifyCreated); n != 0 {
		t.Fatalf("%d creations audited", n)
	}
	// Malformed JSON and unknown fields, too.
	mustDo(t, root, "POST", "/api/v1/notifications", `{"title":`, nil, 400)
	mustDo(t, root, "POST", "/api/v1/notifications", `{"title":"x","message":"y","script":"z"}`, nil, 400)
	// Branding: a logo that is not a PNG, a bad colour.
	mustDo(t, root, "PUT", "/api/v1/notification-branding/Default", protocol.NotificationBranding{Logo: []byte("GIF89a")}, nil, 400)
	mustDo(t, root, "PUT", "/api/v1/notification-branding/Default", protocol.NotificationBranding{Accent: "red"}, nil, 400)
}

// holdPoll starts a held poll (at the current policy) and returns where
// its notifications will arrive, once the server holds it.
func holdPoll(t *testing.T, e *env, id, secret string) <-chan []protocol.AgentNotification {
	t.Helper()
	first, st := e.poll(secret, protocol.PollRequest{})
	if st != 200 || first.Policy == nil {
		t.Fatalf("poll for the policy: %d %+v", st, first)
	}
	held := make(chan []protocol.AgentNotification, 1)
	go func() {
		resp, _ := e.poll(secret, protocol.PollRequest{Wait: true, PolicyVersion: first.Policy.Version})
		held <- resp.Notifications
	}()
	waitHeld(t, e, id)
	return held
}

// pollFor polls as an agent (not held) and returns its notifications.
func pollFor(t *testing.T, e *env, secret string, req protocol.PollRequest) []protocol.AgentNotification {
	t.Helper()
	resp, st := e.poll(secret, req)
	if st != 200 {
		t.Fatalf("poll: %d", st)
	}
	return resp.Notifications
}

// TestNotificationDelivery: nothing reaches an endpoint before approval;
// a held poll is answered at approval; the events the agent reports fold
// into the report (a resent poll changes nothing) and the CSV.
func TestNotificationDelivery(t *testing.T) {
	e := newEnv(t)
	root := e.user("root", perm.RoleAdministrator)
	approver := e.user("approver", perm.RoleNotifyApprover)
	reader := e.user("reader", perm.RoleNotifyReadOnly)
	idA, secA := e.enroll("ws-linux", "Default")
	_, secW := e.enroll("ws-win", "Default")
	_, secO := e.enroll("other-linux", "Default")
	// Make ws-win a Windows endpoint.
	pollFor(t, e, secW, protocol.PollRequest{Inventory: &protocol.Inventory{Hostname: "ws-win", OS: "windows", Arch: "amd64", AgentVersion: "test"}})

	sp := noticeSpec(e.clock.Now())
	sp.Targets.Hostname = "WS-*"
	n := createNotice(t, root, sp)
	if got := pollFor(t, e, secA, protocol.PollRequest{}); len(got) != 0 {
		t.Fatalf("delivered before approval: %+v", got)
	}
	held := holdPoll(t, e, idA, secA)
	mustDo(t, approver, "POST", "/api/v1/notifications/"+n.ID+"/approve", protocol.NotificationDecide{Version: 1}, nil, 200)
	var got []protocol.AgentNotification
	select {
	case got = <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the held poll was not answered at approval")
	}
	if len(got) != 1 || got[0].ID != n.ID || got[0].Version != 1 || got[0].Title != "Restart tonight" || len(got[0].Buttons) != 2 ||
		got[0].Deferral == nil || !got[0].Expires.Equal(sp.Schedule.Expires.UTC()) {
		t.Fatalf("handed %+v", got)
	}
	if w := pollFor(t, e, secW, protocol.PollRequest{}); len(w) != 1 {
		t.Fatalf("windows endpoint (no OS filter) got %d", len(w))
	}
	if o := pollFor(t, e, secO, protocol.PollRequest{}); len(o) != 0 {
		t.Fatalf("hostname filter let other-linux have it: %+v", o)
	}
	// Until the agent says delivered, it is handed again (it keeps one).
	if again := pollFor(t, e, secA, protocol.PollRequest{}); len(again) != 1 {
		t.Fatalf("handed again before delivered: %d", len(again))
	}
	at := e.clock.Now()
	ev := func(seq int64, kind string, mod func(*protocol.NotificationEvent)) protocol.NotificationEvent {
		x := protocol.NotificationEvent{ID: n.ID, Version: 1, Seq: seq, Kind: kind, User: "ana", At: at.Add(time.Duration(seq) * time.Second)}
		if mod != nil {
			mod(&x)
		}
		return x
	}
	events := []protocol.NotificationEvent{
		ev(1, protocol.NotifyEventDelivered, nil), ev(2, protocol.NotifyEventShown, nil),
		ev(3, protocol.NotifyEventPostponed, func(x *protocol.NotificationEvent) { x.IntervalS, x.Count = 60, 1 }),
		ev(4, protocol.NotifyEventShown, nil),
		ev(5, protocol.NotifyEventPressed, func(x *protocol.NotificationEvent) { x.Value = "now" }),
		// Hostile or mistaken: unknown kind, another notification.
		ev(6, "exploded", nil), {ID: "nope", Version: 1, Seq: 7, Kind: protocol.NotifyEventShown, At: at},
	}
	if after := pollFor(t, e, secA, protocol.PollRequest{NotificationEvents: events}); len(after) != 0 {
		t.Fatalf("handed again after delivered: %+v", after)
	}
	// The same events again (the answer was lost): nothing changes.
	pollFor(t, e, secA, protocol.PollRequest{NotificationEvents: events[:3]})

	var rep protocol.NotificationReport
	mustDo(t, reader, "GET", "/api/v1/notifications/"+n.ID+"/report", nil, &rep, 200)
	if rep.Targeted != 2 || rep.Statuses["responded"] != 1 || rep.Statuses["pending"] != 1 || rep.Responses["now"] != 1 || len(rep.Endpoints) != 2 {
		t.Fatalf("report %+v", rep)
	}
	row := rep.Endpoints[0]
	if row.Hostname != "ws-linux" || row.Status != "responded" || row.Response != "now" || row.Postpones != 1 || row.Delivered == nil ||
		row.Shown == nil || row.Answered == nil || len(row.Users) != 1 {
		t.Fatalf("ws-linux row %+v", row)
	}
	// Paged: one row at a time, the counts over all of them.
	mustDo(t, reader, "GET", "/api/v1/notifications/"+n.ID+"/report?limit=1&offset=1", nil, &rep, 200)
	if len(rep.Endpoints) != 1 || rep.Endpoints[0].Hostname != "ws-win" || rep.Matching != 2 || rep.Targeted != 2 {
		t.Fatalf("page 2 of 1 row: %+v", rep)
	}
	mustDo(t, reader, "GET", "/api/v1/notifications/"+n.ID+"/report?limit=0", nil, nil, 400)
	mustDo(t, reader, "GET", "/api/v1/notifications/"+n.ID+"/report?offset=-1", nil, nil, 400)
	mustDo(t, reader, "GET", "/api/v1/notifications/"+n.ID+"/report?status=pending", nil, &rep, 200)
	if len(rep.Endpoints) != 1 || rep.Endpoints[0].Hostname != "ws-win" || rep.Targeted != 2 {
		t.Fatalf("filtered report %+v", rep.Endpoints)
	}
	reader.do("GET", "/api/v1/notifications/"+n.ID+"/report.csv", nil, nil)
	recs, err := csv.NewReader(strings.NewReader(string(reader.last))).ReadAll()
	if err != nil || len(recs) != 3 {
		t.Fatalf("csv %q: %v", reader.last, err)
	}
	if got := strings.Join(recs[1][:5], ","); got != fmt.Sprintf("%s,ws-linux,responded,now,1", row.EndpointID) {
		t.Errorf("csv row %q", got)
	}
	// The reader sees but changes nothing.
	mustDo(t, reader, "POST", "/api/v1/notifications/"+n.ID+"/cancel", protocol.NotificationDecide{}, nil, 403)

	// Once the last target is done too, the list says completed.
	var info protocol.NotificationInfo
	mustDo(t, reader, "GET", "/api/v1/notifications/"+n.ID, nil, &info, 200)
	if info.Status != protocol.NotifyDelivering {
		t.Fatalf("status %q with ws-win pending", info.Status)
	}
	pollFor(t, e, secW, protocol.PollRequest{NotificationEvents: []protocol.NotificationEvent{
		{ID: n.ID, Version: 1, Seq: 1, Kind: protocol.NotifyEventDelivered, At: at},
		{ID: n.ID, Version: 1, Seq: 2, Kind: protocol.NotifyEventDismissed, At: at}}})
	deadline := time.Now().Add(10 * time.Second)
	for {
		var list struct{ Notifications []protocol.NotificationInfo }
		mustDo(t, reader, "GET", "/api/v1/notifications?status=completed", nil, &list, 200)
		if len(list.Notifications) == 1 && list.Notifications[0].ID == n.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not completed in the list: %+v", list.Notifications)
		}
		time.Sleep(20 * time.Millisecond) // waiting for the sweep's count of targets
	}
}

// TestNotificationLocalSchedule: 09:00 on each endpoint's clock, two zones,
// the server's clock driven by the test; held polls answered at the moment.
func TestNotificationLocalSchedule(t *testing.T) {
	e := newEnv(t)
	root := e.user("root", perm.RoleAdministrator)
	approver := e.user("approver", perm.RoleNotifyApprover)
	tokyoID, tokyo := e.enroll("tokyo", "Default")
	_, york := e.enroll("new-york", "Default")
	inv := func(host, tz string) *protocol.Inventory {
		return &protocol.Inventory{Hostname: host, OS: "linux", Arch: "amd64", AgentVersion: "test", TimeZone: tz}
	}
	pollFor(t, e, tokyo, protocol.PollRequest{Inventory: inv("tokyo", "Asia/Tokyo")})
	pollFor(t, e, york, protocol.PollRequest{Inventory: inv("new-york", "America/New_York")})

	// Tomorrow (UTC) at 09:00 local: 00:00 UTC in Tokyo, 14:00 UTC in New York in winter.
	day := time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC)
	e.clock.Set(day.Add(-20 * time.Hour))
	sp := noticeSpec(e.clock.Now())
	sp.Deferral = nil
	sp.Schedule = protocol.NotificationSchedule{Start: "2027-01-15T09:00", Local: true, Expires: day.Add(48 * time.Hour)}
	n := createNotice(t, root, sp)
	var info protocol.NotificationInfo
	mustDo(t, approver, "POST", "/api/v1/notifications/"+n.ID+"/approve", protocol.NotificationDecide{Version: 1}, &info, 200)
	if info.Status != protocol.NotifyScheduled {
		t.Fatalf("status %q before any endpoint's start", info.Status)
	}
	e.clock.Set(day.Add(-time.Minute)) // 08:59 in Tokyo
	if got := pollFor(t, e, tokyo, protocol.PollRequest{}); len(got) != 0 {
		t.Fatalf("Tokyo had it at 08:59: %+v", got)
	}
	held := holdPoll(t, e, tokyoID, tokyo)
	e.clock.Set(day) // 09:00 in Tokyo: the sweep wakes the held poll
	select {
	case got := <-held:
		if len(got) != 1 || got[0].ID != n.ID {
			t.Fatalf("Tokyo at 09:00: %+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Tokyo's held poll was not answered at 09:00 its time")
	}
	if got := pollFor(t, e, york, protocol.PollRequest{}); len(got) != 0 {
		t.Fatalf("New York had it at 19:00 the day before: %+v", got)
	}
	e.clock.Set(day.Add(14*time.Hour - time.Minute))
	if got := pollFor(t, e, york, protocol.PollRequest{}); len(got) != 0 {
		t.Fatalf("New York had it at 08:59: %+v", got)
	}
	e.clock.Set(day.Add(14 * time.Hour))
	if got := pollFor(t, e, york, protocol.PollRequest{}); len(got) != 1 {
		t.Fatalf("New York at 09:00: %+v", got)
	}
	// After expiry nobody gets it.
	e.clock.Set(day.Add(49 * time.Hour))
	if got := pollFor(t, e, tokyo, protocol.PollRequest{}); len(got) != 0 {
		t.Fatalf("handed after expiry: %+v", got)
	}
}

// TestNotificationWithdrawn: cancelling takes the notification down on the
// endpoints that have it: a held poll is answered at once with the
// withdrawal, repeated until the agent says it took it down.
func TestNotificationWithdrawn(t *testing.T) {
	e := newEnv(t)
	root := e.user("root", perm.RoleAdministrator)
	approver := e.user("approver", perm.RoleNotifyApprover)
	id, sec := e.enroll("ws-1", "Default")
	_, other := e.enroll("ws-2", "Default")
	n := createNotice(t, root, noticeSpec(e.clock.Now()))
	mustDo(t, approver, "POST", "/api/v1/notifications/"+n.ID+"/approve", protocol.NotificationDecide{Version: 1}, nil, 200)
	if got := pollFor(t, e, sec, protocol.PollRequest{}); len(got) != 1 {
		t.Fatalf("handed %+v", got)
	}
	at := e.clock.Now()
	pollFor(t, e, sec, protocol.PollRequest{NotificationEvents: []protocol.NotificationEvent{
		{ID: n.ID, Version: 1, Seq: 1, Kind: protocol.NotifyEventDelivered, At: at},
		{ID: n.ID, Version: 1, Seq: 2, Kind: protocol.NotifyEventShown, At: at}}})

	first, _ := e.poll(sec, protocol.PollRequest{})
	got := make(chan protocol.PollResponse, 1)
	go func() {
		resp, _ := e.poll(sec, protocol.PollRequest{Wait: true, PolicyVersion: first.Policy.Version})
		got <- resp
	}()
	waitHeld(t, e, id)
	mustDo(t, root, "POST", "/api/v1/notifications/"+n.ID+"/cancel", protocol.NotificationDecide{Reason: "sent by mistake"}, nil, 200)
	select {
	case resp := <-got:
		if len(resp.WithdrawnNotifications) != 1 || resp.WithdrawnNotifications[0] != n.ID || len(resp.Notifications) != 0 {
			t.Fatalf("answer to the held poll %+v", resp)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held poll was not answered at the cancellation")
	}
	// The endpoint that never had it is told nothing.
	if resp, _ := e.poll(other, protocol.PollRequest{}); len(resp.WithdrawnNotifications) != 0 || len(resp.Notifications) != 0 {
		t.Fatalf("ws-2 answer %+v", resp)
	}
	// One handed over that had not said delivered yet is withdrawn too.
	m := createNotice(t, root, noticeSpec(e.clock.Now()))
	mustDo(t, approver, "POST", "/api/v1/notifications/"+m.ID+"/approve", protocol.NotificationDecide{Version: 1}, nil, 200)
	if got := pollFor(t, e, other, protocol.PollRequest{}); len(got) != 1 || got[0].ID != m.ID {
		t.Fatalf("ws-2 handed %+v", got)
	}
	mustDo(t, root, "POST", "/api/v1/notifications/"+m.ID+"/cancel", protocol.NotificationDecide{}, nil, 200)
	if resp, _ := e.poll(other, protocol.PollRequest{}); len(resp.WithdrawnNotifications) != 1 || resp.WithdrawnNotifications[0] != m.ID {
		t.Fatalf("ws-2, handed but not yet delivered, not withdrawn: %+v", resp)
	}
	// Asked again until the agent says it took it down; then no more.
	if resp, _ := e.poll(sec, protocol.PollRequest{}); len(resp.WithdrawnNotifications) != 1 {
		t.Fatalf("withdrawal not repeated: %+v", resp)
	}
	resp, _ := e.poll(sec, protocol.PollRequest{NotificationEvents: []protocol.NotificationEvent{
		{ID: n.ID, Version: 1, Seq: 3, Kind: protocol.NotifyEventCancelled, At: at}}})
	if len(resp.WithdrawnNotifications) != 0 {
		t.Fatalf("withdrawn again after the agent's answer: %+v", resp)
	}
	var rep protocol.NotificationReport
	mustDo(t, root, "GET", "/api/v1/notifications/"+n.ID+"/report", nil, &rep, 200)
	if rep.Status != protocol.NotifyCancelled || rep.Statuses["cancelled"] != 1 || rep.Statuses["not_delivered"] != 1 {
		t.Fatalf("report %+v", rep)
	}
}

// TestStrayWakeKeepsHolding: a wake with nothing for the agent (a group
// change that leaves its policy as it was) does not end its held poll;
// the next real news does.
func TestStrayWakeKeepsHolding(t *testing.T) {
	e := newEnv(t)
	root := e.user("root", perm.RoleAdministrator)
	mustDo(t, root, "POST", "/api/v1/groups", protocol.Group{Name: "Lab"}, nil, 201)
	id, sec := e.enroll("ws-1", "Default")
	first, _ := e.poll(sec, protocol.PollRequest{})
	got := make(chan protocol.PollResponse, 1)
	go func() {
		resp, _ := e.poll(sec, protocol.PollRequest{Wait: true, PolicyVersion: first.Policy.Version})
		got <- resp
	}()
	waitHeld(t, e, id)
	// Lab has no policy of its own: the endpoint's stays the same.
	mustDo(t, root, "PUT", "/api/v1/endpoints/"+id+"/groups", protocol.EndpointGroupsRequest{Groups: []string{"Lab"}}, nil, 200)
	var act protocol.ActionStatus
	mustDo(t, root, "POST", "/api/v1/endpoints/"+id+"/actions", protocol.QueueActionRequest{Type: protocol.ActionEcho}, &act, 202)
	select {
	case resp := <-got:
		if len(resp.Actions) != 1 || resp.Actions[0].ID != act.ID {
			t.Fatalf("the held poll answered %+v, want the action", resp)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held poll was not answered with the action")
	}
}

// TestAgentGraceFollowsPolicy: the signalling waits for a session's agent
// as long as the endpoint's policy lets the session ride out an outage,
// and a margin for its last dial.
func TestAgentGraceFollowsPolicy(t *testing.T) {
	e := newEnv(t)
	root := e.user("root", perm.RoleAdministrator)
	id, _ := e.enroll("ws-1", "Default")
	var s protocol.Session
	mustDo(t, root, "POST", "/api/v1/sessions", protocol.CreateSessionRequest{EndpointID: id, Attended: true}, &s, 201)
	ctx := t.Context()
	if g := e.svc.AgentGrace(ctx, s.ID); g != 75*time.Second {
		t.Fatalf("grace %s with the default policy, want 75s", g)
	}
	mustDo(t, root, "PUT", "/api/v1/policies/global", `{"screenshare":{"outage_limit_s":120}}`, nil, 200)
	if g := e.svc.AgentGrace(ctx, s.ID); g != 135*time.Second {
		t.Fatalf("grace %s with outage_limit_s 120, want 135s", g)
	}
	mustDo(t, root, "PUT", "/api/v1/policies/global", `{"screenshare":{"outage_limit_s":3}}`, nil, 400)
}
