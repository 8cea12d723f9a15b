package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/protocol"
)

// testRecordings covers a session's record flag and its one recording:
// put, read back (with and without the timeline), the expiry listing and
// delete.
func testRecordings(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mustAgent(t, s, store.DefaultGroup, "rec")

	// The record flag round-trips.
	rec, err := s.CreateSession(ctx, store.ScreenSession{AgentID: a.ID, TechnicianID: "u1", TechnicianName: "alice", Attended: true,
		AcceptTimeoutS: 30, Mode: protocol.ModeActive, State: protocol.SessionRequested, AgentTokenHash: "rec-1", Created: t0, Record: true})
	noErr(t, "create recorded session", err)
	got, err := s.SessionByID(ctx, rec.ID)
	noErr(t, "session by id", err)
	equal(t, "record flag", got.Record, true)
	plain := mustSession(t, s, a.ID, "u1", t0.Add(time.Second))
	got, err = s.SessionByID(ctx, plain.ID)
	noErr(t, "session by id", err)
	equal(t, "record flag of a session without", got.Record, false)
	list, err := s.ListSessions(ctx, store.SessionFilter{})
	noErr(t, "list sessions", err)
	for _, ss := range list {
		equal(t, "listed record flag of "+ss.ID, ss.Record, ss.ID == rec.ID)
	}

	tl := json.RawMessage(`{"started":"2025-03-01T12:00:00Z","duration_ms":61000,"width":1280,"height":720,"events":[{"at_ms":5,"kind":"chat","actor":"alice","text":"hi"}]}`)
	r1 := store.Recording{SessionID: rec.ID, AgentID: a.ID, Size: 3 << 20, SHA256: "ab12", DurationMS: 61000, Width: 1280, Height: 720,
		Timeline: tl, Created: t0.Add(time.Minute), Expires: t0.Add(30 * 24 * time.Hour)}
	_, err = s.RecordingBySession(ctx, rec.ID)
	wantErr(t, "recording before put", err, store.ErrNotFound)
	noErr(t, "put recording", s.PutRecording(ctx, r1))
	wantErr(t, "second recording of a session", s.PutRecording(ctx, r1), store.ErrConflict)
	orphan := r1
	orphan.SessionID = "no-such-session"
	wantErr(t, "recording of an unknown session", s.PutRecording(ctx, orphan), store.ErrNotFound)

	back, err := s.RecordingBySession(ctx, rec.ID)
	noErr(t, "recording by session", err)
	sameTime(t, "created", back.Created, r1.Created)
	sameTime(t, "expires", back.Expires, r1.Expires)
	var gotTL, wantTL any
	noErr(t, "decode stored timeline", json.Unmarshal(back.Timeline, &gotTL))
	noErr(t, "decode timeline", json.Unmarshal(tl, &wantTL))
	equal(t, "timeline", gotTL, wantTL)
	back.Timeline = nil
	want := r1
	want.Timeline = nil
	equal(t, "recording", back, want)

	// A second recorded session, expiring sooner.
	rec2, err := s.CreateSession(ctx, store.ScreenSession{AgentID: a.ID, TechnicianID: "u2", TechnicianName: "bob", Mode: protocol.ModeMonitor,
		State: protocol.SessionRequested, AgentTokenHash: "rec-2", Created: t0, Record: true})
	noErr(t, "create second recorded session", err)
	r2 := store.Recording{SessionID: rec2.ID, AgentID: a.ID, Size: 10, SHA256: "cd34", Created: t0, Expires: t0.Add(24 * time.Hour)}
	noErr(t, "put second recording", s.PutRecording(ctx, r2))
	back2, err := s.RecordingBySession(ctx, rec2.ID)
	noErr(t, "recording without a timeline", err)
	if len(back2.Timeline) == 0 || !json.Valid(back2.Timeline) {
		t.Fatalf("timeline of a recording put without one = %q, want valid JSON", back2.Timeline)
	}

	of, err := s.RecordingsOf(ctx, []string{rec.ID, plain.ID, rec2.ID, "nope"})
	noErr(t, "recordings of sessions", err)
	if len(of) != 2 || of[rec.ID].SHA256 != "ab12" || of[rec2.ID].Size != 10 || of[rec.ID].Timeline != nil {
		t.Fatalf("recordings of sessions = %+v, want the two recorded ones without timelines", of)
	}
	of, err = s.RecordingsOf(ctx, nil)
	noErr(t, "recordings of no sessions", err)
	equal(t, "recordings of no sessions", len(of), 0)

	for _, tc := range []struct {
		name   string
		before time.Time
		limit  int
		want   []string
	}{
		{"none yet", t0.Add(time.Hour), 10, nil},
		{"the sooner, at its expiry", r2.Expires, 10, []string{rec2.ID}},
		{"both, soonest first", r1.Expires.Add(time.Second), 10, []string{rec2.ID, rec.ID}},
		{"limited", r1.Expires.Add(time.Second), 1, []string{rec2.ID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := s.ExpiredRecordings(ctx, tc.before, tc.limit)
			noErr(t, "expired recordings", err)
			var ids []string
			for _, r := range rs {
				ids = append(ids, r.SessionID)
				if r.Timeline != nil {
					t.Errorf("expired recording %s comes with its timeline", r.SessionID)
				}
			}
			equal(t, "expired", ids, tc.want)
		})
	}

	noErr(t, "delete recording", s.DeleteRecording(ctx, rec2.ID))
	wantErr(t, "delete again", s.DeleteRecording(ctx, rec2.ID), store.ErrNotFound)
	_, err = s.RecordingBySession(ctx, rec2.ID)
	wantErr(t, "deleted recording", err, store.ErrNotFound)
	rs, err := s.ExpiredRecordings(ctx, r1.Expires, 10)
	noErr(t, "expired after delete", err)
	if len(rs) != 1 || rs[0].SessionID != rec.ID {
		t.Fatalf("expired after delete = %+v, want only %s", rs, rec.ID)
	}
	// The session may record again once its recording is gone.
	noErr(t, "put after delete", s.PutRecording(ctx, r2))
}
