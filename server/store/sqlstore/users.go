package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/tetherdesk/tether/server/store"
)

// ---- users ----

const userCols = `id, name, password_hash, created, disabled, display_name`

func scanUser(sc interface{ Scan(...any) error }) (store.User, error) {
	var u store.User
	err := sc.Scan(&u.ID, &u.Name, &u.PasswordHash, timeCol{&u.Created}, &u.Disabled, &u.DisplayName)
	return u, err
}

// CreateUser stores u, filling ID and Created when unset.
func (s *Store) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	if u.ID == "" {
		u.ID = newID()
	}
	if u.Created.IsZero() {
		u.Created = time.Now()
	}
	u.Created = normTime(u.Created)
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?)`),
		u.ID, u.Name, u.PasswordHash, s.tv(u.Created), u.Disabled, u.DisplayName)
	if err != nil {
		return store.User{}, fmt.Errorf("create user %q: %w", u.Name, mapErr(err))
	}
	return u, nil
}

// UserByID returns the user with that id.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, s.q(`SELECT `+userCols+` FROM users WHERE id = ?`), id))
	if err != nil {
		return store.User{}, fmt.Errorf("user %q: %w", id, mapErr(err))
	}
	return u, nil
}

// UserByName returns the user with that exact name.
func (s *Store) UserByName(ctx context.Context, name string) (store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, s.q(`SELECT `+userCols+` FROM users WHERE name = ?`), name))
	if err != nil {
		return store.User{}, fmt.Errorf("user named %q: %w", name, mapErr(err))
	}
	return u, nil
}

// ListUsers returns all users ordered by name.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// CountUsers returns the number of users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// SetUserPassword replaces the user's password hash.
func (s *Store) SetUserPassword(ctx context.Context, id, hash string) error {
	res, err := s.w.ExecContext(ctx, s.q(`UPDATE users SET password_hash = ? WHERE id = ?`), hash, id)
	if err == nil {
		err = notFoundIfNone(res)
	}
	if err != nil {
		return fmt.Errorf("set password of user %q: %w", id, mapErr(err))
	}
	return nil
}

// ---- roles ----

// SetRoles replaces the user's role assignments; duplicates collapse. An
// unknown user, role or group gives ErrNotFound and changes nothing.
func (s *Store) SetRoles(ctx context.Context, userID string, roles []store.RoleAssignment) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// Checked explicitly so an empty list for an unknown user fails too.
		var one int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM users WHERE id = ?`), userID).Scan(&one); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM role_assignments WHERE user_id = ?`), userID); err != nil {
			return err
		}
		seen := map[[2]string]bool{}
		for _, r := range roles {
			k := [2]string{r.Role, r.GroupID}
			if seen[k] {
				continue
			}
			seen[k] = true
			// group_id cannot be a foreign key ('' means all groups).
			if r.GroupID != "" {
				if err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM computer_groups WHERE id = ?`), r.GroupID).Scan(&one); err != nil {
					return fmt.Errorf("group %q: %w", r.GroupID, mapErr(err))
				}
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO role_assignments (user_id, role, group_id) VALUES (?, ?, ?)`),
				userID, r.Role, r.GroupID); err != nil {
				return fmt.Errorf("assign %q: %w", r.Role, mapErr(err))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set roles of user %q: %w", userID, err)
	}
	return nil
}

// RolesOf returns the user's role assignments ordered by group then role.
func (s *Store) RolesOf(ctx context.Context, userID string) ([]store.RoleAssignment, error) {
	out, err := s.assignments(ctx, `SELECT user_id, role, group_id FROM role_assignments WHERE user_id = ? ORDER BY group_id, role`, userID)
	if err != nil {
		return nil, fmt.Errorf("roles of user %q: %w", userID, err)
	}
	return out, nil
}

// RoleAssignments returns every user's role assignments, by user, each
// ordered as RolesOf orders them.
func (s *Store) RoleAssignments(ctx context.Context) (map[string][]store.RoleAssignment, error) {
	all, err := s.assignments(ctx, `SELECT user_id, role, group_id FROM role_assignments ORDER BY user_id, group_id, role`)
	if err != nil {
		return nil, fmt.Errorf("role assignments: %w", err)
	}
	out := map[string][]store.RoleAssignment{}
	for _, a := range all {
		out[a.UserID] = append(out[a.UserID], a)
	}
	return out, nil
}

func (s *Store) assignments(ctx context.Context, query string, args ...any) ([]store.RoleAssignment, error) {
	rows, err := s.r.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.RoleAssignment
	for rows.Next() {
		var r store.RoleAssignment
		if err := rows.Scan(&r.UserID, &r.Role, &r.GroupID); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// UpsertRole creates or replaces a role definition.
func (s *Store) UpsertRole(ctx context.Context, r store.Role) error {
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO roles (name, permissions) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET permissions = excluded.permissions`), r.Name, strList(r.Permissions))
	if err != nil {
		return fmt.Errorf("upsert role %q: %w", r.Name, mapErr(err))
	}
	return nil
}

// Role returns the named role.
func (s *Store) Role(ctx context.Context, name string) (store.Role, error) {
	r := store.Role{Name: name}
	err := s.r.QueryRowContext(ctx, s.q(`SELECT permissions FROM roles WHERE name = ?`), name).Scan(listCol{&r.Permissions})
	if err != nil {
		return store.Role{}, fmt.Errorf("role %q: %w", name, mapErr(err))
	}
	return r, nil
}

// ListRoles returns all roles ordered by name.
func (s *Store) ListRoles(ctx context.Context) ([]store.Role, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, permissions FROM roles ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	defer rows.Close()
	var out []store.Role
	for rows.Next() {
		var r store.Role
		if err := rows.Scan(&r.Name, listCol{&r.Permissions}); err != nil {
			return nil, fmt.Errorf("list roles: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	return out, nil
}

// ---- groups ----

// CreateGroup creates a computer group with a new id.
func (s *Store) CreateGroup(ctx context.Context, name string) (store.Group, error) {
	g := store.Group{ID: newID(), Name: name}
	if _, err := s.w.ExecContext(ctx, s.q(`INSERT INTO computer_groups (id, name, rules) VALUES (?, ?, '{}')`), g.ID, g.Name); err != nil {
		return store.Group{}, fmt.Errorf("create group %q: %w", name, mapErr(err))
	}
	return g, nil
}

// GroupByName returns the group with that exact name.
func (s *Store) GroupByName(ctx context.Context, name string) (store.Group, error) {
	g, err := scanGroup(s.r.QueryRowContext(ctx, s.q(`SELECT `+groupCols+` FROM computer_groups WHERE name = ?`), name))
	if err != nil {
		return store.Group{}, fmt.Errorf("group named %q: %w", name, mapErr(err))
	}
	return g, nil
}

// GroupByID returns the group with that id.
func (s *Store) GroupByID(ctx context.Context, id string) (store.Group, error) {
	g, err := scanGroup(s.r.QueryRowContext(ctx, s.q(`SELECT `+groupCols+` FROM computer_groups WHERE id = ?`), id))
	if err != nil {
		return store.Group{}, fmt.Errorf("group %q: %w", id, mapErr(err))
	}
	return g, nil
}

// ListGroups returns all groups ordered by name.
func (s *Store) ListGroups(ctx context.Context) ([]store.Group, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+groupCols+` FROM computer_groups ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	defer rows.Close()
	var out []store.Group
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, fmt.Errorf("list groups: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	return out, nil
}

// ---- web sessions ----

// CreateWebSession stores a session; Created defaults to now.
func (s *Store) CreateWebSession(ctx context.Context, ws store.WebSession) error {
	if ws.Created.IsZero() {
		ws.Created = time.Now()
	}
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO web_sessions (id, user_id, csrf_token, created, expires) VALUES (?, ?, ?, ?, ?)`),
		ws.ID, ws.UserID, ws.CSRFToken, s.tv(ws.Created), s.tv(ws.Expires))
	if err != nil {
		return fmt.Errorf("create web session: %w", mapErr(err))
	}
	return nil
}

// WebSession returns an unexpired session; an expired one is ErrNotFound.
func (s *Store) WebSession(ctx context.Context, id string) (store.WebSession, error) {
	var ws store.WebSession
	err := s.r.QueryRowContext(ctx, s.q(`SELECT id, user_id, csrf_token, created, expires FROM web_sessions WHERE id = ? AND expires > ?`),
		id, s.tv(time.Now())).Scan(&ws.ID, &ws.UserID, &ws.CSRFToken, timeCol{&ws.Created}, timeCol{&ws.Expires})
	if err != nil {
		// The id is a hash of the cookie, but still keep it out of messages.
		return store.WebSession{}, fmt.Errorf("web session: %w", mapErr(err))
	}
	return ws, nil
}

// DeleteWebSession deletes a session. Deleting one that is already gone is
// not an error: sessions also vanish by expiry sweeps, and a double logout
// should not fail.
func (s *Store) DeleteWebSession(ctx context.Context, id string) error {
	if _, err := s.w.ExecContext(ctx, s.q(`DELETE FROM web_sessions WHERE id = ?`), id); err != nil {
		return fmt.Errorf("delete web session: %w", err)
	}
	return nil
}

// DeleteExpiredWebSessions deletes sessions that expired at or before now
// and returns how many.
func (s *Store) DeleteExpiredWebSessions(ctx context.Context, now time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, s.q(`DELETE FROM web_sessions WHERE expires <= ?`), s.tv(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired web sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired web sessions: %w", err)
	}
	return int(n), nil
}

// ---- API tokens ----

const apiTokenCols = `id, user_id, name, hash, created`

func scanAPIToken(sc interface{ Scan(...any) error }) (store.APIToken, error) {
	var t store.APIToken
	err := sc.Scan(&t.ID, &t.UserID, &t.Name, &t.Hash, timeCol{&t.Created})
	return t, err
}

// CreateAPIToken stores t, filling ID and Created when unset.
func (s *Store) CreateAPIToken(ctx context.Context, t store.APIToken) (store.APIToken, error) {
	if t.ID == "" {
		t.ID = newID()
	}
	if t.Created.IsZero() {
		t.Created = time.Now()
	}
	t.Created = normTime(t.Created)
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO api_tokens (`+apiTokenCols+`) VALUES (?, ?, ?, ?, ?)`),
		t.ID, t.UserID, t.Name, t.Hash, s.tv(t.Created))
	if err != nil {
		return store.APIToken{}, fmt.Errorf("create API token %q: %w", t.Name, mapErr(err))
	}
	return t, nil
}

// APITokenByHash finds a token by the SHA-256 hex of its value.
func (s *Store) APITokenByHash(ctx context.Context, hash string) (store.APIToken, error) {
	t, err := scanAPIToken(s.r.QueryRowContext(ctx, s.q(`SELECT `+apiTokenCols+` FROM api_tokens WHERE hash = ?`), hash))
	if err != nil {
		return store.APIToken{}, fmt.Errorf("API token by hash: %w", mapErr(err))
	}
	return t, nil
}

// ListAPITokens returns the user's tokens (all users' when userID is ""),
// oldest first.
func (s *Store) ListAPITokens(ctx context.Context, userID string) ([]store.APIToken, error) {
	query, args := `SELECT `+apiTokenCols+` FROM api_tokens ORDER BY created, id`, []any(nil)
	if userID != "" {
		query, args = `SELECT `+apiTokenCols+` FROM api_tokens WHERE user_id = ? ORDER BY created, id`, []any{userID}
	}
	rows, err := s.r.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list API tokens: %w", err)
	}
	defer rows.Close()
	var out []store.APIToken
	for rows.Next() {
		t, err := scanAPIToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list API tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list API tokens: %w", err)
	}
	return out, nil
}

// APITokenByID returns a token (its hash, never its value) by id.
func (s *Store) APITokenByID(ctx context.Context, id string) (store.APIToken, error) {
	t, err := scanAPIToken(s.r.QueryRowContext(ctx, s.q(`SELECT `+apiTokenCols+` FROM api_tokens WHERE id = ?`), id))
	if err != nil {
		return store.APIToken{}, fmt.Errorf("API token %q: %w", id, mapErr(err))
	}
	return t, nil
}

// DeleteUserAPITokens deletes every API token of the user.
func (s *Store) DeleteUserAPITokens(ctx context.Context, userID string) error {
	if _, err := s.w.ExecContext(ctx, s.q(`DELETE FROM api_tokens WHERE user_id = ?`), userID); err != nil {
		return fmt.Errorf("delete API tokens of user %q: %w", userID, err)
	}
	return nil
}

// DeleteAPIToken deletes a token; ErrNotFound when there was none.
func (s *Store) DeleteAPIToken(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, s.q(`DELETE FROM api_tokens WHERE id = ?`), id)
	if err == nil {
		err = notFoundIfNone(res)
	}
	if err != nil {
		return fmt.Errorf("delete API token %q: %w", id, mapErr(err))
	}
	return nil
}

// ---- enrollment tokens ----

const enrollCols = `id, hash, group_id, created_by, created, expires, revoked`

func scanEnroll(sc interface{ Scan(...any) error }) (store.EnrollmentToken, error) {
	var t store.EnrollmentToken
	err := sc.Scan(&t.ID, &t.Hash, &t.GroupID, &t.CreatedBy, timeCol{&t.Created}, nullTimeCol{&t.Expires}, nullTimeCol{&t.Revoked})
	return t, err
}

// CreateEnrollmentToken stores t, filling ID and Created when unset. An
// unknown group is ErrNotFound.
func (s *Store) CreateEnrollmentToken(ctx context.Context, t store.EnrollmentToken) (store.EnrollmentToken, error) {
	if t.ID == "" {
		t.ID = newID()
	}
	if t.Created.IsZero() {
		t.Created = time.Now()
	}
	t.Created = normTime(t.Created)
	t.Expires = normTimePtr(t.Expires)
	t.Revoked = normTimePtr(t.Revoked)
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO enrollment_tokens (`+enrollCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		t.ID, t.Hash, t.GroupID, t.CreatedBy, s.tv(t.Created), s.ntv(t.Expires), s.ntv(t.Revoked))
	if err != nil {
		return store.EnrollmentToken{}, fmt.Errorf("create enrollment token: %w", mapErr(err))
	}
	return t, nil
}

// EnrollmentTokenByHash finds a token by hash, including expired and
// revoked ones: the caller checks Expires and Revoked.
func (s *Store) EnrollmentTokenByHash(ctx context.Context, hash string) (store.EnrollmentToken, error) {
	t, err := scanEnroll(s.r.QueryRowContext(ctx, s.q(`SELECT `+enrollCols+` FROM enrollment_tokens WHERE hash = ?`), hash))
	if err != nil {
		return store.EnrollmentToken{}, fmt.Errorf("enrollment token by hash: %w", mapErr(err))
	}
	return t, nil
}

// ListEnrollmentTokens returns all tokens, oldest first.
func (s *Store) ListEnrollmentTokens(ctx context.Context) ([]store.EnrollmentToken, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+enrollCols+` FROM enrollment_tokens ORDER BY created, id`)
	if err != nil {
		return nil, fmt.Errorf("list enrollment tokens: %w", err)
	}
	defer rows.Close()
	var out []store.EnrollmentToken
	for rows.Next() {
		t, err := scanEnroll(rows)
		if err != nil {
			return nil, fmt.Errorf("list enrollment tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list enrollment tokens: %w", err)
	}
	return out, nil
}

// RevokeEnrollmentToken marks the token revoked at at; revoking again keeps
// the first time. ErrNotFound for an unknown id.
func (s *Store) RevokeEnrollmentToken(ctx context.Context, id string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, s.q(`UPDATE enrollment_tokens SET revoked = COALESCE(revoked, ?) WHERE id = ?`), s.tv(at), id)
	if err == nil {
		err = notFoundIfNone(res)
	}
	if err != nil {
		return fmt.Errorf("revoke enrollment token %q: %w", id, mapErr(err))
	}
	return nil
}

// sortedKeys returns the keys of m in order, for deterministic batches.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
