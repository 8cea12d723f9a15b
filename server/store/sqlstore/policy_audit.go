package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tetherdesk/tether/server/store"
)

// Policy returns the policy of a group ("" = global); ErrNotFound when the
// group has none of its own.
func (s *Store) Policy(ctx context.Context, groupID string) (store.Policy, error) {
	p := store.Policy{GroupID: groupID}
	var doc string
	err := s.r.QueryRowContext(ctx, s.q(`SELECT version, doc, updated FROM policies WHERE group_id = ?`), groupID).
		Scan(&p.Version, &doc, timeCol{&p.Updated})
	if err != nil {
		return store.Policy{}, fmt.Errorf("policy of group %q: %w", groupID, mapErr(err))
	}
	p.Doc = json.RawMessage(doc)
	return p, nil
}

// PutPolicy stores doc as the group's policy with the next version (1 for a
// group's first). The upsert increments in one statement, so concurrent
// puts on any number of nodes never reuse a version. An unknown group is
// ErrNotFound.
func (s *Store) PutPolicy(ctx context.Context, groupID string, doc json.RawMessage, now time.Time) (store.Policy, error) {
	// Policy documents go to agents verbatim inside JSON answers; an invalid
	// one would break every poll, so refuse it here.
	if !json.Valid(doc) {
		return store.Policy{}, fmt.Errorf("put policy of group %q: document is not valid JSON", groupID)
	}
	p := store.Policy{GroupID: groupID, Doc: doc, Updated: normTime(now)}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if groupID != "" {
			var one int
			if err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM computer_groups WHERE id = ?`), groupID).Scan(&one); err != nil {
				return mapErr(err)
			}
		}
		return tx.QueryRowContext(ctx, s.q(`INSERT INTO policies (group_id, version, doc, updated) VALUES (?, 1, ?, ?)
			ON CONFLICT (group_id) DO UPDATE SET version = policies.version + 1, doc = excluded.doc, updated = excluded.updated
			RETURNING version`), groupID, string(doc), s.tv(p.Updated)).Scan(&p.Version)
	})
	if err != nil {
		return store.Policy{}, fmt.Errorf("put policy of group %q: %w", groupID, err)
	}
	return p, nil
}

const auditCols = `seq, time, actor, type, endpoint_id, session_id, details, prev_hash, hash`

func scanAudit(sc interface{ Scan(...any) error }) (store.AuditRecord, error) {
	var r store.AuditRecord
	var details string
	err := sc.Scan(&r.Seq, timeCol{&r.Time}, &r.Actor, &r.Type, &r.EndpointID, &r.SessionID, &details, &r.PrevHash, &r.Hash)
	if details != "" {
		r.Details = json.RawMessage(details)
	}
	return r, err
}

// AppendAudit appends r to the chain: Seq is the last seq + 1, PrevHash the
// last record's Hash and Hash = store.AuditHash(key, r) under the store's
// audit key; the tail anchor moves to r in the same transaction. Time
// defaults to now and is stored with microsecond precision before hashing.
// Appends are serialized: by the single writer connection on SQLite, by a
// table lock on PostgreSQL (shared by every node); the seq primary key
// backs both up.
func (s *Store) AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error) {
	// Details are served verbatim inside JSON; keep the log readable.
	if len(r.Details) > 0 && !json.Valid(r.Details) {
		return store.AuditRecord{}, fmt.Errorf("append audit %s: details are not valid JSON", r.Type)
	}
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	r.Time = normTime(r.Time)
	var out store.AuditRecord
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAuditLog(ctx, tx); err != nil {
			return err
		}
		var err error
		out, err = s.appendAuditLocked(ctx, tx, r)
		return err
	})
	if err != nil {
		return store.AuditRecord{}, fmt.Errorf("append audit %s: %w", r.Type, err)
	}
	return out, nil
}

// lockAuditLog serializes chain writers across nodes (PostgreSQL); on SQLite
// the immediate transaction already holds the write lock.
func (s *Store) lockAuditLog(ctx context.Context, tx *sql.Tx) error {
	if s.d.lockAudit == "" {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.d.lockAudit); err != nil {
		return fmt.Errorf("lock audit log: %w", err)
	}
	return nil
}

// appendAuditLocked appends r (Time already normalized) and moves the
// anchor; the caller holds the audit lock. The new record follows the
// newest record, or the anchor when a valid anchor is ahead of the records:
// after the newest records were deleted, new ones leave a visible gap
// instead of closing it.
func (s *Store) appendAuditLocked(ctx context.Context, tx *sql.Tx, r store.AuditRecord) (store.AuditRecord, error) {
	var last int64
	var prev string
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&last, &prev)
	if err != nil && err != sql.ErrNoRows {
		return store.AuditRecord{}, err
	}
	anc, ok, err := s.readAnchor(ctx, tx)
	if err != nil {
		return store.AuditRecord{}, err
	}
	if ok && s.audit.AnchorValid(anc) && anc.Seq > last {
		last, prev = anc.Seq, anc.Hash
	}
	r.Seq, r.PrevHash = last+1, prev
	r.Hash = s.audit.Hash(r)
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO audit_log (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		r.Seq, s.tv(r.Time), r.Actor, r.Type, r.EndpointID, r.SessionID, string(r.Details), r.PrevHash, r.Hash)
	if err != nil {
		return store.AuditRecord{}, mapErr(err)
	}
	if err := s.writeAnchor(ctx, tx, r.Seq, r.Hash); err != nil {
		return store.AuditRecord{}, err
	}
	if len(r.Details) == 0 {
		r.Details = nil // as ListAudit returns it
	}
	return r, nil
}

// ListAudit returns matching records newest first. Since is inclusive,
// Until exclusive; Type ending in "*" is a prefix; EndpointGroups keeps
// records about agents in those groups.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error) {
	if none, err := checkGroups(f.EndpointGroups); none || err != nil {
		return nil, wrapErr("list audit", err)
	}
	var w filter
	if f.EndpointGroups != nil {
		// Revoked agents stay in: their records remain in their groups' scope.
		var g filter
		g.inGroups("a.", f.EndpointGroups)
		w.add("endpoint_id IN (SELECT a.id FROM agents a"+g.where()+")", g.args...)
	}
	switch {
	case f.Type == "" || f.Type == "*":
	case strings.HasSuffix(f.Type, "*"):
		w.add(`type LIKE ? ESCAPE '\'`, likeEscape(strings.TrimSuffix(f.Type, "*"))+"%")
	default:
		w.add("type = ?", f.Type)
	}
	if f.Actor != "" {
		w.add("actor = ?", f.Actor)
	}
	if f.EndpointID != "" {
		w.add("endpoint_id = ?", f.EndpointID)
	}
	if !f.Since.IsZero() {
		w.add("time >= ?", s.tv(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("time < ?", s.tv(f.Until))
	}
	query := `SELECT ` + auditCols + ` FROM audit_log` + w.where() + ` ORDER BY seq DESC LIMIT ?`
	args := append(w.args, limitOr(f.Limit, 500))
	rows, err := s.r.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	var out []store.AuditRecord
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("list audit: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}
