package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/server/store/auditchain"
)

// The audit chain's integrity rests on three things:
//
//   - each record's Hash is an HMAC (store.AuditHash) under a key kept
//     outside the database, over the previous record's hash and its own
//     fields: without the key nobody can edit, insert or remove a record
//     and make the chain add up again;
//   - seqs are consecutive, so a record removed from the middle shows as a
//     gap even though its neighbours are intact;
//   - the tail anchor (table audit_anchor: last seq, last hash and an HMAC
//     over both), rewritten in the transaction of every append, shows the
//     removal of the newest records, which the chain alone cannot.
//
// What the anchor does not catch: someone who saved an older anchor row
// together with the records it names (a backup, a copy of the database)
// can put both back and discard everything appended since; the result is
// a shorter chain that is consistent in every respect. Only something kept
// outside the database (an operator's note of "audit chain intact: N
// records", records shipped elsewhere) can show that rollback.

type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// readAnchor reads the anchor; ok is false when there is none.
func (s *Store) readAnchor(ctx context.Context, q rowQuerier) (a auditchain.Anchor, ok bool, err error) {
	err = q.QueryRowContext(ctx, `SELECT last_seq, last_hash, mac FROM audit_anchor WHERE id = 1`).Scan(&a.Seq, &a.Hash, &a.MAC)
	if err == sql.ErrNoRows {
		return auditchain.Anchor{}, false, nil
	}
	if err != nil {
		return auditchain.Anchor{}, false, fmt.Errorf("read audit anchor: %w", err)
	}
	return a, true, nil
}

// writeAnchor points the anchor at the record seq with hash.
func (s *Store) writeAnchor(ctx context.Context, tx *sql.Tx, seq int64, hash string) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO audit_anchor (id, last_seq, last_hash, mac) VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq, last_hash = excluded.last_hash, mac = excluded.mac`),
		seq, hash, s.audit.AnchorMAC(seq, hash))
	if err != nil {
		return fmt.Errorf("write audit anchor: %w", err)
	}
	return nil
}

// readSnapshot runs fn in a read-only transaction that sees one snapshot
// of the database (WAL read transaction on SQLite, REPEATABLE READ on
// PostgreSQL), so the records and the anchor belong together.
func (s *Store) readSnapshot(ctx context.Context, fn func(tx *sql.Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.d.name == DriverPostgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.r.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // read-only; nothing to keep
	return fn(tx)
}

// walkRecords feeds the rows of query to w until it breaks.
func walkRecords(ctx context.Context, tx *sql.Tx, w *auditchain.Walk, query string, args ...any) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return err
		}
		if !w.Add(r) {
			break
		}
	}
	return rows.Err()
}

// VerifyAudit checks every record from the first, then the anchor, and
// reports the first record that is broken or missing.
func (s *Store) VerifyAudit(ctx context.Context) (store.AuditCheck, error) {
	out, err := s.verifyAudit(ctx, 0)
	if err != nil {
		return store.AuditCheck{}, fmt.Errorf("verify audit: %w", err)
	}
	return out, nil
}

// VerifyAuditTail checks the newest n records (n < 1 counts as 1) and the
// anchor. With no more than n records it is VerifyAudit. Otherwise the
// oldest record checked must follow the record before it by seq and
// PrevHash, but that record and those before it are not checked.
func (s *Store) VerifyAuditTail(ctx context.Context, n int) (store.AuditCheck, error) {
	out, err := s.verifyAudit(ctx, max(n, 1))
	if err != nil {
		return store.AuditCheck{}, fmt.Errorf("verify audit tail: %w", err)
	}
	return out, nil
}

// verifyAudit checks the newest n records, or all of them when n is 0.
func (s *Store) verifyAudit(ctx context.Context, n int) (store.AuditCheck, error) {
	var out store.AuditCheck
	err := s.readSnapshot(ctx, func(tx *sql.Tx) error {
		w := auditchain.FromStart(s.audit)
		query := `SELECT ` + auditCols + ` FROM audit_log ORDER BY seq`
		var args []any
		if n > 0 {
			seq, hash, found, err := s.tailStart(ctx, tx, n)
			if err != nil {
				return err
			}
			if found {
				w = auditchain.Following(s.audit, seq, hash)
				query = `SELECT ` + auditCols + ` FROM audit_log WHERE seq > ? ORDER BY seq`
				args = append(args, seq)
			}
		}
		if err := walkRecords(ctx, tx, w, s.q(query), args...); err != nil {
			return err
		}
		a, ok, err := s.readAnchor(ctx, tx)
		if err != nil {
			return err
		}
		out = w.Finish(a, ok)
		return nil
	})
	return out, err
}

// tailStart finds the record just before the newest n: the starting
// point of a tail check. found is false when there are no more than n.
func (s *Store) tailStart(ctx context.Context, tx *sql.Tx, n int) (seq int64, hash string, found bool, err error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT ?`), n+1)
	if err != nil {
		return 0, "", false, err
	}
	defer rows.Close()
	count := 0
	for rows.Next() {
		if err := rows.Scan(&seq, &hash); err != nil {
			return 0, "", false, err
		}
		count++
	}
	if err := rows.Err(); err != nil {
		return 0, "", false, err
	}
	return seq, hash, count == n+1, nil
}

// errNotRekeyable rolls back a re-key attempt whose chain is not an intact
// legacy chain.
var errNotRekeyable = errors.New("not an intact legacy chain")

// rekeyPage is how many records a re-key reads at a time.
const rekeyPage = 1000

// rekeyLegacyAudit re-keys, once, an audit chain written before the chain
// was keyed (plain SHA-256, no anchor). When the log has records and no
// anchor, and every record verifies under the old scheme, it rewrites each
// record's PrevHash and Hash as the keyed chain, appends a store.AuditRekeyed
// record and writes the anchor, all in one transaction under the audit
// lock: of several nodes opening one database at once, one re-keys and the
// others then find the anchor and do nothing. A legacy chain that does not
// verify is left exactly as it is, for VerifyAudit to report; so is one
// that already holds an AuditRekeyed record, which a genuine legacy chain
// never does (someone removed the anchor and rewrote the chain).
//
// What this cannot tell apart: someone who can write the database may
// remove the anchor and rewrite every record as a valid legacy chain
// without an AuditRekeyed record; the next open keys their version. Each
// re-key is therefore itself a record, with its time and the number of
// records it keyed: expect exactly one, at the upgrade.
func (s *Store) rekeyLegacyAudit(ctx context.Context) error {
	// Cheap checks first, without the lock: almost always the chain is
	// keyed already (an anchor) or empty.
	if _, ok, err := s.readAnchor(ctx, s.r); err != nil || ok {
		return err
	}
	var one int
	err := s.r.QueryRowContext(ctx, `SELECT 1 FROM audit_log LIMIT 1`).Scan(&one)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return fmt.Errorf("re-key audit chain: %w", err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAuditLog(ctx, tx); err != nil {
			return err
		}
		if _, ok, err := s.readAnchor(ctx, tx); err != nil || ok {
			return err // another node re-keyed it meanwhile
		}
		// want, prev: what the next legacy record must have; after: the
		// seq read up to (the first page starts below any seq, so a record
		// with seq 0 or below shows as not following).
		want, prev, after := int64(1), "", int64(math.MinInt64)
		keyedPrev := ""
		var n int64
		for {
			page, err := s.auditPage(ctx, tx, after, rekeyPage)
			if err != nil {
				return err
			}
			for _, r := range page {
				if r.Seq != want || r.PrevHash != prev || r.Hash != store.LegacyAuditHash(r) || r.Type == store.AuditRekeyed {
					return errNotRekeyable
				}
				want, prev, after = r.Seq+1, r.Hash, r.Seq
				r.PrevHash = keyedPrev
				r.Hash = s.audit.Hash(r)
				if _, err := tx.ExecContext(ctx, s.q(`UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?`), r.PrevHash, r.Hash, r.Seq); err != nil {
					return fmt.Errorf("rewrite record %d: %w", r.Seq, err)
				}
				keyedPrev = r.Hash
				n++
			}
			if len(page) < rekeyPage {
				break
			}
		}
		if n == 0 {
			return nil
		}
		details, _ := json.Marshal(map[string]any{"records": n, "legacy_last_hash": prev})
		_, err := s.appendAuditLocked(ctx, tx, store.AuditRecord{
			Time: nowUTC(), Actor: "server", Type: store.AuditRekeyed, Details: details,
		})
		return err
	})
	if errors.Is(err, errNotRekeyable) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("re-key audit chain: %w", err)
	}
	return nil
}

// auditPage reads up to limit records after seq, oldest first.
func (s *Store) auditPage(ctx context.Context, tx *sql.Tx, afterSeq int64, limit int) ([]store.AuditRecord, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT `+auditCols+` FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`), afterSeq, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.AuditRecord
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
