package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"sync"
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

// CheckLimits implements store.LimitStore.
func (s *Store) CheckLimits(ctx context.Context, limits []store.Limit, now time.Time) (int, time.Duration, error) {
	full, retry, err := s.fullLimit(ctx, s.r, limits, normTime(now))
	if err != nil {
		return -1, 0, fmt.Errorf("check rate limits: %w", err)
	}
	return full, retry, nil
}

// AddLimitEvent implements store.LimitStore.
func (s *Store) AddLimitEvent(ctx context.Context, key string, now time.Time) error {
	if _, err := s.w.ExecContext(ctx, s.q(`INSERT INTO rate_events (key, at) VALUES (?, ?)`), key, s.tv(normTime(now))); err != nil {
		return fmt.Errorf("record a rate-limited event: %w", err)
	}
	return nil
}

// CountLimit implements store.LimitStore.
func (s *Store) CountLimit(ctx context.Context, key string, since time.Time) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM rate_events WHERE key = ? AND at > ?`), key, s.tv(normTime(since))).Scan(&n); err != nil {
		return 0, fmt.Errorf("count rate-limited events: %w", err)
	}
	return n, nil
}

// ClearLimits implements store.LimitStore. A prefix is compared, not
// matched with LIKE: keys hold account names, which may contain % and _.
func (s *Store) ClearLimits(ctx context.Context, key string, prefix bool) error {
	q, args := `DELETE FROM rate_events WHERE key = ?`, []any{key}
	if prefix {
		q, args = `DELETE FROM rate_events WHERE substr(key, 1, ?) = ?`, []any{len([]rune(key)), key}
	}
	if _, err := s.w.ExecContext(ctx, s.q(q), args...); err != nil {
		return fmt.Errorf("clear rate-limited events: %w", err)
	}
	return nil
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

// Exclusive implements store.LockStore: a PostgreSQL advisory lock held on
// one connection of the pool while fn runs (any node); on SQLite, whose
// file one node serves, a lock of this process.
func (s *Store) Exclusive(ctx context.Context, name string, fn func() error) error {
	if s.d.lockKey == "" {
		mu := namedLock(name)
		mu.Lock()
		defer mu.Unlock()
		return fn()
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 7465746865720003))`, name); err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	defer func() {
		// A failed unlock ends with the connection: closing it for good
		// releases a session's advisory locks.
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtextextended($1, 7465746865720003))`, name); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return fn()
}

// namedLocks are this process's locks by name.
var (
	namedLocksMu sync.Mutex
	namedLocks   = map[string]*sync.Mutex{}
)

func namedLock(name string) *sync.Mutex {
	namedLocksMu.Lock()
	defer namedLocksMu.Unlock()
	mu := namedLocks[name]
	if mu == nil {
		mu = &sync.Mutex{}
		namedLocks[name] = mu
	}
	return mu
}
