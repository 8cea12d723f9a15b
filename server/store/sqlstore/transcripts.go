package sqlstore

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/tetherdesk/tether/server/store"
)

// PutTranscript stores a terminal session's transcript; the primary key
// on the session id makes a second one ErrConflict, the reference to the
// session an unknown session ErrNotFound. The bytes are kept as base64:
// a terminal's output need not be text.
func (s *Store) PutTranscript(ctx context.Context, t store.Transcript) error {
	if t.SessionID == "" {
		return fmt.Errorf("put transcript: empty session id")
	}
	if t.Stored.IsZero() {
		t.Stored = time.Now()
	}
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO session_transcripts (session_id, size, total, sha256, data, stored)
		VALUES (?, ?, ?, ?, ?, ?)`),
		t.SessionID, len(t.Data), t.Total, t.SHA256, base64.StdEncoding.EncodeToString(t.Data), s.tv(normTime(t.Stored)))
	if err != nil {
		return fmt.Errorf("put transcript of session %q: %w", t.SessionID, mapErr(err))
	}
	return nil
}

// TranscriptOf returns a session's transcript.
func (s *Store) TranscriptOf(ctx context.Context, sessionID string, withData bool) (store.Transcript, error) {
	t := store.Transcript{SessionID: sessionID}
	var data string
	data64 := "''"
	if withData {
		data64 = "data"
	}
	err := s.r.QueryRowContext(ctx, s.q(`SELECT size, total, sha256, `+data64+`, stored FROM session_transcripts WHERE session_id = ?`), sessionID).
		Scan(&t.Size, &t.Total, &t.SHA256, &data, timeCol{&t.Stored})
	if err != nil {
		return store.Transcript{}, fmt.Errorf("transcript of session %q: %w", sessionID, mapErr(err))
	}
	if withData {
		if t.Data, err = base64.StdEncoding.DecodeString(data); err != nil {
			return store.Transcript{}, fmt.Errorf("transcript of session %q: stored data: %w", sessionID, err)
		}
	} else {
		t.Data = nil
	}
	return t, nil
}
