package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tetherdesk/tether/server/store"
)

// ---- users ----

// UpdateUser changes the display name and the disabled flag of u.ID.
func (s *Store) UpdateUser(ctx context.Context, u store.User) error {
	res, err := s.w.ExecContext(ctx, s.q(`UPDATE users SET display_name = ?, disabled = ? WHERE id = ?`), u.DisplayName, u.Disabled, u.ID)
	if err == nil {
		err = notFoundIfNone(res)
	}
	if err != nil {
		return fmt.Errorf("update user %q: %w", u.ID, mapErr(err))
	}
	return nil
}

// DeleteUser removes a user; role assignments, web sessions and API tokens
// go with it (ON DELETE CASCADE).
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, s.q(`DELETE FROM users WHERE id = ?`), id)
	if err == nil {
		err = notFoundIfNone(res)
	}
	if err != nil {
		return fmt.Errorf("delete user %q: %w", id, mapErr(err))
	}
	return nil
}

// DeleteUserWebSessions deletes every web session of the user but the one
// with id keep ("" keeps none).
func (s *Store) DeleteUserWebSessions(ctx context.Context, userID, keep string) error {
	if _, err := s.w.ExecContext(ctx, s.q(`DELETE FROM web_sessions WHERE user_id = ? AND id <> ?`), userID, keep); err != nil {
		return fmt.Errorf("delete web sessions of user %q: %w", userID, err)
	}
	return nil
}

// ---- roles ----

// DeleteRole removes an unassigned role.
func (s *Store) DeleteRole(ctx context.Context, name string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM role_assignments WHERE role = ?`), name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: the role is assigned %d time(s); remove it from those users first", store.ErrConflict, n)
		}
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM roles WHERE name = ?`), name)
		if err == nil {
			err = notFoundIfNone(res)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete role %q: %w", name, mapErr(err))
	}
	return nil
}

// RoleAssignmentCounts counts assignments per role.
func (s *Store) RoleAssignmentCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT role, COUNT(*) FROM role_assignments GROUP BY role`)
	if err != nil {
		return nil, fmt.Errorf("count role assignments: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var r string
		var n int
		if err := rows.Scan(&r, &n); err != nil {
			return nil, fmt.Errorf("count role assignments: %w", err)
		}
		out[r] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count role assignments: %w", err)
	}
	return out, nil
}

// ---- groups ----

const groupCols = `id, name, rules`

// rulesCol scans the JSON rules column.
type rulesCol struct{ r *store.GroupRules }

func (c rulesCol) Scan(src any) error {
	var b json.RawMessage
	if err := (jsonCol{&b}).Scan(src); err != nil {
		return err
	}
	if b == nil {
		*c.r = store.GroupRules{}
		return nil
	}
	var r store.GroupRules
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("decode group rules: %w", err)
	}
	if len(r.Rules) == 0 {
		r.Rules = nil
	}
	*c.r = r
	return nil
}

func scanGroup(sc interface{ Scan(...any) error }) (store.Group, error) {
	var g store.Group
	err := sc.Scan(&g.ID, &g.Name, rulesCol{&g.Rules})
	return g, err
}

func rulesJSON(r store.GroupRules) string {
	b, _ := json.Marshal(r) // plain strings always marshal
	return string(b)
}

// UpdateGroup changes a group's name and rules.
func (s *Store) UpdateGroup(ctx context.Context, g store.Group) error {
	res, err := s.w.ExecContext(ctx, s.q(`UPDATE computer_groups SET name = ?, rules = ? WHERE id = ?`), g.Name, rulesJSON(g.Rules), g.ID)
	if err == nil {
		err = notFoundIfNone(res)
	}
	if err != nil {
		return fmt.Errorf("update group %q: %w", g.ID, mapErr(err))
	}
	return nil
}

// DeleteGroup removes a group that nothing depends on any more. Revoked
// endpoints enrolled into it move to the Default group and its revoked
// tokens go with it: neither can be used again.
func (s *Store) DeleteGroup(ctx context.Context, id string) error {
	if id == store.DefaultGroup {
		return fmt.Errorf("delete group %q: %w: the Default group cannot be deleted", id, store.ErrConflict)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM computer_groups WHERE id = ?`+s.d.forUpdate), id).Scan(&one); err != nil {
			return mapErr(err)
		}
		var uses []string
		for _, c := range []struct{ query, what string }{
			{`SELECT COUNT(*) FROM agents WHERE group_id = ? AND revoked IS NULL`, "endpoint(s) were enrolled into it"},
			{`SELECT COUNT(*) FROM enrollment_tokens WHERE group_id = ? AND revoked IS NULL`, "enrollment token(s) enroll into it (revoke them)"},
			{`SELECT COUNT(*) FROM role_assignments WHERE group_id = ?`, "role assignment(s) are scoped to it"},
		} {
			var n int
			if err := tx.QueryRowContext(ctx, s.q(c.query), id).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				uses = append(uses, fmt.Sprintf("%d %s", n, c.what))
			}
		}
		if len(uses) > 0 {
			return fmt.Errorf("%w: the group is in use: %s", store.ErrConflict, strings.Join(uses, "; "))
		}
		for _, q := range []string{
			`UPDATE agents SET group_id = '` + store.DefaultGroup + `' WHERE group_id = ?`,
			`DELETE FROM enrollment_tokens WHERE group_id = ?`,
			`DELETE FROM policies WHERE group_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, s.q(q), id); err != nil {
				return err
			}
		}
		// Drop the group from every membership list that names it.
		rows, err := tx.QueryContext(ctx, s.q(`SELECT id, rule_groups, manual_groups FROM agents WHERE group_text LIKE ? ESCAPE '\'`), "% "+likeEscape(id)+" %")
		if err != nil {
			return err
		}
		type mem struct {
			id             string
			rule, manualGs []string
		}
		var ms []mem
		for rows.Next() {
			var m mem
			if err := rows.Scan(&m.id, listCol{&m.rule}, listCol{&m.manualGs}); err != nil {
				rows.Close()
				return err
			}
			ms = append(ms, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, m := range ms {
			m.rule = slices.DeleteFunc(m.rule, func(g string) bool { return g == id })
			m.manualGs = slices.DeleteFunc(m.manualGs, func(g string) bool { return g == id })
			if err := s.writeGroups(ctx, tx, m.id, m.rule, m.manualGs); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, s.q(`DELETE FROM computer_groups WHERE id = ?`), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete group %q: %w", id, mapErr(err))
	}
	return nil
}

// ---- agent memberships ----

// groupText is the searchable form of an agent's rule and manual groups.
func groupText(lists ...[]string) string {
	var all []string
	for _, l := range lists {
		for _, g := range l {
			if !slices.Contains(all, g) {
				all = append(all, g)
			}
		}
	}
	slices.Sort(all)
	if len(all) == 0 {
		return " "
	}
	return " " + strings.Join(all, " ") + " "
}

// filter gathers a query's WHERE terms and their arguments, in order.
type filter struct {
	terms []string
	args  []any
}

func (f *filter) add(term string, args ...any) {
	f.terms = append(f.terms, term)
	f.args = append(f.args, args...)
}

// inGroups keeps agents (columns prefixed with prefix) that belong to any
// of ids.
func (f *filter) inGroups(prefix string, ids []string) {
	parts := []string{prefix + "group_id IN (" + placeholders(len(ids)) + ")"}
	args := anySlice(ids)
	for _, id := range ids {
		parts = append(parts, prefix+`group_text LIKE ? ESCAPE '\'`)
		args = append(args, "% "+likeEscape(id)+" %")
	}
	f.add("("+strings.Join(parts, " OR ")+")", args...)
}

// where is " WHERE t1 AND t2 ...", or "" without terms.
func (f *filter) where() string {
	if len(f.terms) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(f.terms, " AND ")
}

// checkGroups vets a filter's group list: nil is no limit, and an empty,
// non-nil list selects nothing (none).
func checkGroups(ids []string) (none bool, err error) {
	if ids != nil && len(ids) == 0 {
		return true, nil
	}
	if len(ids) > idChunk {
		return false, errors.New("too many groups")
	}
	return false, nil
}

// wrapErr names the operation in err; nil stays nil.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}

// limitOr is a list's limit: n, or def when n is unset.
func limitOr(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

func (s *Store) writeGroups(ctx context.Context, tx *sql.Tx, id string, rule, manual []string) error {
	res, err := tx.ExecContext(ctx, s.q(`UPDATE agents SET rule_groups = ?, manual_groups = ?, group_text = ? WHERE id = ?`),
		strList(rule), strList(manual), groupText(rule, manual), id)
	if err == nil {
		err = notFoundIfNone(res)
	}
	return err
}

// existingGroups returns the ids among ids that name a group, in order,
// without repeats.
func (s *Store) existingGroups(ctx context.Context, tx *sql.Tx, ids []string) ([]string, error) {
	var out []string
	for _, id := range ids {
		if slices.Contains(out, id) {
			continue
		}
		var one int
		err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM computer_groups WHERE id = ?`), id).Scan(&one)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

func (s *Store) setAgentGroups(ctx context.Context, id string, groups []string, manual bool) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var rule, man []string
		err := tx.QueryRowContext(ctx, s.q(`SELECT rule_groups, manual_groups FROM agents WHERE id = ?`+s.d.forUpdate), id).Scan(listCol{&rule}, listCol{&man})
		if err != nil {
			return mapErr(err)
		}
		known, err := s.existingGroups(ctx, tx, groups)
		if err != nil {
			return err
		}
		if manual {
			for _, g := range groups {
				if !slices.Contains(known, g) {
					return fmt.Errorf("group %q: %w", g, store.ErrNotFound)
				}
			}
			man = known
		} else {
			rule = known
		}
		return s.writeGroups(ctx, tx, id, rule, man)
	})
}

// SetAgentRuleGroups replaces the agent's memberships by rule.
func (s *Store) SetAgentRuleGroups(ctx context.Context, id string, groups []string) error {
	if err := s.setAgentGroups(ctx, id, groups, false); err != nil {
		return fmt.Errorf("set rule groups of agent %q: %w", id, err)
	}
	return nil
}

// SetAgentManualGroups replaces the agent's memberships by hand.
func (s *Store) SetAgentManualGroups(ctx context.Context, id string, groups []string) error {
	if err := s.setAgentGroups(ctx, id, groups, true); err != nil {
		return fmt.Errorf("set manual groups of agent %q: %w", id, err)
	}
	return nil
}

// ListAgents pages through unrevoked agents by id.
func (s *Store) ListAgents(ctx context.Context, afterID string, limit int) ([]store.Agent, error) {
	if limit <= 0 {
		limit = 500
	}
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT `+agentCols+` FROM agents WHERE revoked IS NULL AND id > ? ORDER BY id LIMIT ?`), afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	out, err := scanAgents(rows)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	return out, nil
}
