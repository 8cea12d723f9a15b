package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/protocol"
)

func mustSession(t *testing.T, s store.Store, agentID, techID string, created time.Time) store.ScreenSession {
	t.Helper()
	ss, err := s.CreateSession(t.Context(), store.ScreenSession{
		AgentID: agentID, TechnicianID: techID, TechnicianName: "tech " + techID, Attended: true, AcceptTimeoutS: 30,
		Mode: protocol.ModeActive, State: protocol.SessionRequested, AgentTokenHash: "tok-" + time.Now().String() + techID + created.String(),
		Created: created,
	})
	noErr(t, "create session", err)
	return ss
}

func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	sales := mustGroup(t, s, "Sales")
	a := mustAgent(t, s, store.DefaultGroup, "a")
	b := mustAgent(t, s, sales.ID, "b")

	in := store.ScreenSession{AgentID: a.ID, TechnicianID: "u1", TechnicianName: "alice", Attended: true, AcceptTimeoutS: 45,
		Mode: protocol.ModeActive, State: protocol.SessionRequested, AgentTokenHash: "hash-1", Created: t0}
	s1, err := s.CreateSession(ctx, in)
	noErr(t, "create session", err)
	checkID(t, "session", s1.ID)
	sameTime(t, "state since defaults to created", s1.StateSince, t0)
	got, err := s.SessionByID(ctx, s1.ID)
	noErr(t, "session by id", err)
	equal(t, "session by id", got, s1)
	got, err = s.SessionByAgentTokenHash(ctx, "hash-1")
	noErr(t, "session by token", err)
	equal(t, "session by token", got, s1)
	_, err = s.SessionByAgentTokenHash(ctx, "nope")
	wantErr(t, "unknown token", err, store.ErrNotFound)
	_, err = s.SessionByID(ctx, "nope")
	wantErr(t, "unknown session", err, store.ErrNotFound)
	_, err = s.CreateSession(ctx, store.ScreenSession{AgentID: "nope", State: protocol.SessionRequested, AgentTokenHash: "h"})
	wantErr(t, "session for unknown agent", err, store.ErrNotFound)
	dup := in
	dup.ID = ""
	_, err = s.CreateSession(ctx, dup)
	wantErr(t, "reused token hash", err, store.ErrConflict)

	// Transitions: compare-and-set on the state.
	t1 := t0.Add(time.Second)
	s1, err = s.TransitionSession(ctx, store.SessionTransition{ID: s1.ID, From: protocol.SessionRequested, To: protocol.SessionAwaitingAcceptance, At: t1})
	noErr(t, "to awaiting", err)
	equal(t, "state", s1.State, protocol.SessionAwaitingAcceptance)
	sameTime(t, "state since", s1.StateSince, t1)
	_, err = s.TransitionSession(ctx, store.SessionTransition{ID: s1.ID, From: protocol.SessionRequested, To: protocol.SessionConnecting, At: t1})
	wantErr(t, "stale from", err, store.ErrConflict)
	_, err = s.TransitionSession(ctx, store.SessionTransition{ID: "nope", From: protocol.SessionRequested, To: protocol.SessionConnecting})
	wantErr(t, "unknown session", err, store.ErrNotFound)
	s1, err = s.TransitionSession(ctx, store.SessionTransition{ID: s1.ID, From: protocol.SessionAwaitingAcceptance, To: protocol.SessionConnecting, Mode: protocol.ModeMonitor, At: t1})
	noErr(t, "to connecting", err)
	equal(t, "mode changed", s1.Mode, protocol.ModeMonitor)
	t2 := t0.Add(2 * time.Second)
	s1, err = s.TransitionSession(ctx, store.SessionTransition{ID: s1.ID, From: protocol.SessionConnecting, To: protocol.SessionActive, At: t2})
	noErr(t, "to active", err)
	if s1.Started == nil {
		t.Fatal("active session has no start time")
	}
	sameTime(t, "started", *s1.Started, t2)

	// Control holder: compare-and-set too.
	s1, err = s.SetControlHolder(ctx, s1.ID, "", "v1")
	noErr(t, "take control", err)
	equal(t, "holder", s1.ControlHolder, "v1")
	_, err = s.SetControlHolder(ctx, s1.ID, "", "v2")
	wantErr(t, "stale holder", err, store.ErrConflict)
	s1, err = s.SetControlHolder(ctx, s1.ID, "v1", "v2")
	noErr(t, "hand off", err)
	equal(t, "holder", s1.ControlHolder, "v2")

	// Viewers.
	noErr(t, "add viewer", s.AddSessionViewer(ctx, store.SessionViewer{SessionID: s1.ID, ViewerID: "v1", UserID: "u1", UserName: "alice", Joined: t1}))
	noErr(t, "add viewer", s.AddSessionViewer(ctx, store.SessionViewer{SessionID: s1.ID, ViewerID: "v2", UserID: "u2", UserName: "bob", Joined: t2}))
	wantErr(t, "duplicate viewer", s.AddSessionViewer(ctx, store.SessionViewer{SessionID: s1.ID, ViewerID: "v1", UserID: "u1", Joined: t2}), store.ErrConflict)
	wantErr(t, "viewer of unknown session", s.AddSessionViewer(ctx, store.SessionViewer{SessionID: "nope", ViewerID: "v1", UserID: "u1", Joined: t2}), store.ErrNotFound)
	noErr(t, "viewer left", s.SessionViewerLeft(ctx, s1.ID, "v1", t2))
	noErr(t, "viewer left again", s.SessionViewerLeft(ctx, s1.ID, "v1", t2.Add(time.Hour)))
	wantErr(t, "unknown viewer left", s.SessionViewerLeft(ctx, s1.ID, "v9", t2), store.ErrNotFound)
	vs, err := s.SessionViewers(ctx, s1.ID, false)
	noErr(t, "viewers", err)
	if len(vs) != 2 || vs[0].ViewerID != "v1" || vs[1].ViewerID != "v2" || vs[0].Left == nil || vs[1].Left != nil {
		t.Fatalf("all viewers = %+v", vs)
	}
	sameTime(t, "first leave time kept", *vs[0].Left, t2)
	equal(t, "viewer name", vs[1].UserName, "bob")
	vs, err = s.SessionViewers(ctx, s1.ID, true)
	noErr(t, "current viewers", err)
	if len(vs) != 1 || vs[0].ViewerID != "v2" {
		t.Fatalf("current viewers = %+v", vs)
	}

	// Ending clears the holder, records the reason and is final.
	t3 := t0.Add(3 * time.Second)
	s1, err = s.TransitionSession(ctx, store.SessionTransition{ID: s1.ID, From: protocol.SessionActive, To: protocol.SessionEnded, Reason: protocol.EndedByTechnician, At: t3})
	noErr(t, "end", err)
	if s1.Ended == nil || s1.ControlHolder != "" || s1.Reason != protocol.EndedByTechnician {
		t.Fatalf("ended session = %+v", s1)
	}
	sameTime(t, "ended", *s1.Ended, t3)
	sameTime(t, "started kept", *s1.Started, t2)
	_, err = s.SetControlHolder(ctx, s1.ID, "", "v2")
	wantErr(t, "control of ended session", err, store.ErrConflict)

	// Listing.
	s2 := mustSession(t, s, b.ID, "u2", t0.Add(time.Minute))
	s3 := mustSession(t, s, a.ID, "u2", t0.Add(2*time.Minute))
	ids := func(f store.SessionFilter) []string {
		t.Helper()
		l, err := s.ListSessions(ctx, f)
		noErr(t, "list sessions", err)
		return each(l, func(x store.ScreenSession) string { return x.ID })
	}
	equal(t, "all, newest first", ids(store.SessionFilter{}), []string{s3.ID, s2.ID, s1.ID})
	equal(t, "active", ids(store.SessionFilter{ActiveOnly: true}), []string{s3.ID, s2.ID})
	equal(t, "by technician", ids(store.SessionFilter{TechnicianID: "u1"}), []string{s1.ID})
	equal(t, "by group", ids(store.SessionFilter{GroupIDs: []string{sales.ID}}), []string{s2.ID})
	equal(t, "active in default group by u2", ids(store.SessionFilter{GroupIDs: []string{store.DefaultGroup}, ActiveOnly: true, TechnicianID: "u2"}), []string{s3.ID})
	equal(t, "no groups", ids(store.SessionFilter{GroupIDs: []string{}}), []string(nil))
	equal(t, "limit", ids(store.SessionFilter{Limit: 1}), []string{s3.ID})
}

// testSessionsConcurrent races transitions and control hand-offs: exactly
// one of each set of competitors wins.
func testSessionsConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mustAgent(t, s, store.DefaultGroup, "a")
	ss := mustSession(t, s, a.ID, "u1", t0)
	const n = 8
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to, reason := protocol.SessionConnecting, protocol.Reason("")
			if i%2 == 1 {
				to, reason = protocol.SessionEnded, protocol.EndedByTechnician
			}
			_, results[i] = s.TransitionSession(ctx, store.SessionTransition{ID: ss.ID, From: protocol.SessionRequested, To: to, Reason: reason})
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range results {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("transition: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d transitions from requested won, want exactly 1", wins)
	}

	ss2 := mustSession(t, s, a.ID, "u2", t0)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, results[i] = s.SetControlHolder(ctx, ss2.ID, "", string(rune('a'+i)))
		}()
	}
	wg.Wait()
	wins = 0
	for _, err := range results {
		if err == nil {
			wins++
		} else if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("set holder: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d control requests won, want exactly 1", wins)
	}
}
