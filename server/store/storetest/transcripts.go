package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/protocol"
)

// testTranscripts covers a tool session's tool and its one transcript:
// put, read back with and without the bytes (which need not be text),
// a second one refused, one of an unknown session refused.
func testTranscripts(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mustAgent(t, s, store.DefaultGroup, "term")
	ss, err := s.CreateSession(ctx, store.ScreenSession{AgentID: a.ID, TechnicianID: "u1", TechnicianName: "alice", Attended: true,
		AcceptTimeoutS: 30, State: protocol.SessionRequested, AgentTokenHash: "term-1", Created: t0, Tool: protocol.ToolTerminal})
	noErr(t, "create tool session", err)
	got, err := s.SessionByID(ctx, ss.ID)
	noErr(t, "session by id", err)
	equal(t, "tool", got.Tool, protocol.ToolTerminal)
	plain := mustSession(t, s, a.ID, "u1", t0.Add(time.Second))
	got, err = s.SessionByID(ctx, plain.ID)
	noErr(t, "session by id", err)
	equal(t, "tool of a screen share", got.Tool, "")
	equal(t, "write of a terminal", got.Write, false)
	files, err := s.CreateSession(ctx, store.ScreenSession{AgentID: a.ID, TechnicianID: "u1", TechnicianName: "alice", Attended: true,
		AcceptTimeoutS: 30, State: protocol.SessionRequested, AgentTokenHash: "files-1", Created: t0, Tool: protocol.ToolFiles, Write: true})
	noErr(t, "create files session", err)
	got, err = s.SessionByID(ctx, files.ID)
	noErr(t, "session by id", err)
	equal(t, "write of a files session", got.Write, true)

	_, err = s.TranscriptOf(ctx, ss.ID, true)
	wantErr(t, "transcript before put", err, store.ErrNotFound)
	data := []byte("$ id -un\r\nalice\r\n\xff\x00\x1b[31mred\x1b[0m\r\n")
	tr := store.Transcript{SessionID: ss.ID, Data: data, Total: 5 << 20, SHA256: "cafe", Stored: t0.Add(time.Minute)}
	noErr(t, "put transcript", s.PutTranscript(ctx, tr))
	wantErr(t, "second transcript", s.PutTranscript(ctx, tr), store.ErrConflict)
	wantErr(t, "transcript of an unknown session", s.PutTranscript(ctx, store.Transcript{SessionID: "nope", Data: data}), store.ErrNotFound)
	back, err := s.TranscriptOf(ctx, ss.ID, true)
	noErr(t, "transcript", err)
	if !bytes.Equal(back.Data, data) {
		t.Fatalf("transcript bytes = %q, want %q", back.Data, data)
	}
	equal(t, "total", back.Total, int64(5<<20))
	equal(t, "sha256", back.SHA256, "cafe")
	equal(t, "stored", back.Stored.Equal(t0.Add(time.Minute)), true)
	meta, err := s.TranscriptOf(ctx, ss.ID, false)
	noErr(t, "transcript without data", err)
	equal(t, "data left out", len(meta.Data), 0)
	equal(t, "size without data", meta.Size, int64(len(data)))
	equal(t, "total without data", meta.Total, int64(5<<20))
}
