package protocol

import "time"

// SessionRecord is one screen-share session in the audit history:
// GET /api/v1/audit/sessions (and, one row each, .../sessions.csv).
// Added 2025-06 for the console's Audit Log > Screen Share Sessions.
type SessionRecord struct {
	ID         string       `json:"id"`
	EndpointID string       `json:"endpoint_id"`
	Hostname   string       `json:"hostname"`
	Technician string       `json:"technician"`
	Mode       Mode         `json:"mode"`
	Attended   bool         `json:"attended"`
	State      SessionState `json:"state"`
	Reason     Reason       `json:"reason,omitempty"`
	Created    time.Time    `json:"created"`
	Started    *time.Time   `json:"started,omitempty"`
	Ended      *time.Time   `json:"ended,omitempty"`
	// DurationS is from creation to the end, in whole seconds (0 while
	// the session runs).
	DurationS int64 `json:"duration_s"`
	// Joined lists who joined as a viewer, each name once, in joining order.
	Joined []string `json:"joined"`
	// Control lists the control hand-offs, oldest first.
	Control []ControlChange `json:"control"`
	// Chat is the session's chat, oldest first, and Files its finished
	// file transfers (added 2026-11-23).
	Chat  []ChatLine   `json:"chat,omitempty"`
	Files []FileRecord `json:"files,omitempty"`
	// Recorded: the session's recording is stored (GET
	// /api/v1/sessions/{id}/recording plays it). Added 2026-12 with
	// session recording.
	Recorded bool `json:"recorded,omitempty"`
	// Tool: a support tool's session (Session.Tool), "" for a screen
	// share; Transcript: its terminal transcript is stored (GET
	// PathTranscript). Added 2026-12-05 with support tools.
	Tool       string `json:"tool,omitempty"`
	Transcript bool   `json:"transcript,omitempty"`
}

// ControlChange is one change of the control holder of a session.
type ControlChange struct {
	Time time.Time `json:"time"`
	Op   string    `json:"op"`   // request, grant, release, take, left
	By   string    `json:"by"`   // who asked for the change
	From string    `json:"from"` // user that held control ("" for nobody)
	To   string    `json:"to"`   // user that holds it now ("" for nobody)
}

// ServerInfo is what an installer needs to reach and pin the server; it
// comes with GET /api/v1/enrollment-tokens.
type ServerInfo struct {
	URL         string `json:"url"`
	Fingerprint string `json:"fingerprint,omitempty"` // SHA-256 hex; empty without TLS
}
