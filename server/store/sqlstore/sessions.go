package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/protocol"
)

const sessionCols = `id, agent_id, technician_id, technician_name, attended, accept_timeout_s, mode, state, reason,
	agent_token_hash, created, state_since, started, ended, control_holder, record, tool, tool_write`

func scanSession(sc interface{ Scan(...any) error }) (store.ScreenSession, error) {
	var ss store.ScreenSession
	err := sc.Scan(&ss.ID, &ss.AgentID, &ss.TechnicianID, &ss.TechnicianName, &ss.Attended, &ss.AcceptTimeoutS,
		&ss.Mode, &ss.State, &ss.Reason, &ss.AgentTokenHash, timeCol{&ss.Created}, timeCol{&ss.StateSince},
		nullTimeCol{&ss.Started}, nullTimeCol{&ss.Ended}, &ss.ControlHolder, &ss.Record, &ss.Tool, &ss.Write)
	return ss, err
}

// CreateSession stores ss, filling ID and Created (now) when unset;
// StateSince defaults to Created. An unknown agent is ErrNotFound.
func (s *Store) CreateSession(ctx context.Context, ss store.ScreenSession) (store.ScreenSession, error) {
	if ss.ID == "" {
		ss.ID = newID()
	}
	if ss.State == "" {
		return store.ScreenSession{}, fmt.Errorf("create session for agent %q: empty state", ss.AgentID)
	}
	if ss.Created.IsZero() {
		ss.Created = time.Now()
	}
	ss.Created = normTime(ss.Created)
	if ss.StateSince.IsZero() {
		ss.StateSince = ss.Created
	}
	ss.StateSince = normTime(ss.StateSince)
	ss.Started, ss.Ended = normTimePtr(ss.Started), normTimePtr(ss.Ended)
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO screen_sessions (`+sessionCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		ss.ID, ss.AgentID, ss.TechnicianID, ss.TechnicianName, ss.Attended, ss.AcceptTimeoutS, ss.Mode, ss.State,
		ss.Reason, ss.AgentTokenHash, s.tv(ss.Created), s.tv(ss.StateSince), s.ntv(ss.Started), s.ntv(ss.Ended),
		ss.ControlHolder, ss.Record, ss.Tool, ss.Write)
	if err != nil {
		return store.ScreenSession{}, fmt.Errorf("create session for agent %q: %w", ss.AgentID, mapErr(err))
	}
	return ss, nil
}

// SessionByID returns the session with that id.
func (s *Store) SessionByID(ctx context.Context, id string) (store.ScreenSession, error) {
	ss, err := scanSession(s.r.QueryRowContext(ctx, s.q(`SELECT `+sessionCols+` FROM screen_sessions WHERE id = ?`), id))
	if err != nil {
		return store.ScreenSession{}, fmt.Errorf("session %q: %w", id, mapErr(err))
	}
	return ss, nil
}

// SessionByAgentTokenHash returns the session whose agent token hashes to hash.
func (s *Store) SessionByAgentTokenHash(ctx context.Context, hash string) (store.ScreenSession, error) {
	ss, err := scanSession(s.r.QueryRowContext(ctx, s.q(`SELECT `+sessionCols+` FROM screen_sessions WHERE agent_token_hash = ?`), hash))
	if err != nil {
		return store.ScreenSession{}, fmt.Errorf("session by agent token: %w", mapErr(err))
	}
	return ss, nil
}

// TransitionSession is one conditional UPDATE (WHERE state = from), so on
// either backend and any number of nodes exactly one of two racing
// transitions matches a row.
func (s *Store) TransitionSession(ctx context.Context, t store.SessionTransition) (store.ScreenSession, error) {
	if t.At.IsZero() {
		t.At = time.Now()
	}
	at := s.tv(t.At)
	var out store.ScreenSession
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		set := `state = ?, state_since = ?, reason = ?`
		args := []any{t.To, at, t.Reason}
		if t.Mode != "" {
			set += `, mode = ?`
			args = append(args, t.Mode)
		}
		switch t.To {
		case protocol.SessionActive:
			set += `, started = COALESCE(started, ?)`
			args = append(args, at)
		case protocol.SessionEnded:
			set += `, ended = ?, control_holder = ''`
			args = append(args, at)
		}
		args = append(args, t.ID, t.From)
		res, err := tx.ExecContext(ctx, s.q(`UPDATE screen_sessions SET `+set+` WHERE id = ? AND state = ?`), args...)
		if err != nil {
			return mapErr(err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		cur, err := scanSession(tx.QueryRowContext(ctx, s.q(`SELECT `+sessionCols+` FROM screen_sessions WHERE id = ?`), t.ID))
		if err != nil {
			return mapErr(err)
		}
		if n == 0 {
			return fmt.Errorf("%w: session is %s, not %s", store.ErrConflict, cur.State, t.From)
		}
		out = cur
		return nil
	})
	if err != nil {
		return store.ScreenSession{}, fmt.Errorf("session %q %s -> %s: %w", t.ID, t.From, t.To, err)
	}
	return out, nil
}

// SetControlHolder is a conditional UPDATE on the holder, refused for an
// ended session.
func (s *Store) SetControlHolder(ctx context.Context, id, from, to string) (store.ScreenSession, error) {
	var out store.ScreenSession
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE screen_sessions SET control_holder = ?
			WHERE id = ? AND control_holder = ? AND state <> ?`), to, id, from, protocol.SessionEnded)
		if err != nil {
			return mapErr(err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		cur, err := scanSession(tx.QueryRowContext(ctx, s.q(`SELECT `+sessionCols+` FROM screen_sessions WHERE id = ?`), id))
		if err != nil {
			return mapErr(err)
		}
		if n == 0 {
			if cur.State == protocol.SessionEnded {
				return fmt.Errorf("%w: session has ended", store.ErrConflict)
			}
			return fmt.Errorf("%w: control holder is no longer %q", store.ErrConflict, from)
		}
		out = cur
		return nil
	})
	if err != nil {
		return store.ScreenSession{}, fmt.Errorf("session %q control: %w", id, err)
	}
	return out, nil
}

// ListSessions returns sessions matching f, newest first.
func (s *Store) ListSessions(ctx context.Context, f store.SessionFilter) ([]store.ScreenSession, error) {
	if none, err := checkGroups(f.GroupIDs); none || err != nil {
		return nil, wrapErr("list sessions", err)
	}
	q := `SELECT ` + prefixCols("s.", sessionCols) + ` FROM screen_sessions s`
	var w filter
	if f.GroupIDs != nil {
		q += ` JOIN agents a ON a.id = s.agent_id`
		w.inGroups("a.", f.GroupIDs)
	}
	if f.ActiveOnly {
		w.add(`s.state <> ?`, protocol.SessionEnded)
	}
	if f.TechnicianID != "" {
		w.add(`s.technician_id = ?`, f.TechnicianID)
	}
	q += w.where() + ` ORDER BY s.created DESC, s.seq DESC LIMIT ?`
	args := append(w.args, limitOr(f.Limit, 500))
	rows, err := s.r.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []store.ScreenSession
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		out = append(out, ss)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return out, nil
}

// prefixCols qualifies a comma-separated column list with a table alias.
func prefixCols(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// AddSessionViewer records a viewer joining a session.
func (s *Store) AddSessionViewer(ctx context.Context, v store.SessionViewer) error {
	if v.Joined.IsZero() {
		v.Joined = time.Now()
	}
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO session_viewers (session_id, viewer_id, user_id, user_name, joined, left_at)
		VALUES (?, ?, ?, ?, ?, ?)`), v.SessionID, v.ViewerID, v.UserID, v.UserName, s.tv(v.Joined), s.ntv(v.Left))
	if err != nil {
		return fmt.Errorf("add viewer to session %q: %w", v.SessionID, mapErr(err))
	}
	return nil
}

// SessionViewerLeft records when a viewer left; a second call keeps the first time.
func (s *Store) SessionViewerLeft(ctx context.Context, sessionID, viewerID string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, s.q(`UPDATE session_viewers SET left_at = COALESCE(left_at, ?)
		WHERE session_id = ? AND viewer_id = ?`), s.tv(at), sessionID, viewerID)
	if err != nil {
		return fmt.Errorf("viewer %q left session %q: %w", viewerID, sessionID, mapErr(err))
	}
	if err := notFoundIfNone(res); err != nil {
		return fmt.Errorf("viewer %q left session %q: %w", viewerID, sessionID, err)
	}
	return nil
}

// SessionViewers lists the viewers of a session in joining order.
func (s *Store) SessionViewers(ctx context.Context, sessionID string, currentOnly bool) ([]store.SessionViewer, error) {
	q := `SELECT session_id, viewer_id, user_id, user_name, joined, left_at FROM session_viewers WHERE session_id = ?`
	if currentOnly {
		q += ` AND left_at IS NULL`
	}
	rows, err := s.r.QueryContext(ctx, s.q(q+` ORDER BY seq`), sessionID)
	if err != nil {
		return nil, fmt.Errorf("viewers of session %q: %w", sessionID, err)
	}
	defer rows.Close()
	var out []store.SessionViewer
	for rows.Next() {
		var v store.SessionViewer
		if err := rows.Scan(&v.SessionID, &v.ViewerID, &v.UserID, &v.UserName, timeCol{&v.Joined}, nullTimeCol{&v.Left}); err != nil {
			return nil, fmt.Errorf("viewers of session %q: %w", sessionID, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("viewers of session %q: %w", sessionID, err)
	}
	return out, nil
}
