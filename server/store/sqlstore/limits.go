package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/tetherdesk/tether/server/store"
)

// ReserveLimits implements store.LimitStore. On PostgreSQL each key is
// locked for the transaction (an advisory lock on its hash, taken in key
// order so two reservations never wait on each other crosswise); on SQLite
// the single writer already serializes them.
func (s *Store) ReserveLimits(ctx context.Context, limits []store.Limit, now time.Time) (full int, retry time.Duration, err error) {
	now = normTime(now)
	// Under a flood of guesses most entries meet a full limit: find that
	// without a lock or a write. A limit seen full here may free a moment
	// later (a refund); refusing that entry errs on the safe side.
	if full, retry, err = s.fullLimit(ctx, s.r, limits, now); err != nil || full >= 0 {
		if err != nil {
			return -1, 0, fmt.Errorf("reserve rate limits: %w", err)
		}
		return full, retry, nil
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		full, retry = -1, 0
		if s.d.lockKey != "" {
			keys := make([]string, 0, len(limits))
			for _, l := range limits {
				keys = append(keys, l.Key)
			}
			slices.Sort(keys)
			for _, k := range slices.Compact(keys) {
				if _, err := tx.ExecContext(ctx, s.d.lockKey, k); err != nil {
					return fmt.Errorf("lock %q: %w", k, err)
				}
			}
		}
		var err error
		if full, retry, err = s.fullLimit(ctx, tx, limits, now); err != nil || full >= 0 {
			return err
		}
		for _, l := range limits {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO rate_events (key, at) VALUES (?, ?)`), l.Key, s.tv(now)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return -1, 0, fmt.Errorf("reserve rate limits: %w", err)
	}
	return full, retry, nil
}

// querier is a transaction or a connection pool.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// fullLimit is the index of the first limit holding Max events within its
// window at now (-1: none), and how long until it admits one more.
func (s *Store) fullLimit(ctx context.Context, q querier, limits []store.Limit, now time.Time) (int, time.Duration, error) {
	for i, l := range limits {
		since := s.tv(now.Add(-l.Window))
		var n int
		if err := q.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM rate_events WHERE key = ? AND at > ?`), l.Key, since).Scan(&n); err != nil {
			return -1, 0, err
		}
		if n < l.Max {
			continue
		}
		// The slot frees when the event Max places from the newest leaves
		// the window.
		var at time.Time
		if err := q.QueryRowContext(ctx, s.q(`SELECT at FROM rate_events WHERE key = ? AND at > ? ORDER BY at DESC, id DESC LIMIT 1 OFFSET ?`),
			l.Key, since, l.Max-1).Scan(timeCol{&at}); err != nil {
			return -1, 0, err
		}
		return i, max(at.Add(l.Window).Sub(now), 0), nil
	}
	return -1, 0, nil
}

// RefundLimits implements store.LimitStore.
func (s *Store) RefundLimits(ctx context.Context, keys []string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM rate_events WHERE id = (
				SELECT id FROM rate_events WHERE key = ? ORDER BY at DESC, id DESC LIMIT 1)`), k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("refund rate limits: %w", err)
	}
	return nil
}

// PruneLimits implements store.LimitStore.
func (s *Store) PruneLimits(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, s.q(`DELETE FROM rate_events WHERE at < ?`), s.tv(normTime(before)))
	if err != nil {
		return 0, fmt.Errorf("prune rate limits: %w", err)
	}
	return res.RowsAffected()
}
