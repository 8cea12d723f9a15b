package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/store"
)

func testPolicies(t *testing.T, s store.Store) {
	ctx := t.Context()
	g := mustGroup(t, s, "Lab")

	steps := []struct {
		group   string
		doc     string
		version int64
	}{
		{"", `{"modes":["active"]}`, 2}, // the seeded global policy is version 1
		{"", `{"modes": ["monitor"]}`, 3},
		{g.ID, `{"attended":true}`, 1}, // a group's own counter
		{g.ID, `{}`, 2},
		{store.DefaultGroup, `{"x":1}`, 1},
	}
	for i, st := range steps {
		now := t0.Add(time.Duration(i) * time.Minute)
		p, err := s.PutPolicy(ctx, st.group, json.RawMessage(st.doc), now)
		noErr(t, "put policy", err)
		want := store.Policy{GroupID: st.group, Version: st.version, Doc: json.RawMessage(st.doc), Updated: now}
		equal(t, fmt.Sprintf("put %d", i), p, want)
		got, err := s.Policy(ctx, st.group)
		noErr(t, "policy", err)
		equal(t, fmt.Sprintf("get %d", i), got, want)
	}
	global, err := s.Policy(ctx, "")
	noErr(t, "global", err)
	equal(t, "global version untouched by groups", global.Version, int64(3))

	other := mustGroup(t, s, "NoPolicy")
	_, err = s.Policy(ctx, other.ID)
	wantErr(t, "group without policy", err, store.ErrNotFound)
	_, err = s.PutPolicy(ctx, "no-such-group", json.RawMessage(`{}`), t0)
	wantErr(t, "policy for unknown group", err, store.ErrNotFound)
	for _, doc := range []string{"", "{", "nul"} {
		if _, err := s.PutPolicy(ctx, "", json.RawMessage(doc), t0); err == nil {
			t.Fatalf("policy document %q accepted", doc)
		}
	}
	global, err = s.Policy(ctx, "")
	noErr(t, "global", err)
	equal(t, "invalid documents leave the version", global.Version, int64(3))
}

func testPoliciesConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 12
	versions := make(chan int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p, err := s.PutPolicy(ctx, "", json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), t0)
			if err != nil {
				t.Error(err)
				return
			}
			versions <- p.Version
		})
	}
	wg.Wait()
	close(versions)
	var got []int64
	for v := range versions {
		got = append(got, v)
	}
	slices.Sort(got)
	var want []int64
	for v := int64(2); v <= n+1; v++ {
		want = append(want, v)
	}
	equal(t, "each put gets its own version", got, want)
}

func testAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	recs := []store.AuditRecord{
		{Time: t0, Actor: "alice", Type: "login", Details: json.RawMessage(`{"ip":"10.0.0.1"}`)},
		{Time: t0.Add(time.Minute), Actor: "alice", Type: "session.start", EndpointID: "ep1", SessionID: "s1", Details: json.RawMessage(`{"mode": "active"}`)},
		{Time: t0.Add(2 * time.Minute), Actor: "bob", Type: "session.join", EndpointID: "ep1", SessionID: "s1"},
		{Time: t0.Add(3 * time.Minute), Actor: "bob", Type: "sessionXstart", EndpointID: "ep2"},
		{Time: t0.Add(4*time.Minute + 999), Actor: "system", Type: "session.end", EndpointID: "ep2", SessionID: "s2"},
	}
	var out []store.AuditRecord
	prev := ""
	for i, r := range recs {
		got, err := s.AppendAudit(ctx, r)
		noErr(t, "append", err)
		equal(t, "seq", got.Seq, int64(i+1))
		equal(t, "prev hash", got.PrevHash, prev)
		equal(t, "hash", got.Hash, store.AuditHash(got))
		sameTime(t, "time", got.Time, r.Time.Truncate(time.Microsecond))
		if got.Actor != r.Actor || got.Type != r.Type || got.EndpointID != r.EndpointID || got.SessionID != r.SessionID || string(got.Details) != string(r.Details) {
			t.Fatalf("appended %+v, got %+v", r, got)
		}
		prev = got.Hash
		out = append(out, got)
	}
	// A zero time is filled in.
	before := time.Now().Add(-time.Second)
	zero, err := s.AppendAudit(ctx, store.AuditRecord{Actor: "x", Type: "misc"})
	noErr(t, "append without time", err)
	if zero.Time.Before(before) || zero.Seq != 6 {
		t.Fatalf("zero-time record = %+v", zero)
	}
	out = append(out, zero)
	if _, err := s.AppendAudit(ctx, store.AuditRecord{Actor: "x", Type: "bad", Details: json.RawMessage(`{"x":`)}); err == nil {
		t.Fatal("audit record with invalid details accepted")
	}

	rev := func(idx ...int) []store.AuditRecord {
		var r []store.AuditRecord
		for _, i := range idx {
			r = append(r, out[i])
		}
		return r
	}
	tests := []struct {
		name string
		f    store.AuditFilter
		want []store.AuditRecord
	}{
		{"all, newest first", store.AuditFilter{}, rev(5, 4, 3, 2, 1, 0)},
		{"limit", store.AuditFilter{Limit: 2}, rev(5, 4)},
		{"exact type", store.AuditFilter{Type: "session.join"}, rev(2)},
		{"type prefix", store.AuditFilter{Type: "session.*"}, rev(4, 2, 1)},
		{"prefix dot is literal", store.AuditFilter{Type: "session_*"}, nil},
		{"star alone", store.AuditFilter{Type: "*"}, rev(5, 4, 3, 2, 1, 0)},
		{"actor", store.AuditFilter{Actor: "bob"}, rev(3, 2)},
		{"endpoint", store.AuditFilter{EndpointID: "ep2"}, rev(4, 3)},
		{"since inclusive", store.AuditFilter{Since: t0.Add(3 * time.Minute), Actor: "bob"}, rev(3)},
		{"until exclusive", store.AuditFilter{Until: t0.Add(2 * time.Minute)}, rev(1, 0)},
		{"window", store.AuditFilter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, rev(2, 1)},
		{"combined", store.AuditFilter{Type: "session.*", Actor: "alice", EndpointID: "ep1"}, rev(1)},
		{"nothing", store.AuditFilter{Actor: "mallory"}, nil},
	}
	for _, tc := range tests {
		got, err := s.ListAudit(ctx, tc.f)
		noErr(t, tc.name, err)
		if len(got) == 0 && len(tc.want) == 0 {
			continue
		}
		equal(t, tc.name, got, tc.want)
	}
	seq, err := s.VerifyAudit(ctx)
	noErr(t, "verify", err)
	equal(t, "intact chain", seq, int64(0))
}

// testAuditConcurrent appends from many goroutines at once: the chain must
// come out with unique consecutive seqs and verify.
func testAuditConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const workers, each = 20, 5
	var wg sync.WaitGroup
	seqs := make(chan int64, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				r, err := s.AppendAudit(ctx, store.AuditRecord{Actor: fmt.Sprintf("w%d", w), Type: "test", Details: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))})
				if err != nil {
					t.Error(err)
					return
				}
				seqs <- r.Seq
			}
		})
	}
	wg.Wait()
	close(seqs)
	var got []int64
	for q := range seqs {
		got = append(got, q)
	}
	slices.Sort(got)
	for i, q := range got {
		if q != int64(i+1) {
			t.Fatalf("seqs not unique and consecutive: %v", got)
		}
	}
	equal(t, "appends", len(got), workers*each)
	seq, err := s.VerifyAudit(ctx)
	noErr(t, "verify", err)
	equal(t, "intact chain", seq, int64(0))
	all, err := s.ListAudit(ctx, store.AuditFilter{Limit: 1000})
	noErr(t, "list", err)
	equal(t, "listed", len(all), workers*each)
	for i := 1; i < len(all); i++ {
		if all[i-1].PrevHash != all[i].Hash {
			t.Fatalf("record %d does not chain to %d", all[i-1].Seq, all[i].Seq)
		}
	}
}

// testAuditTamper edits the table behind the store's back. It needs raw
// SQL access (DB() *sql.DB) and knows the sqlstore table audit_log.
func testAuditTamper(t *testing.T, s store.Store) {
	ctx := t.Context()
	raw, ok := s.(rawDB)
	if !ok {
		t.Skip("store exposes no DB() for tampering")
	}
	db := raw.DB()
	var recs []store.AuditRecord
	for i := range 6 {
		r, err := s.AppendAudit(ctx, store.AuditRecord{Time: t0.Add(time.Duration(i) * time.Second), Actor: "a", Type: "t", Details: json.RawMessage(`{}`)})
		noErr(t, "append", err)
		recs = append(recs, r)
	}
	exec := func(q string) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	verify := func(what string, want int64) {
		t.Helper()
		got, err := s.VerifyAudit(ctx)
		noErr(t, "verify", err)
		equal(t, what, got, want)
	}
	verify("untouched", 0)

	// Editing a field breaks that record.
	exec(`UPDATE audit_log SET actor = 'mallory' WHERE seq = 5`)
	verify("edited actor", 5)
	exec(`UPDATE audit_log SET actor = 'a' WHERE seq = 5`)
	verify("restored", 0)

	// Rewriting a record with a fresh hash breaks the next one.
	forged := recs[2]
	forged.Details = json.RawMessage(`{"forged":true}`)
	forged.Hash = store.AuditHash(forged)
	exec(fmt.Sprintf(`UPDATE audit_log SET details = '%s', hash = '%s' WHERE seq = 3`, forged.Details, forged.Hash))
	verify("rehashed record", 4)
	exec(fmt.Sprintf(`UPDATE audit_log SET details = '%s', hash = '%s' WHERE seq = 3`, recs[2].Details, recs[2].Hash))
	verify("restored", 0)

	// Moving bytes across a field boundary must not keep the hash: here the
	// start of a multi-line Details value is shifted into SessionID.
	multi, err := s.AppendAudit(ctx, store.AuditRecord{Time: t0, Actor: "a", Type: "t", SessionID: "s1", Details: json.RawMessage("{\n\"user\":\"bob\"}")})
	noErr(t, "append multi-line details", err)
	exec(fmt.Sprintf("UPDATE audit_log SET session_id = 's1\n{', details = '\"user\":\"bob\"}' WHERE seq = %d", multi.Seq))
	verify("shifted field boundary", multi.Seq)
	exec(fmt.Sprintf("UPDATE audit_log SET session_id = 's1', details = '{\n\"user\":\"bob\"}' WHERE seq = %d", multi.Seq))
	verify("restored", 0)

	// Removing a record breaks the one after it.
	exec(`DELETE FROM audit_log WHERE seq = 2`)
	verify("deleted record", 3)
}
