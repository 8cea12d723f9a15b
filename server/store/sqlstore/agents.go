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

const agentCols = `id, group_id, secret_hash, hostname, ips, os, os_version, arch, agent_version, users, enrolled, last_seen, revoked, enroll_key, enroll_token_id, rule_groups, manual_groups, time_zone, tools`

func scanAgent(sc interface{ Scan(...any) error }) (store.Agent, error) {
	var a store.Agent
	err := sc.Scan(&a.ID, &a.GroupID, &a.SecretHash, &a.Hostname, listCol{&a.IPs}, &a.OS, &a.OSVersion, &a.Arch,
		&a.AgentVersion, listCol{&a.Users}, timeCol{&a.Enrolled}, timeCol{&a.LastSeen}, nullTimeCol{&a.Revoked}, &a.EnrollKey,
		&a.EnrollTokenID, listCol{&a.RuleGroups}, listCol{&a.ManualGroups}, &a.TimeZone, listCol{&a.Tools})
	return a, err
}

func scanAgents(rows *sql.Rows) ([]store.Agent, error) {
	defer rows.Close()
	var out []store.Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// hostFold is the hostname as searched: lower-cased in Go, so matching is
// Unicode-aware and identical on both backends.
func hostFold(h string) string { return strings.ToLower(h) }

// ipText is the searchable form of the address list: " a b c ", so that
// LIKE '% q%' matches q only at the start of an address.
func ipText(ips []string) string {
	if len(ips) == 0 {
		return " "
	}
	return " " + strings.ToLower(strings.Join(ips, " ")) + " "
}

func normList(v []string) []string {
	if len(v) == 0 {
		return nil
	}
	return v
}

// CreateAgent stores a, filling ID, Enrolled (now) and LastSeen (Enrolled)
// when unset. An unknown group is ErrNotFound; a reused secret hash is
// ErrConflict.
func (s *Store) CreateAgent(ctx context.Context, a store.Agent) (store.Agent, error) {
	if a.ID == "" {
		a.ID = newID()
	}
	if a.Enrolled.IsZero() {
		a.Enrolled = time.Now()
	}
	a.Enrolled = normTime(a.Enrolled)
	if a.LastSeen.IsZero() {
		a.LastSeen = a.Enrolled
	}
	a.LastSeen = normTime(a.LastSeen)
	a.Revoked = normTimePtr(a.Revoked)
	a.IPs, a.Users, a.Tools = normList(a.IPs), normList(a.Users), normList(a.Tools)
	a.RuleGroups, a.ManualGroups = normList(a.RuleGroups), normList(a.ManualGroups)
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO agents (id, group_id, secret_hash, hostname, host_fold, ips, ip_text,
		os, os_version, arch, agent_version, users, enrolled, last_seen, revoked, enroll_key,
		enroll_token_id, rule_groups, manual_groups, group_text, time_zone, tools)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		a.ID, a.GroupID, a.SecretHash, a.Hostname, hostFold(a.Hostname), strList(a.IPs), ipText(a.IPs),
		a.OS, a.OSVersion, a.Arch, a.AgentVersion, strList(a.Users), s.tv(a.Enrolled), s.tv(a.LastSeen), s.ntv(a.Revoked), a.EnrollKey,
		a.EnrollTokenID, strList(a.RuleGroups), strList(a.ManualGroups), groupText(a.RuleGroups, a.ManualGroups), a.TimeZone, strList(a.Tools))
	if err != nil {
		return store.Agent{}, fmt.Errorf("create agent %q: %w", a.Hostname, mapErr(err))
	}
	return a, nil
}

// AgentByID returns the agent, revoked or not.
func (s *Store) AgentByID(ctx context.Context, id string) (store.Agent, error) {
	a, err := scanAgent(s.r.QueryRowContext(ctx, s.q(`SELECT `+agentCols+` FROM agents WHERE id = ?`), id))
	if err != nil {
		return store.Agent{}, fmt.Errorf("agent %q: %w", id, mapErr(err))
	}
	return a, nil
}

// AgentBySecretHash returns the agent with that secret hash, revoked or
// not: the caller checks Revoked.
func (s *Store) AgentBySecretHash(ctx context.Context, hash string) (store.Agent, error) {
	st, err := s.readStmt(ctx, s.q(`SELECT `+agentCols+` FROM agents WHERE secret_hash = ?`))
	if err != nil {
		return store.Agent{}, fmt.Errorf("agent by secret: %w", mapErr(err))
	}
	a, err := scanAgent(st.QueryRowContext(ctx, hash))
	if err != nil {
		return store.Agent{}, fmt.Errorf("agent by secret: %w", mapErr(err))
	}
	return a, nil
}

// UpdateInventory replaces hostname, IPs, OS, OS version, arch, agent
// version, users, time zone and tools of agent a.ID.
func (s *Store) UpdateInventory(ctx context.Context, a store.Agent) error {
	a.IPs, a.Users, a.Tools = normList(a.IPs), normList(a.Users), normList(a.Tools)
	res, err := s.w.ExecContext(ctx, s.q(`UPDATE agents SET hostname = ?, host_fold = ?, ips = ?, ip_text = ?,
		os = ?, os_version = ?, arch = ?, agent_version = ?, users = ?, time_zone = ?, tools = ? WHERE id = ?`),
		a.Hostname, hostFold(a.Hostname), strList(a.IPs), ipText(a.IPs),
		a.OS, a.OSVersion, a.Arch, a.AgentVersion, strList(a.Users), a.TimeZone, strList(a.Tools), a.ID)
	if err == nil {
		err = notFoundIfNone(res)
	}
	if err != nil {
		return fmt.Errorf("update inventory of agent %q: %w", a.ID, mapErr(err))
	}
	return nil
}

// TouchAgents sets last_seen for many agents in one transaction and one
// statement. Unknown ids are ignored.
func (s *Store) TouchAgents(ctx context.Context, seen map[string]time.Time) error {
	if len(seen) == 0 {
		return nil
	}
	var err error
	if s.d.dollar {
		err = s.touchAgentsPostgres(ctx, seen)
	} else {
		err = s.touchAgentsSQLite(ctx, seen)
	}
	if err != nil {
		return fmt.Errorf("touch %d agents: %w", len(seen), err)
	}
	return nil
}

// touchAgentsPostgres sends the batch as two arrays: one round trip for
// 10,000 agents. The ids are sorted so that concurrent batches from several
// nodes lock rows in the same order (the plan walks the array in order);
// inTx retries the rare deadlock anyway.
func (s *Store) touchAgentsPostgres(ctx context.Context, seen map[string]time.Time) error {
	ids := sortedKeys(seen)
	ts := make([]time.Time, len(ids))
	for i, id := range ids {
		ts[i] = normTime(seen[id])
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// Nodes flush their batches independently: a later sign of life
		// another node wrote first is kept.
		_, err := tx.ExecContext(ctx, `UPDATE agents AS a SET last_seen = GREATEST(a.last_seen, v.ts)
			FROM unnest($1::text[], $2::timestamptz[]) AS v(id, ts) WHERE a.id = v.id`, ids, ts)
		return err
	})
}

// touchAgentsSQLite sends the batch as one JSON object {id: time} joined
// with json_each: one statement, measured about 2.5x faster than a prepared
// UPDATE per agent.
func (s *Store) touchAgentsSQLite(ctx context.Context, seen map[string]time.Time) error {
	m := make(map[string]string, len(seen))
	for id, t := range seen {
		m[id] = normTime(t).Format(sqliteTime)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// Times are UTC in one fixed-width format: text order is time order.
		_, err := tx.ExecContext(ctx, `UPDATE agents SET last_seen = max(coalesce(last_seen, ''), v.value) FROM json_each(?) AS v WHERE agents.id = v.key`, string(b))
		return err
	})
}

// RevokeAgent marks the agent revoked at at; revoking again keeps the first
// time. ErrNotFound for an unknown id.
func (s *Store) RevokeAgent(ctx context.Context, id string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, s.q(`UPDATE agents SET revoked = COALESCE(revoked, ?) WHERE id = ?`), s.tv(at), id)
	if err == nil {
		err = notFoundIfNone(res)
	}
	if err != nil {
		return fmt.Errorf("revoke agent %q: %w", id, mapErr(err))
	}
	return nil
}

// ReEnrollAgent gives the agent of an earlier, unanswered enrollment a new
// secret hash, in one transaction.
func (s *Store) ReEnrollAgent(ctx context.Context, enrollKey, secretHash string, notBefore time.Time) (store.Agent, error) {
	if enrollKey == "" {
		return store.Agent{}, fmt.Errorf("re-enroll: %w", store.ErrNotFound)
	}
	var a store.Agent
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		a, err = scanAgent(tx.QueryRowContext(ctx, s.q(`SELECT `+agentCols+` FROM agents
			WHERE enroll_key = ? AND revoked IS NULL AND enrolled >= ?`), enrollKey, s.tv(normTime(notBefore))))
		if err != nil {
			return err
		}
		a.SecretHash = secretHash
		_, err = tx.ExecContext(ctx, s.q(`UPDATE agents SET secret_hash = ? WHERE id = ?`), secretHash, a.ID)
		return err
	})
	if err != nil {
		return store.Agent{}, fmt.Errorf("re-enroll agent: %w", mapErr(err))
	}
	return a, nil
}

// SearchAgents returns unrevoked agents whose hostname contains the query
// (case-insensitively) or one of whose IP addresses starts with it, ordered
// by hostname (case-insensitively), then id.
func (s *Store) SearchAgents(ctx context.Context, f store.AgentFilter) ([]store.Agent, error) {
	if none, err := checkGroups(f.GroupIDs); none || err != nil {
		return nil, wrapErr("search agents", err)
	}
	var w filter
	w.add("revoked IS NULL")
	if f.GroupIDs != nil {
		w.inGroups("", f.GroupIDs)
	}
	if q := strings.ToLower(strings.TrimSpace(f.Query)); q != "" {
		esc := likeEscape(q)
		if strings.ContainsAny(q, " \t") {
			// Addresses hold no spaces; without this, "1 2" would match
			// across the boundary of two addresses in ip_text.
			w.add(`host_fold LIKE ? ESCAPE '\'`, "%"+esc+"%")
		} else {
			w.add(`(host_fold LIKE ? ESCAPE '\' OR ip_text LIKE ? ESCAPE '\')`, "%"+esc+"%", "% "+esc+"%")
		}
	}
	query := `SELECT ` + agentCols + ` FROM agents` + w.where() + ` ORDER BY host_fold, hostname, id LIMIT ?`
	args := append(w.args, limitOr(f.Limit, 200))
	rows, err := s.r.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("search agents: %w", err)
	}
	out, err := scanAgents(rows)
	if err != nil {
		return nil, fmt.Errorf("search agents: %w", err)
	}
	return out, nil
}
