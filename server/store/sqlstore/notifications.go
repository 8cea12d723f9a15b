package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tetherdesk/tether/server/store"
)

const notificationCols = `id, status, version, doc, author_id, created_by, created, updated, approved_version, approved_by, approved_at, reason, expires`

type rowScanner interface{ Scan(...any) error }

func scanNotification(sc rowScanner) (store.Notification, error) {
	var n store.Notification
	var doc string
	var expires *time.Time
	err := sc.Scan(&n.ID, &n.Status, &n.Version, &doc, &n.AuthorID, &n.CreatedBy, timeCol{&n.Created}, timeCol{&n.Updated},
		&n.ApprovedVersion, &n.ApprovedBy, nullTimeCol{&n.ApprovedAt}, &n.Reason, nullTimeCol{&expires})
	n.Doc = []byte(doc)
	if expires != nil {
		n.Expires = *expires
	}
	return n, err
}

// CreateNotification implements store.NotificationStore.
func (s *Store) CreateNotification(ctx context.Context, n store.Notification) (store.Notification, error) {
	if n.ID == "" {
		n.ID = newID()
	}
	if n.Created.IsZero() {
		n.Created = time.Now()
	}
	n.Created = normTime(n.Created)
	n.Updated, n.Version = n.Created, 1
	n.ApprovedVersion, n.ApprovedBy, n.ApprovedAt, n.Reason = 0, "", nil, ""
	n.Groups = uniqueSorted(n.Groups)
	n.Expires = normExpires(n.Expires)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO notifications (`+notificationCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, '', NULL, '', ?)`),
			n.ID, n.Status, n.Version, string(n.Doc), n.AuthorID, n.CreatedBy, s.tv(n.Created), s.tv(n.Updated), s.expiresCol(n.Expires)); err != nil {
			return mapErr(err)
		}
		if err := s.putNotificationGroups(ctx, tx, n.ID, n.Groups); err != nil {
			return err
		}
		return s.putNotificationVersion(ctx, tx, n)
	})
	if err != nil {
		return store.Notification{}, fmt.Errorf("create notification: %w", err)
	}
	return n, nil
}

func (s *Store) putNotificationGroups(ctx context.Context, tx *sql.Tx, id string, groups []string) error {
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM notification_groups WHERE notification_id = ?`), id); err != nil {
		return mapErr(err)
	}
	for _, g := range groups {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO notification_groups (notification_id, group_id) VALUES (?, ?)`), id, g); err != nil {
			return mapErr(err)
		}
	}
	return nil
}

func (s *Store) putNotificationVersion(ctx context.Context, tx *sql.Tx, n store.Notification) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO notification_versions
		(notification_id, version, doc, author_id, created, decision, decided_by, decided_at, reason) VALUES (?, ?, ?, ?, ?, '', '', NULL, '')`),
		n.ID, n.Version, string(n.Doc), n.AuthorID, s.tv(n.Updated))
	return mapErr(err)
}

func (s *Store) notificationGroups(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, id string) ([]string, error) {
	rows, err := q.QueryContext(ctx, s.q(`SELECT group_id FROM notification_groups WHERE notification_id = ? ORDER BY group_id`), id)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// Notification implements store.NotificationStore.
func (s *Store) Notification(ctx context.Context, id string) (store.Notification, error) {
	n, err := scanNotification(s.r.QueryRowContext(ctx, s.q(`SELECT `+notificationCols+` FROM notifications WHERE id = ?`), id))
	if err == nil {
		n.Groups, err = s.notificationGroups(ctx, s.r, id)
	}
	if err != nil {
		return store.Notification{}, fmt.Errorf("notification %q: %w", id, mapErr(err))
	}
	return n, nil
}

// ListNotifications implements store.NotificationStore.
func (s *Store) ListNotifications(ctx context.Context, f store.NotificationFilter) ([]store.Notification, error) {
	none, err := checkGroups(f.Groups)
	if err != nil || none {
		return nil, wrapErr("list notifications", err)
	}
	var where []string
	var args []any
	if f.Status != "" {
		where = append(where, `status = ?`)
		args = append(args, f.Status)
	}
	if f.ApprovedOnly {
		where = append(where, `approved_version > 0`)
	}
	if !f.ExpiresAfter.IsZero() {
		where = append(where, `(expires IS NULL OR expires > ?)`)
		args = append(args, s.tv(f.ExpiresAfter))
	}
	if f.Groups != nil {
		where = append(where, `EXISTS (SELECT 1 FROM notification_groups g WHERE g.notification_id = notifications.id AND g.group_id IN (`+placeholders(len(f.Groups))+`))`)
		for _, g := range f.Groups {
			args = append(args, g)
		}
	}
	q := `SELECT ` + notificationCols + ` FROM notifications`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY updated DESC, id LIMIT ?`
	args = append(args, limitOr(f.Limit, 500))
	rows, err := s.r.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	var out []store.Notification
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list notifications: %w", err)
		}
		out = append(out, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	if err := s.listGroupsOf(ctx, out); err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	return out, nil
}

// listGroupsOf fills the target groups of ns, a chunk of ids per query.
func (s *Store) listGroupsOf(ctx context.Context, ns []store.Notification) error {
	at := make(map[string]int, len(ns))
	for i, n := range ns {
		at[n.ID] = i
	}
	for start := 0; start < len(ns); start += idChunk {
		chunk := ns[start:min(len(ns), start+idChunk)]
		args := make([]any, len(chunk))
		for i, n := range chunk {
			args[i] = n.ID
		}
		rows, err := s.r.QueryContext(ctx, s.q(`SELECT notification_id, group_id FROM notification_groups WHERE notification_id IN (`+placeholders(len(chunk))+`)
			ORDER BY notification_id, group_id`), args...)
		if err != nil {
			return mapErr(err)
		}
		for rows.Next() {
			var id, g string
			if err := rows.Scan(&id, &g); err != nil {
				rows.Close()
				return err
			}
			ns[at[id]].Groups = append(ns[at[id]].Groups, g)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// expiresCol is a notification's expiry as stored (NULL when unknown).
func (s *Store) expiresCol(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.tv(t)
}

func normExpires(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return normTime(t)
}

// NotificationVersions implements store.NotificationStore.
func (s *Store) NotificationVersions(ctx context.Context, id string) ([]store.NotificationVersion, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT notification_id, version, doc, author_id, created, decision, decided_by, decided_at, reason
		FROM notification_versions WHERE notification_id = ? ORDER BY version`), id)
	if err != nil {
		return nil, fmt.Errorf("notification %q versions: %w", id, err)
	}
	defer rows.Close()
	var out []store.NotificationVersion
	for rows.Next() {
		var v store.NotificationVersion
		var doc string
		if err := rows.Scan(&v.NotificationID, &v.Version, &doc, &v.AuthorID, timeCol{&v.Created}, &v.Decision, &v.DecidedBy,
			nullTimeCol{&v.DecidedAt}, &v.Reason); err != nil {
			return nil, fmt.Errorf("notification %q versions: %w", id, err)
		}
		v.Doc = []byte(doc)
		out = append(out, v)
	}
	return out, rows.Err()
}

// ReviseNotification implements store.NotificationStore.
func (s *Store) ReviseNotification(ctx context.Context, n store.Notification, from []string) (store.Notification, error) {
	if n.Updated.IsZero() {
		n.Updated = time.Now()
	}
	n.Updated = normTime(n.Updated)
	n.Groups = uniqueSorted(n.Groups)
	var out store.Notification
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := scanNotification(tx.QueryRowContext(ctx, s.q(`SELECT `+notificationCols+` FROM notifications WHERE id = ?`), n.ID))
		if err != nil {
			return mapErr(err)
		}
		if cur.Version != n.Version-1 || !slices.Contains(from, cur.Status) {
			return fmt.Errorf("%w: notification is at version %d, %s", store.ErrConflict, cur.Version, cur.Status)
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE notifications SET status = ?, version = ?, doc = ?, author_id = ?, updated = ?, reason = '',
			expires = ? WHERE id = ? AND version = ?`), n.Status, n.Version, string(n.Doc), n.AuthorID, s.tv(n.Updated), s.expiresCol(n.Expires), n.ID, cur.Version)
		if err != nil {
			return mapErr(err)
		}
		if k, err := res.RowsAffected(); err != nil || k != 1 {
			return fmt.Errorf("%w: notification changed meanwhile", store.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE notification_versions SET decision = 'superseded', decided_at = ?
			WHERE notification_id = ? AND version = ? AND decision = ''`), s.tv(n.Updated), n.ID, cur.Version); err != nil {
			return mapErr(err)
		}
		if err := s.putNotificationGroups(ctx, tx, n.ID, n.Groups); err != nil {
			return err
		}
		if err := s.putNotificationVersion(ctx, tx, n); err != nil {
			return err
		}
		out = cur
		out.Status, out.Version, out.Doc, out.AuthorID, out.Updated, out.Reason, out.Groups = n.Status, n.Version, n.Doc, n.AuthorID, n.Updated, "", n.Groups
		out.Expires = normExpires(n.Expires)
		return nil
	})
	if err != nil {
		return store.Notification{}, fmt.Errorf("revise notification %q: %w", n.ID, err)
	}
	return out, nil
}

// DecideNotification implements store.NotificationStore.
func (s *Store) DecideNotification(ctx context.Context, d store.NotificationDecision) (store.Notification, error) {
	if d.At.IsZero() {
		d.At = time.Now()
	}
	at := s.tv(d.At)
	var out store.Notification
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := scanNotification(tx.QueryRowContext(ctx, s.q(`SELECT `+notificationCols+` FROM notifications WHERE id = ?`), d.ID))
		if err != nil {
			return mapErr(err)
		}
		if cur.Version != d.Version || !slices.Contains(d.From, cur.Status) {
			return fmt.Errorf("%w: notification is at version %d, %s", store.ErrConflict, cur.Version, cur.Status)
		}
		set, args := `status = ?, updated = ?, reason = ?`, []any{d.To, at, d.Reason}
		if d.Decision == "approved" {
			set += `, approved_version = ?, approved_by = ?, approved_at = ?`
			args = append(args, d.Version, d.By, at)
		}
		args = append(args, d.ID, d.Version, cur.Status)
		res, err := tx.ExecContext(ctx, s.q(`UPDATE notifications SET `+set+` WHERE id = ? AND version = ? AND status = ?`), args...)
		if err != nil {
			return mapErr(err)
		}
		if k, err := res.RowsAffected(); err != nil || k != 1 {
			return fmt.Errorf("%w: notification changed meanwhile", store.ErrConflict)
		}
		if d.Decision != "" {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE notification_versions SET decision = ?, decided_by = ?, decided_at = ?, reason = ?
				WHERE notification_id = ? AND version = ?`), d.Decision, d.By, at, d.Reason, d.ID, d.Version); err != nil {
				return mapErr(err)
			}
		}
		out, err = scanNotification(tx.QueryRowContext(ctx, s.q(`SELECT `+notificationCols+` FROM notifications WHERE id = ?`), d.ID))
		if err != nil {
			return mapErr(err)
		}
		out.Groups, err = s.notificationGroups(ctx, tx, d.ID)
		return err
	})
	if err != nil {
		return store.Notification{}, fmt.Errorf("notification %q %s: %w", d.ID, d.To, err)
	}
	return out, nil
}

// uniqueSorted is v sorted without repeats (nil for none).
func uniqueSorted(v []string) []string {
	if len(v) == 0 {
		return nil
	}
	out := slices.Clone(v)
	slices.Sort(out)
	return slices.Compact(out)
}
