package storetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/store"
)

func testNotifications(t *testing.T, s store.Store) {
	ctx := t.Context()
	n, err := s.CreateNotification(ctx, store.Notification{Status: "pending_approval", Doc: []byte(`{"title":"Restart tonight"}`),
		Groups: []string{"g2", "g1", "g2"}, AuthorID: "u1", CreatedBy: "u1", Created: t0})
	noErr(t, "create", err)
	checkID(t, "notification id", n.ID)
	if n.Version != 1 || n.Status != "pending_approval" || len(n.Groups) != 2 || n.Groups[0] != "g1" {
		t.Fatalf("created %+v", n)
	}
	got, err := s.Notification(ctx, n.ID)
	noErr(t, "get", err)
	equal(t, "notification", got, n)
	_, err = s.Notification(ctx, "nope")
	wantErr(t, "unknown id", err, store.ErrNotFound)
	_, err = s.CreateNotification(ctx, store.Notification{ID: n.ID, Status: "draft", Doc: []byte(`{}`), Created: t0})
	wantErr(t, "a taken id", err, store.ErrConflict)
	other, err := s.CreateNotification(ctx, store.Notification{Status: "draft", Doc: []byte(`{"title":"VPN"}`), Groups: []string{"g3"},
		AuthorID: "u2", CreatedBy: "u2", Created: t0.Add(time.Minute)})
	noErr(t, "create another", err)

	// Lists: by status, by target group (nil any, empty none).
	for _, c := range []struct {
		f    store.NotificationFilter
		want []string
	}{
		{store.NotificationFilter{}, []string{other.ID, n.ID}},
		{store.NotificationFilter{Status: "draft"}, []string{other.ID}},
		{store.NotificationFilter{Groups: []string{"g1"}}, []string{n.ID}},
		{store.NotificationFilter{Groups: []string{"g3", "g2"}}, []string{other.ID, n.ID}},
		{store.NotificationFilter{Groups: []string{}}, nil},
		{store.NotificationFilter{Groups: []string{"g9"}}, nil},
		{store.NotificationFilter{Limit: 1}, []string{other.ID}},
	} {
		ns, err := s.ListNotifications(ctx, c.f)
		noErr(t, "list", err)
		var ids []string
		for _, x := range ns {
			ids = append(ids, x.ID)
		}
		equal(t, "list "+c.f.Status, ids, c.want)
	}

	// A revision is a new version; the undecided one before is superseded.
	rev := n
	rev.Version, rev.Doc, rev.Groups, rev.AuthorID, rev.Updated = 2, []byte(`{"title":"Restart at 22:00"}`), []string{"g1"}, "u3", t0.Add(2*time.Minute)
	_, err = s.ReviseNotification(ctx, rev, []string{"draft"})
	wantErr(t, "revise from another status", err, store.ErrConflict)
	r2, err := s.ReviseNotification(ctx, rev, []string{"pending_approval", "draft"})
	noErr(t, "revise", err)
	if r2.Version != 2 || r2.AuthorID != "u3" || string(r2.Doc) != `{"title":"Restart at 22:00"}` || len(r2.Groups) != 1 || r2.CreatedBy != "u1" {
		t.Fatalf("revised %+v", r2)
	}
	_, err = s.ReviseNotification(ctx, rev, []string{"pending_approval"})
	wantErr(t, "revise a stale version", err, store.ErrConflict)

	// Approval is of one version, taken once.
	_, err = s.DecideNotification(ctx, store.NotificationDecision{ID: n.ID, Version: 1, From: []string{"pending_approval"}, To: "approved", Decision: "approved", By: "u4", At: t0.Add(3 * time.Minute)})
	wantErr(t, "approve a superseded version", err, store.ErrConflict)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.DecideNotification(ctx, store.NotificationDecision{ID: n.ID, Version: 2, From: []string{"pending_approval"},
				To: "approved", Decision: "approved", By: "u4", At: t0.Add(3 * time.Minute)})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			wantErr(t, "a second approval", err, store.ErrConflict)
		}
	}
	if won != 1 {
		t.Fatalf("%d approvals won, want 1", won)
	}
	ap, err := s.Notification(ctx, n.ID)
	noErr(t, "get approved", err)
	if ap.Status != "approved" || ap.ApprovedVersion != 2 || ap.ApprovedBy != "u4" || ap.ApprovedAt == nil || !ap.ApprovedAt.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("approved %+v", ap)
	}
	vs, err := s.NotificationVersions(ctx, n.ID)
	noErr(t, "versions", err)
	if len(vs) != 2 || vs[0].Decision != "superseded" || vs[1].Decision != "approved" || vs[1].DecidedBy != "u4" ||
		string(vs[0].Doc) != `{"title":"Restart tonight"}` || vs[1].AuthorID != "u3" {
		t.Fatalf("versions %+v", vs)
	}

	// A rejection keeps its reason on the version and the notification.
	rj, err := s.DecideNotification(ctx, store.NotificationDecision{ID: other.ID, Version: 1, From: []string{"draft"},
		To: "draft", Decision: "rejected", By: "u4", Reason: "wrong date", At: t0.Add(4 * time.Minute)})
	noErr(t, "reject", err)
	if rj.Reason != "wrong date" || rj.ApprovedVersion != 0 || len(rj.Groups) != 1 {
		t.Fatalf("rejected %+v", rj)
	}
	vs, err = s.NotificationVersions(ctx, other.ID)
	noErr(t, "versions", err)
	if len(vs) != 1 || vs[0].Decision != "rejected" || vs[0].Reason != "wrong date" {
		t.Fatalf("rejected versions %+v", vs)
	}
	vs, err = s.NotificationVersions(ctx, "nope")
	noErr(t, "versions of none", err)
	if len(vs) != 0 {
		t.Fatalf("versions of an unknown notification: %+v", vs)
	}
}

// testNotificationsActive: the delivering set is read by approval and
// expiry in the store.
func testNotificationsActive(t *testing.T, s store.Store) {
	ctx := t.Context()
	mk := func(expires time.Time, approve bool) string {
		n, err := s.CreateNotification(ctx, store.Notification{Status: "pending_approval", Doc: []byte(`{}`), Groups: []string{"g1", "g2"},
			AuthorID: "u1", CreatedBy: "u1", Created: t0, Expires: expires})
		noErr(t, "create", err)
		if approve {
			_, err = s.DecideNotification(ctx, store.NotificationDecision{ID: n.ID, Version: 1, From: []string{"pending_approval"},
				To: "approved", Decision: "approved", By: "u2", At: t0})
			noErr(t, "approve", err)
		}
		return n.ID
	}
	live := mk(t0.Add(time.Hour), true)
	mk(t0.Add(-time.Hour), true)     // over
	mk(t0.Add(time.Hour), false)     // never approved
	unknown := mk(time.Time{}, true) // no expiry known: kept
	got, err := s.ListNotifications(ctx, store.NotificationFilter{ApprovedOnly: true, ExpiresAfter: t0})
	noErr(t, "list", err)
	var ids []string
	for _, n := range got {
		ids = append(ids, n.ID)
		if len(n.Groups) != 2 {
			t.Errorf("groups of %s: %v", n.ID, n.Groups)
		}
	}
	slices.Sort(ids)
	want := []string{live, unknown}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("delivering set %v, want %v", ids, want)
	}
	n, err := s.Notification(ctx, live)
	noErr(t, "get", err)
	if !n.Expires.Equal(t0.Add(time.Hour)) {
		t.Fatalf("expires %v", n.Expires)
	}
}

func testNotificationDeliveries(t *testing.T, s store.Store) {
	ctx := t.Context()
	n, err := s.CreateNotification(ctx, store.Notification{Status: "approved", Doc: []byte(`{}`), AuthorID: "u1", CreatedBy: "u1", Created: t0})
	noErr(t, "create", err)
	ev := func(seq int64, version int, kind string, mod func(*store.NotificationEvent)) store.NotificationEvent {
		e := store.NotificationEvent{NotificationID: n.ID, AgentID: "a1", Version: version, Seq: seq, Kind: kind,
			At: t0.Add(time.Duration(seq) * time.Second)}
		if mod != nil {
			mod(&e)
		}
		return e
	}
	noErr(t, "record", s.RecordNotificationEvents(ctx, []store.NotificationEvent{
		ev(1, 1, "delivered", nil),
		ev(2, 1, "shown", func(e *store.NotificationEvent) { e.User = "alice" }),
		ev(3, 1, "postponed", func(e *store.NotificationEvent) { e.Interval, e.Count = 300, 1 }),
		{NotificationID: "unknown", AgentID: "a1", Version: 1, Seq: 4, Kind: "shown", At: t0},
		ev(1, 1, "delivered", nil), // a resent poll: already folded
	}))
	ds, err := s.NotificationDeliveries(ctx, n.ID)
	noErr(t, "deliveries", err)
	if len(ds) != 1 {
		t.Fatalf("deliveries %+v", ds)
	}
	d := ds[0]
	if d.Status != "postponed" || d.Postpones != 1 || d.Seq != 3 || d.Delivered == nil || !d.Delivered.Equal(t0.Add(time.Second)) ||
		d.Shown == nil || !d.Shown.Equal(t0.Add(2*time.Second)) || d.Answered != nil || len(d.Users) != 1 || d.Users[0] != "alice" {
		t.Fatalf("after postpone %+v", d)
	}
	// Seq 3 again (the answer to the poll was lost) changes nothing;
	// the press is recorded with its value.
	noErr(t, "record press", s.RecordNotificationEvents(ctx, []store.NotificationEvent{
		ev(3, 1, "dismissed", nil),
		ev(5, 1, "pressed", func(e *store.NotificationEvent) { e.Value = "restart" }),
		{NotificationID: n.ID, AgentID: "a2", Version: 1, Seq: 9, Kind: "failed", Error: "no display", At: t0},
	}))
	ds, err = s.NotificationDeliveries(ctx, n.ID)
	noErr(t, "deliveries", err)
	if len(ds) != 2 || ds[0].Status != "responded" || ds[0].Response != "restart" || ds[0].Answered == nil || ds[0].Postpones != 1 ||
		ds[1].AgentID != "a2" || ds[1].Status != "failed" || ds[1].Error != "no display" || ds[1].Delivered != nil {
		t.Fatalf("after press %+v", ds)
	}
	// A newer version starts over; an event about the older one after it is stale.
	noErr(t, "record v2", s.RecordNotificationEvents(ctx, []store.NotificationEvent{
		ev(6, 2, "delivered", nil), ev(7, 1, "pressed", func(e *store.NotificationEvent) { e.Value = "late" }),
	}))
	ds, err = s.NotificationDeliveries(ctx, n.ID)
	noErr(t, "deliveries", err)
	if ds[0].Version != 2 || ds[0].Status != "delivered" || ds[0].Response != "" || ds[0].Postpones != 0 || ds[0].Seq != 6 {
		t.Fatalf("after v2 %+v", ds[0])
	}
	// A withdrawal keeps an answer given before; it ends an open one.
	noErr(t, "record withdrawal", s.RecordNotificationEvents(ctx, []store.NotificationEvent{
		ev(8, 2, "cancelled", nil),
		{NotificationID: n.ID, AgentID: "a2", Version: 1, Seq: 10, Kind: "cancelled", At: t0},
		{NotificationID: n.ID, AgentID: "a3", Version: 1, Seq: 1, Kind: "cancelled", At: t0},
	}))
	ds, err = s.NotificationDeliveries(ctx, n.ID)
	noErr(t, "deliveries", err)
	if len(ds) != 3 || ds[0].Status != "cancelled" || ds[1].Status != "failed" || ds[2].Status != "cancelled" {
		t.Fatalf("after withdrawal %+v", ds)
	}
	ds, err = s.NotificationDeliveries(ctx, "unknown")
	noErr(t, "deliveries of none", err)
	if len(ds) != 0 {
		t.Fatalf("deliveries of an unknown notification: %+v", ds)
	}
}

func testSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.Setting(ctx, "notifications.approval")
	wantErr(t, "unset setting", err, store.ErrNotFound)
	noErr(t, "put", s.PutSetting(ctx, "notifications.approval", `{"required":false}`, "u1", t0))
	noErr(t, "put again", s.PutSetting(ctx, "notifications.approval", `{"required":true}`, "u2", t0.Add(time.Second)))
	v, err := s.Setting(ctx, "notifications.approval")
	noErr(t, "get", err)
	if v != `{"required":true}` {
		t.Fatalf("setting %q", v)
	}
}
