package protocol

import "time"

// PathAgentRecording is where a session helper uploads the session's
// recording (POST, bearer session agent token, also after the session
// ended): a multipart/form-data body with the part "timeline" (a
// RecordingTimeline as JSON) first, then the part "video" (WebM, VP8).
// The server answers 201 with a RecordingInfo, 409 when it already has
// one, 413 over its size limit.
const PathAgentRecording = "/api/agent/v1/sessions/{id}/recording"

// Recording parts and limits.
const (
	RecordingPartTimeline = "timeline"
	RecordingPartVideo    = "video"
	// RecordingTimelineMax bounds the timeline part.
	RecordingTimelineMax = 4 << 20
)

// Recording timeline event kinds.
const (
	RecEventChat    = "chat"    // a chat line (Actor said Text)
	RecEventControl = "control" // control went to Actor ("" for nobody)
	RecEventMode    = "mode"    // the mode became Text
	RecEventFile    = "file"    // a file transfer: Text names it and its direction
	RecEventViewer  = "viewer"  // Actor joined or left (Text "joined", "left")
)

// RecordingEvent is one moment of a recording's timeline.
type RecordingEvent struct {
	// AtMS is the offset from the recording's start, in milliseconds.
	AtMS  int64  `json:"at_ms"`
	Kind  string `json:"kind"`
	Actor string `json:"actor,omitempty"`
	Text  string `json:"text,omitempty"`
}

// RecordingTimeline is the sidecar the helper uploads with a recording.
type RecordingTimeline struct {
	// Started is the endpoint's clock when the first frame was recorded.
	Started    time.Time        `json:"started"`
	DurationMS int64            `json:"duration_ms"`
	Width      int              `json:"width"`
	Height     int              `json:"height"`
	Events     []RecordingEvent `json:"events"`
}

// RecordingInfo describes a stored recording: the upload's answer, and
// GET /api/v1/sessions/{id}/recording/timeline (with Events).
type RecordingInfo struct {
	SessionID  string    `json:"session_id"`
	Size       int64     `json:"size"`
	SHA256     string    `json:"sha256"`
	DurationMS int64     `json:"duration_ms"`
	Width      int       `json:"width"`
	Height     int       `json:"height"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires"`
	// Events is the timeline (only on the timeline route).
	Events []RecordingEvent `json:"events,omitempty"`
}
