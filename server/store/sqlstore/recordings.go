package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/tetherdesk/tether/server/store"
)

// recordingCols are the columns of a recording without its timeline.
const recordingCols = `session_id, agent_id, size, sha256, duration_ms, width, height, created, expires`

func scanRecording(sc interface{ Scan(...any) error }, withTimeline bool) (store.Recording, error) {
	var r store.Recording
	dest := []any{&r.SessionID, &r.AgentID, &r.Size, &r.SHA256, &r.DurationMS, &r.Width, &r.Height,
		timeCol{&r.Created}, timeCol{&r.Expires}}
	if withTimeline {
		dest = append(dest, jsonCol{&r.Timeline})
	}
	err := sc.Scan(dest...)
	return r, err
}

// PutRecording stores a session's recording; the primary key on the
// session id makes a second one ErrConflict, the reference to the
// session an unknown session ErrNotFound.
func (s *Store) PutRecording(ctx context.Context, r store.Recording) error {
	if r.SessionID == "" {
		return fmt.Errorf("put recording: empty session id")
	}
	if r.Created.IsZero() {
		r.Created = time.Now()
	}
	tl := string(r.Timeline)
	if tl == "" {
		tl = "{}"
	}
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO recordings (`+recordingCols+`, timeline)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		r.SessionID, r.AgentID, r.Size, r.SHA256, r.DurationMS, r.Width, r.Height, s.tv(r.Created), s.tv(r.Expires), tl)
	if err != nil {
		return fmt.Errorf("put recording of session %q: %w", r.SessionID, mapErr(err))
	}
	return nil
}

// RecordingBySession returns a session's recording with its timeline.
func (s *Store) RecordingBySession(ctx context.Context, sessionID string) (store.Recording, error) {
	r, err := scanRecording(s.r.QueryRowContext(ctx, s.q(`SELECT `+recordingCols+`, timeline FROM recordings WHERE session_id = ?`), sessionID), true)
	if err != nil {
		return store.Recording{}, fmt.Errorf("recording of session %q: %w", sessionID, mapErr(err))
	}
	return r, nil
}

// RecordingsOf looks the sessions up a chunk at a time.
func (s *Store) RecordingsOf(ctx context.Context, sessionIDs []string) (map[string]store.Recording, error) {
	out := map[string]store.Recording{}
	for _, ids := range chunks(sessionIDs, 500) {
		rows, err := s.r.QueryContext(ctx, s.q(`SELECT `+recordingCols+` FROM recordings WHERE session_id IN (`+placeholders(len(ids))+`)`), anySlice(ids)...)
		if err != nil {
			return nil, fmt.Errorf("recordings of sessions: %w", err)
		}
		for rows.Next() {
			r, err := scanRecording(rows, false)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("recordings of sessions: %w", err)
			}
			out[r.SessionID] = r
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("recordings of sessions: %w", err)
		}
	}
	return out, nil
}

// ExpiredRecordings lists recordings expired at before, soonest first.
func (s *Store) ExpiredRecordings(ctx context.Context, before time.Time, limit int) ([]store.Recording, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT `+recordingCols+` FROM recordings WHERE expires <= ?
		ORDER BY expires, session_id LIMIT ?`), s.tv(before), limitOr(limit, 500))
	if err != nil {
		return nil, fmt.Errorf("expired recordings: %w", err)
	}
	defer rows.Close()
	var out []store.Recording
	for rows.Next() {
		r, err := scanRecording(rows, false)
		if err != nil {
			return nil, fmt.Errorf("expired recordings: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("expired recordings: %w", err)
	}
	return out, nil
}

// DeleteRecording removes a session's recording row.
func (s *Store) DeleteRecording(ctx context.Context, sessionID string) error {
	res, err := s.w.ExecContext(ctx, s.q(`DELETE FROM recordings WHERE session_id = ?`), sessionID)
	if err != nil {
		return fmt.Errorf("delete recording of session %q: %w", sessionID, mapErr(err))
	}
	if err := notFoundIfNone(res); err != nil {
		return fmt.Errorf("delete recording of session %q: %w", sessionID, err)
	}
	return nil
}
