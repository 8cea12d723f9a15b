package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/protocol"
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
	got := drainSorted(&wg, versions)
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
		equal(t, "hash", got.Hash, store.AuditHash(testKey, got))
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

	rev := picker(out)
	checkAuditList(t, s, []auditCase{
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
	})
	check, err := s.VerifyAudit(ctx)
	noErr(t, "verify", err)
	equal(t, "intact chain", check, store.AuditCheck{Records: 6})
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
	got := drainSorted(&wg, seqs)
	for i, q := range got {
		if q != int64(i+1) {
			t.Fatalf("seqs not unique and consecutive: %v", got)
		}
	}
	equal(t, "appends", len(got), workers*each)
	check, err := s.VerifyAudit(ctx)
	noErr(t, "verify", err)
	equal(t, "intact chain", check, store.AuditCheck{Records: workers * each})
	all, err := s.ListAudit(ctx, store.AuditFilter{Limit: 1000})
	noErr(t, "list", err)
	equal(t, "listed", len(all), workers*each)
	for i := 1; i < len(all); i++ {
		if all[i-1].PrevHash != all[i].Hash {
			t.Fatalf("record %d does not chain to %d", all[i-1].Seq, all[i].Seq)
		}
	}
}

// testKey is the audit key of stores opened without one.
var testKey = []byte(store.TestAuditKey)

// testAuditEmpty: a log without records, and so without an anchor, is intact.
func testAuditEmpty(t *testing.T, s store.Store) {
	for name, verify := range map[string]func() (store.AuditCheck, error){
		"full": func() (store.AuditCheck, error) { return s.VerifyAudit(t.Context()) },
		"tail": func() (store.AuditCheck, error) { return s.VerifyAuditTail(t.Context(), 10) },
	} {
		check, err := verify()
		noErr(t, name, err)
		equal(t, name+": empty log", check, store.AuditCheck{})
		if !check.Intact() || check.String() != "intact: 0 records" {
			t.Fatalf("%s: %v", name, check)
		}
	}
}

// testAuditTamper edits the table behind the store's back, as someone with
// write access to the database but without the audit key could. It needs
// raw SQL access (DB() *sql.DB) and knows the sqlstore tables audit_log and
// audit_anchor.
func testAuditTamper(t *testing.T, s store.Store) {
	ctx := t.Context()
	raw, ok := s.(rawDB)
	if !ok {
		t.Skip("store exposes no DB() for tampering")
	}
	db := raw.DB()
	exec := func(qs ...string) {
		t.Helper()
		for _, q := range qs {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	var recs []store.AuditRecord
	var anchor4 [3]string // the anchor row as it was after record 4
	for i := range 6 {
		r, err := s.AppendAudit(ctx, store.AuditRecord{Time: t0.Add(time.Duration(i) * time.Second), Actor: "a", Type: "t", Details: json.RawMessage(`{"i":` + fmt.Sprint(i) + `}`)})
		noErr(t, "append", err)
		recs = append(recs, r)
		if r.Seq == 4 {
			noErr(t, "save anchor", db.QueryRowContext(ctx, `SELECT CAST(last_seq AS TEXT), last_hash, mac FROM audit_anchor`).Scan(&anchor4[0], &anchor4[1], &anchor4[2]))
		}
	}
	// Record 7 has multi-line details, for the field boundary case.
	multi, err := s.AppendAudit(ctx, store.AuditRecord{Time: t0, Actor: "a", Type: "t", SessionID: "s1", Details: json.RawMessage("{\n\"user\":\"bob\"}")})
	noErr(t, "append multi-line details", err)
	equal(t, "multi seq", multi.Seq, int64(7))

	intact := store.AuditCheck{Records: 7}
	verify := func(what string, want store.AuditCheck) {
		t.Helper()
		got, err := s.VerifyAudit(ctx)
		noErr(t, what+": verify", err)
		equal(t, what+": verify", got, want)
		// The whole chain fits in the tail: the same answer.
		got, err = s.VerifyAuditTail(ctx, 100)
		noErr(t, what+": verify tail", err)
		equal(t, what+": verify tail", got, want)
	}
	verify("untouched", intact)

	// The originals, to put back after each case.
	exec(`CREATE TABLE audit_saved AS SELECT * FROM audit_log`, `CREATE TABLE anchor_saved AS SELECT * FROM audit_anchor`)
	restore := func() {
		t.Helper()
		exec(`DELETE FROM audit_log`, `INSERT INTO audit_log SELECT * FROM audit_saved`,
			`DELETE FROM audit_anchor`, `INSERT INTO audit_anchor SELECT * FROM anchor_saved`)
		verify("restored", intact)
	}

	// A record rewritten with a fresh hash: without the key (the old
	// unkeyed scheme, or a key of one's own), and with it.
	forged := recs[2]
	forged.Details = json.RawMessage(`{"forged":true}`)
	legacy := forged
	legacy.Hash = store.LegacyAuditHash(legacy)
	otherKey := forged
	otherKey.Hash = store.AuditHash([]byte("not the key"), otherKey)
	withKey := forged
	withKey.Hash = store.AuditHash(testKey, withKey)
	rewrite := func(r store.AuditRecord) string {
		return fmt.Sprintf(`UPDATE audit_log SET details = '%s', hash = '%s' WHERE seq = %d`, r.Details, r.Hash, r.Seq)
	}

	tests := []struct {
		name string
		sql  []string
		want store.AuditCheck
	}{
		{"edited record", []string{`UPDATE audit_log SET actor = 'mallory' WHERE seq = 5`},
			store.AuditCheck{Records: 5, FirstBad: 5, Problem: "hash mismatch"}},
		{"edited details", []string{`UPDATE audit_log SET details = '{"i":9}' WHERE seq = 4`},
			store.AuditCheck{Records: 4, FirstBad: 4, Problem: "hash mismatch"}},
		{"edited hash", []string{`UPDATE audit_log SET hash = '` + recs[1].PrevHash + `' WHERE seq = 2`},
			store.AuditCheck{Records: 2, FirstBad: 2, Problem: "hash mismatch"}},
		{"rehashed without the key", []string{rewrite(legacy)},
			store.AuditCheck{Records: 3, FirstBad: 3, Problem: "unkeyed legacy hash (chain not re-keyed)"}},
		{"rehashed with another key", []string{rewrite(otherKey)},
			store.AuditCheck{Records: 3, FirstBad: 3, Problem: "hash mismatch"}},
		{"rehashed with the key", []string{rewrite(withKey)},
			store.AuditCheck{Records: 4, FirstBad: 4, Problem: "previous hash mismatch: does not follow record 3"}},
		// Bytes moved across a field boundary must not keep the hash: the
		// start of a multi-line Details value shifted into SessionID.
		{"shifted field boundary", []string{"UPDATE audit_log SET session_id = 's1\n{', details = '\"user\":\"bob\"}' WHERE seq = 7"},
			store.AuditCheck{Records: 7, FirstBad: 7, Problem: "hash mismatch"}},
		{"deleted middle record", []string{`DELETE FROM audit_log WHERE seq = 2`},
			store.AuditCheck{Records: 2, FirstBad: 2, Problem: "missing record 2"}},
		{"deleted middle records", []string{`DELETE FROM audit_log WHERE seq IN (3, 4)`},
			store.AuditCheck{Records: 3, FirstBad: 3, Problem: "missing records 3-4"}},
		{"deleted first record", []string{`DELETE FROM audit_log WHERE seq = 1`},
			store.AuditCheck{Records: 1, FirstBad: 1, Problem: "missing record 1"}},
		{"truncated tail", []string{`DELETE FROM audit_log WHERE seq >= 6`},
			store.AuditCheck{Records: 5, FirstBad: 6, Problem: "tail truncated: anchor says 7, last record is 5"}},
		{"everything deleted", []string{`DELETE FROM audit_log`},
			store.AuditCheck{Records: 0, FirstBad: 1, Problem: "tail truncated: anchor says 7, last record is 0"}},
		{"anchor missing", []string{`DELETE FROM audit_anchor`},
			store.AuditCheck{Records: 7, FirstBad: 8, Problem: "anchor missing"}},
		{"truncated with the anchor", []string{`DELETE FROM audit_log WHERE seq >= 6`, `DELETE FROM audit_anchor`},
			store.AuditCheck{Records: 5, FirstBad: 6, Problem: "anchor missing"}},
		{"forged anchor", []string{`DELETE FROM audit_log WHERE seq >= 5`,
			fmt.Sprintf(`UPDATE audit_anchor SET last_seq = 4, last_hash = '%s'`, recs[3].Hash)},
			store.AuditCheck{Records: 4, FirstBad: 5, Problem: "anchor forged: MAC mismatch (anchor says 4)"}},
		{"anchor MAC of another key", []string{fmt.Sprintf(`UPDATE audit_anchor SET mac = '%s'`, strings.Repeat("0", 64))},
			store.AuditCheck{Records: 7, FirstBad: 8, Problem: "anchor forged: MAC mismatch (anchor says 7)"}},
		{"older anchor put back", []string{fmt.Sprintf(`UPDATE audit_anchor SET last_seq = %s, last_hash = '%s', mac = '%s'`, anchor4[0], anchor4[1], anchor4[2])},
			store.AuditCheck{Records: 7, FirstBad: 5, Problem: "records after the anchor: anchor says 4, last record is 7"}},
		// What the anchor cannot show: an older anchor put back together
		// with the records it names (see sqlstore's auditchain.go).
		{"older anchor and its records put back", []string{`DELETE FROM audit_log WHERE seq >= 5`,
			fmt.Sprintf(`UPDATE audit_anchor SET last_seq = %s, last_hash = '%s', mac = '%s'`, anchor4[0], anchor4[1], anchor4[2])},
			store.AuditCheck{Records: 4}},
	}
	for _, tc := range tests {
		exec(tc.sql...)
		verify(tc.name, tc.want)
		restore()
	}

	// The tail check sees only its window (and the link into it).
	tail := func(what string, n int, want store.AuditCheck) {
		t.Helper()
		got, err := s.VerifyAuditTail(ctx, n)
		noErr(t, what, err)
		equal(t, what, got, want)
	}
	tail("tail of 3", 3, store.AuditCheck{Records: 3})
	tail("tail of 0 checks 1", 0, store.AuditCheck{Records: 1})
	exec(`UPDATE audit_log SET actor = 'mallory' WHERE seq = 2`)
	tail("edit before the window", 5, store.AuditCheck{Records: 5})
	tail("edit at the window's start", 6, store.AuditCheck{Records: 1, FirstBad: 2, Problem: "hash mismatch"})
	restore()
	exec(`DELETE FROM audit_log WHERE seq = 2`)
	tail("deletion just before the window", 5, store.AuditCheck{Records: 1, FirstBad: 2, Problem: "missing record 2"})
	restore()
	exec(`DELETE FROM audit_log WHERE seq = 7`)
	tail("truncated, tail", 2, store.AuditCheck{Records: 2, FirstBad: 7, Problem: "tail truncated: anchor says 7, last record is 6"})
	restore()

	// Appending after the newest records were deleted continues after the
	// anchor, so the gap stays visible instead of being papered over.
	exec(`DELETE FROM audit_log WHERE seq >= 6`)
	next, err := s.AppendAudit(ctx, store.AuditRecord{Actor: "a", Type: "after truncation"})
	noErr(t, "append after truncation", err)
	equal(t, "seq after truncation", next.Seq, int64(8))
	equal(t, "prev hash after truncation", next.PrevHash, multi.Hash)
	verify("appended after truncation", store.AuditCheck{Records: 6, FirstBad: 6, Problem: "missing records 6-7"})
	// A forged anchor is not followed.
	exec(`DELETE FROM audit_log WHERE seq >= 6`, `UPDATE audit_anchor SET last_seq = 1000`)
	next, err = s.AppendAudit(ctx, store.AuditRecord{Actor: "a", Type: "after forged anchor"})
	noErr(t, "append after forged anchor", err)
	equal(t, "seq after forged anchor", next.Seq, int64(6))
	verify("appended after forged anchor", store.AuditCheck{Records: 6})
}

// testAuditScope filters records by the groups of their endpoints.
func testAuditScope(t *testing.T, s store.Store) {
	ctx := t.Context()
	ga, gb, gc := mustGroup(t, s, "A"), mustGroup(t, s, "B"), mustGroup(t, s, "C")
	inA := mustAgent(t, s, ga.ID, "in-a")
	byRule := mustAgent(t, s, store.DefaultGroup, "by-rule")
	noErr(t, "rule groups", s.SetAgentRuleGroups(ctx, byRule.ID, []string{gb.ID}))
	byHand := mustAgent(t, s, store.DefaultGroup, "by-hand")
	noErr(t, "manual groups", s.SetAgentManualGroups(ctx, byHand.ID, []string{gc.ID}))
	plain := mustAgent(t, s, store.DefaultGroup, "plain")
	revoked := mustAgent(t, s, ga.ID, "revoked")
	noErr(t, "revoke", s.RevokeAgent(ctx, revoked.ID, t0))

	var recs []store.AuditRecord
	for i, ep := range []string{inA.ID, byRule.ID, byHand.ID, plain.ID, revoked.ID, "", "not-an-agent", inA.ID} {
		typ := protocol.AuditType("endpoint.x")
		if i == 7 {
			typ = "session.start"
		}
		r, err := s.AppendAudit(ctx, store.AuditRecord{Time: t0.Add(time.Duration(i) * time.Second), Actor: "alice", Type: typ, EndpointID: ep})
		noErr(t, "append", err)
		recs = append(recs, r)
	}
	pick := picker(recs)
	checkAuditList(t, s, []auditCase{
		{"nil: everything", store.AuditFilter{}, pick(7, 6, 5, 4, 3, 2, 1, 0)},
		{"empty: nothing", store.AuditFilter{EndpointGroups: []string{}}, nil},
		{"enrollment group, revoked agents too", store.AuditFilter{EndpointGroups: []string{ga.ID}}, pick(7, 4, 0)},
		{"rule membership", store.AuditFilter{EndpointGroups: []string{gb.ID}}, pick(1)},
		{"manual membership", store.AuditFilter{EndpointGroups: []string{gc.ID}}, pick(2)},
		{"several groups", store.AuditFilter{EndpointGroups: []string{gc.ID, ga.ID}}, pick(7, 4, 2, 0)},
		{"default group by enrollment", store.AuditFilter{EndpointGroups: []string{store.DefaultGroup}}, pick(3, 2, 1)},
		{"unknown group", store.AuditFilter{EndpointGroups: []string{"no-such-group"}}, nil},
		{"with type", store.AuditFilter{EndpointGroups: []string{ga.ID}, Type: "endpoint.*"}, pick(4, 0)},
		{"with endpoint", store.AuditFilter{EndpointGroups: []string{gb.ID}, EndpointID: inA.ID}, nil},
		{"with limit", store.AuditFilter{EndpointGroups: []string{ga.ID, gb.ID, gc.ID}, Limit: 2}, pick(7, 4)},
		{"with time", store.AuditFilter{EndpointGroups: []string{ga.ID}, Since: t0.Add(time.Second), Until: t0.Add(7 * time.Second)}, pick(4)},
	})
}

// drainSorted waits for wg, then returns what ch holds, sorted.
func drainSorted(wg *sync.WaitGroup, ch chan int64) []int64 {
	wg.Wait()
	close(ch)
	var got []int64
	for v := range ch {
		got = append(got, v)
	}
	slices.Sort(got)
	return got
}

// picker returns the records of recs at the indices asked for.
func picker(recs []store.AuditRecord) func(idx ...int) []store.AuditRecord {
	return func(idx ...int) []store.AuditRecord {
		var out []store.AuditRecord
		for _, i := range idx {
			out = append(out, recs[i])
		}
		return out
	}
}

// auditCase is one ListAudit filter and the records it must return.
type auditCase struct {
	name string
	f    store.AuditFilter
	want []store.AuditRecord
}

func checkAuditList(t *testing.T, s store.Store, cases []auditCase) {
	t.Helper()
	for _, tc := range cases {
		got, err := s.ListAudit(t.Context(), tc.f)
		noErr(t, tc.name, err)
		if len(got) == 0 && len(tc.want) == 0 {
			continue
		}
		equal(t, tc.name, got, tc.want)
	}
}

// each maps xs through f.
func each[T, U any](xs []T, f func(T) U) []U {
	var out []U
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}
