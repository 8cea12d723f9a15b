package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tetherdesk/tether/server/store"
)

const deliveryCols = `notification_id, agent_id, version, status, response, postpones, error, users, delivered_at, shown_at, answered_at, updated, seq`

func scanDelivery(sc rowScanner) (store.NotificationDelivery, error) {
	var d store.NotificationDelivery
	err := sc.Scan(&d.NotificationID, &d.AgentID, &d.Version, &d.Status, &d.Response, &d.Postpones, &d.Error, listCol{&d.Users},
		nullTimeCol{&d.Delivered}, nullTimeCol{&d.Shown}, nullTimeCol{&d.Answered}, timeCol{&d.Updated}, &d.Seq)
	return d, err
}

// RecordNotificationEvents implements store.NotificationStore.
func (s *Store) RecordNotificationEvents(ctx context.Context, events []store.NotificationEvent) error {
	if len(events) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, e := range events {
			var one int
			err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM notifications WHERE id = ?`), e.NotificationID).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return mapErr(err)
			}
			d, err := scanDelivery(tx.QueryRowContext(ctx, s.q(`SELECT `+deliveryCols+`
				FROM notification_deliveries WHERE notification_id = ? AND agent_id = ?`), e.NotificationID, e.AgentID))
			switch {
			case errors.Is(err, sql.ErrNoRows):
				d = store.NotificationDelivery{NotificationID: e.NotificationID, AgentID: e.AgentID, Version: e.Version}
			case err != nil:
				return mapErr(err)
			}
			next, ok := foldEvent(d, e)
			if !ok {
				continue
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO notification_deliveries (`+deliveryCols+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (notification_id, agent_id) DO UPDATE SET version = excluded.version, status = excluded.status,
				response = excluded.response, postpones = excluded.postpones, error = excluded.error, users = excluded.users,
				delivered_at = excluded.delivered_at, shown_at = excluded.shown_at, answered_at = excluded.answered_at,
				updated = excluded.updated, seq = excluded.seq`),
				next.NotificationID, next.AgentID, next.Version, next.Status, next.Response, next.Postpones, next.Error,
				strList(next.Users), s.ntv(next.Delivered), s.ntv(next.Shown), s.ntv(next.Answered), s.tv(next.Updated), next.Seq); err != nil {
				return mapErr(err)
			}
		}
		return nil
	})
	return wrapErr(fmt.Sprintf("record %d notification events", len(events)), err)
}

// foldEvent applies e to d; false when e changes nothing (already seen,
// or about an older version than d's).
func foldEvent(d store.NotificationDelivery, e store.NotificationEvent) (store.NotificationDelivery, bool) {
	if e.Seq <= d.Seq || e.Version < d.Version {
		return d, false
	}
	if e.Version > d.Version {
		// A newer version was approved and delivered: its state starts over.
		d = store.NotificationDelivery{NotificationID: d.NotificationID, AgentID: d.AgentID, Version: e.Version, Users: d.Users}
	}
	at := normTime(e.At)
	if at.IsZero() || at.Year() < 2000 {
		at = nowUTC()
	}
	d.Seq, d.Updated = e.Seq, at
	if e.User != "" && !slices.Contains(d.Users, e.User) && len(d.Users) < 64 {
		d.Users = append(d.Users, e.User)
	}
	first := func(p **time.Time) {
		if *p == nil {
			t := at
			*p = &t
		}
	}
	switch e.Kind {
	case "delivered":
		first(&d.Delivered)
		if d.Status == "" {
			d.Status = "delivered"
		}
		return d, true
	case "shown":
		first(&d.Delivered)
		first(&d.Shown)
	case "pressed":
		first(&d.Answered)
		d.Response = e.Value
		d.Status = "responded"
		return d, true
	case "postponed":
		d.Postpones = max(d.Postpones, e.Count)
	case "dismissed":
		first(&d.Answered)
	case "expired", "failed":
		d.Error = e.Error
	case "cancelled":
		// Taken down by a withdrawal: an answer given before stands.
		if slices.Contains([]string{"responded", "dismissed", "expired", "failed"}, d.Status) {
			return d, true
		}
	default:
		return d, false
	}
	d.Status = e.Kind
	return d, true
}

// NotificationDeliveries implements store.NotificationStore.
func (s *Store) NotificationDeliveries(ctx context.Context, id string) ([]store.NotificationDelivery, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT `+deliveryCols+` FROM notification_deliveries
		WHERE notification_id = ? ORDER BY agent_id`), id)
	if err != nil {
		return nil, fmt.Errorf("deliveries of notification %q: %w", id, mapErr(err))
	}
	defer rows.Close()
	var out []store.NotificationDelivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("deliveries of notification %q: %w", id, err)
		}
		out = append(out, d)
	}
	return out, wrapErr(fmt.Sprintf("deliveries of notification %q", id), rows.Err())
}

// Setting implements store.NotificationStore.
func (s *Store) Setting(ctx context.Context, name string) (string, error) {
	var v string
	if err := s.r.QueryRowContext(ctx, s.q(`SELECT value FROM settings WHERE name = ?`), name).Scan(&v); err != nil {
		return "", fmt.Errorf("setting %q: %w", name, mapErr(err))
	}
	return v, nil
}

// PutSetting implements store.NotificationStore.
func (s *Store) PutSetting(ctx context.Context, name, value, by string, at time.Time) error {
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO settings (name, value, updated, updated_by) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated = excluded.updated, updated_by = excluded.updated_by`),
		name, value, s.tv(at), by)
	return wrapErr(fmt.Sprintf("put setting %q", name), mapErr(err))
}
