// Package auditchain checks the audit log's keyed hash chain: each
// record's HMAC under a key kept outside the database, consecutive seqs,
// and the tail anchor that shows the newest records removed. It holds no
// database code; the store reads the records and hands them over.
package auditchain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/tetherdesk/tether/server/store"
)

// Keys are the chain's keys: the record key (store.AuditHash) and the
// anchor's, derived from it.
type Keys struct {
	record []byte // store.AuditHash key
	anchor []byte // anchor MAC key, derived from record
}

// NewKeys derives the chain's keys from the record key (the test key
// when empty).
func NewKeys(key []byte) Keys {
	if len(key) == 0 {
		key = []byte(store.TestAuditKey)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tether audit anchor"))
	return Keys{record: append([]byte(nil), key...), anchor: m.Sum(nil)}
}

// Hash is a record's keyed hash (store.AuditHash under the record key).
func (k Keys) Hash(r store.AuditRecord) string { return store.AuditHash(k.record, r) }

// AnchorMAC authenticates an anchor's seq and hash.
func (k Keys) AnchorMAC(seq int64, hash string) string {
	m := hmac.New(sha256.New, k.anchor)
	fmt.Fprintf(m, "%d\n%s", seq, hash)
	return hex.EncodeToString(m.Sum(nil))
}

// AnchorValid checks an anchor's MAC.
func (k Keys) AnchorValid(a Anchor) bool {
	return hmac.Equal([]byte(a.MAC), []byte(k.AnchorMAC(a.Seq, a.Hash)))
}

// Anchor is the chain's tail anchor: the last record's seq and hash,
// and a MAC over both.
type Anchor struct {
	Seq  int64
	Hash string
	MAC  string
}

// Walk checks records handed to it in seq order and stops at the
// first problem.
type Walk struct {
	keys     Keys
	want     int64  // the seq the next record must have
	prev     string // the hash the next record must name as PrevHash
	last     int64  // seq of the last record seen, 0 for none
	lastHash string
	check    store.AuditCheck
}

// FromStart checks a chain from its first record.
func FromStart(k Keys) *Walk { return &Walk{keys: k, want: 1} }

// Following checks records that follow the record seq with hash.
func Following(k Keys, seq int64, hash string) *Walk {
	return &Walk{keys: k, want: seq + 1, prev: hash, last: seq, lastHash: hash}
}

// Broken reports whether the walk has met a problem.
func (w *Walk) Broken() bool { return !w.check.Intact() }

func (w *Walk) fail(seq int64, format string, args ...any) {
	w.check.FirstBad, w.check.Problem = seq, fmt.Sprintf(format, args...)
}

// Add checks r and reports whether the chain is still intact.
func (w *Walk) Add(r store.AuditRecord) bool {
	if w.Broken() {
		return false
	}
	w.check.Records++
	switch {
	case r.Seq == w.want+1:
		w.fail(w.want, "missing record %d", w.want)
	case r.Seq > w.want:
		w.fail(w.want, "missing records %d-%d", w.want, r.Seq-1)
	case r.Seq < w.want: // only before the first record: seq 0 or below
		w.fail(w.want, "unexpected record with seq %d", r.Seq)
	case !hmac.Equal([]byte(r.Hash), []byte(store.AuditHash(w.keys.record, r))):
		if r.Hash == store.LegacyAuditHash(r) {
			w.fail(r.Seq, "unkeyed legacy hash (chain not re-keyed)")
		} else {
			w.fail(r.Seq, "hash mismatch")
		}
	case r.PrevHash != w.prev:
		// The record is genuine but does not follow the one before it.
		w.fail(r.Seq, "previous hash mismatch: does not follow record %d", w.want-1)
	}
	if w.Broken() {
		return false
	}
	w.want, w.prev, w.last, w.lastHash = r.Seq+1, r.Hash, r.Seq, r.Hash
	return true
}

// Finish compares the end of the walk with the anchor. The walk must have
// reached the newest record.
func (w *Walk) Finish(a Anchor, ok bool) store.AuditCheck {
	if w.Broken() {
		return w.check
	}
	next := w.last + 1
	switch {
	case !ok && w.last == 0:
		// An empty log: the anchor comes with the first record.
	case !ok:
		w.fail(next, "anchor missing")
	case !w.keys.AnchorValid(a):
		w.fail(next, "anchor forged: MAC mismatch (anchor says %d)", a.Seq)
	case a.Seq > w.last:
		w.fail(next, "tail truncated: anchor says %d, last record is %d", a.Seq, w.last)
	case a.Seq < w.last:
		w.fail(a.Seq+1, "records after the anchor: anchor says %d, last record is %d", a.Seq, w.last)
	case a.Hash != w.lastHash:
		w.fail(w.last, "last record does not match the anchor")
	}
	return w.check
}
