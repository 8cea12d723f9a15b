package auditchain

import (
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/store"
)

// chain makes n keyed records and the anchor at the last.
func chain(k Keys, n int) ([]store.AuditRecord, Anchor) {
	var rs []store.AuditRecord
	prev := ""
	for i := 1; i <= n; i++ {
		r := store.AuditRecord{Seq: int64(i), Time: time.Date(2026, 12, 3, 0, 0, i, 0, time.UTC), Actor: "admin", Type: "t", PrevHash: prev}
		r.Hash = k.Hash(r)
		prev = r.Hash
		rs = append(rs, r)
	}
	last := rs[len(rs)-1]
	return rs, Anchor{Seq: last.Seq, Hash: last.Hash, MAC: k.AnchorMAC(last.Seq, last.Hash)}
}

func walk(k Keys, rs []store.AuditRecord, a Anchor, ok bool) store.AuditCheck {
	w := FromStart(k)
	for _, r := range rs {
		if !w.Add(r) {
			break
		}
	}
	return w.Finish(a, ok)
}

func TestWalk(t *testing.T) {
	k := NewKeys([]byte("secret"))
	for _, tc := range []struct {
		name    string
		edit    func([]store.AuditRecord, *Anchor) []store.AuditRecord
		bad     int64
		problem string
	}{
		{"intact", func(rs []store.AuditRecord, _ *Anchor) []store.AuditRecord { return rs }, 0, ""},
		{"edited", func(rs []store.AuditRecord, _ *Anchor) []store.AuditRecord { rs[2].Actor = "eve"; return rs }, 3, "hash mismatch"},
		{"deleted", func(rs []store.AuditRecord, _ *Anchor) []store.AuditRecord { return append(rs[:2], rs[3:]...) }, 3, "missing record 3"},
		{"truncated", func(rs []store.AuditRecord, _ *Anchor) []store.AuditRecord { return rs[:4] }, 5, "tail truncated"},
		{"anchor forged", func(rs []store.AuditRecord, a *Anchor) []store.AuditRecord { a.Seq = 4; return rs[:4] }, 5, "anchor forged"},
	} {
		rs, a := chain(k, 6)
		rs = tc.edit(rs, &a)
		c := walk(k, rs, a, true)
		if c.FirstBad != tc.bad || !strings.Contains(c.Problem, tc.problem) {
			t.Errorf("%s: %+v, want first bad %d, %q", tc.name, c, tc.bad, tc.problem)
		}
	}
	// Another key cannot make a chain that passes.
	rs, a := chain(NewKeys([]byte("other")), 3)
	if c := walk(k, rs, a, true); c.Intact() {
		t.Error("a chain under another key passed")
	}
	if c := walk(k, nil, Anchor{}, false); !c.Intact() {
		t.Errorf("an empty log: %+v", c)
	}
}
