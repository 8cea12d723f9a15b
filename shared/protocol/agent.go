// Package protocol holds the wire types shared by the agent, the server and
// the console. Changes are additive (new fields carry omitempty); bump
// Version with a dated comment when the agent API gains something an older
// peer must know about.
package protocol

import (
	"encoding/json"
	"time"
)

// Version is the agent protocol version.
//
//	1 (2026-11-23): enrollment, long-poll with actions, results and policy.
//	2 (2026-11-23): screen-share sessions: screenshare.start, signalling,
//	  data channels (session.go) and the screen wire format (shared/screen).
//	3 (2026-11-23): connection codes (POST /api/agent/v1/code), session
//	  modes and mode changes, chat and file channels, clipboard; screen
//	  copies, bundles and half-resolution tiles; lazy acks.
//	4 (2026-12-04): end-user notifications (notify.go): notifications in
//	  the poll answer, their events and the agent's time zone in the poll.
const Version = 4

// Agent API paths.
const (
	PathEnroll = "/api/agent/v1/enroll"
	PathPoll   = "/api/agent/v1/poll"
	// PathRelease serves an agent release's binary to enrolled agents.
	PathRelease = "/api/agent/v1/releases/{version}/{os}/{arch}"
)

// EnrollRequest is sent once, with the enrollment token, to obtain an
// agent identity.
type EnrollRequest struct {
	Token     string    `json:"token"`
	Inventory Inventory `json:"inventory"`
	Protocol  int       `json:"protocol"`
	// Nonce is random, made once by the agent and kept until it holds an
	// identity. Retrying with the same token and nonce (the first answer
	// was lost) returns the same agent id with a fresh secret instead of
	// enrolling a second endpoint. Added 2026-11-23; optional.
	Nonce string `json:"nonce,omitempty"`
}

// EnrollResponse carries the identity the agent keeps for the rest of its
// life. The secret is shown exactly once; the server keeps only its hash.
type EnrollResponse struct {
	AgentID string `json:"agent_id"`
	Secret  string `json:"secret"`
}

// Inventory describes an endpoint. It is sent on enrollment and on any poll
// where it changed since the last one the server acknowledged.
type Inventory struct {
	Hostname     string   `json:"hostname"`
	IPs          []string `json:"ips"`
	OS           string   `json:"os"`
	OSVersion    string   `json:"os_version,omitempty"`
	Arch         string   `json:"arch"`
	AgentVersion string   `json:"agent_version"`
	Users        []string `json:"users"`
	// TimeZone is the endpoint's IANA zone ("Europe/Berlin") when known;
	// UTCOffsetS its offset east of UTC now, for when it is not.
	TimeZone   string `json:"time_zone,omitempty"`
	UTCOffsetS int    `json:"utc_offset_s,omitempty"`
	// Tools are the support tools the agent opens (Tools of its build);
	// an agent from before them names none.
	Tools []string `json:"tools,omitempty"`
}

// PollRequest is the body of POST /api/agent/v1/poll (bearer: agent secret).
// LegacyHold is the longest hold for an agent that does not say how long
// it waits (its requests time out after 70 s).
const LegacyHold = 25 * time.Second

type PollRequest struct {
	Protocol int `json:"protocol"`
	// Inventory is set only when it changed.
	Inventory *Inventory `json:"inventory,omitempty"`
	// Acks lists ids of actions the agent received and has started; the
	// server stops offering them.
	Acks []string `json:"acks,omitempty"`
	// Results reports finished actions. A result also acknowledges.
	Results []ActionResult `json:"results,omitempty"`
	// PolicyVersion is the version of the policy document the agent holds.
	PolicyVersion int64 `json:"policy_version"`
	// Wait lets the server hold the request when nothing is pending. The
	// agent sends false right after finishing actions so that results land
	// quickly without a hold.
	Wait bool `json:"wait"`
	// HoldMS is the longest the agent waits for a held answer: the server
	// holds up to the lesser of it and its own limit. 0 (agents before it):
	// at most LegacyHold.
	HoldMS int64 `json:"hold_ms,omitempty"`
	// Update reports a step of a self-update, once.
	Update *UpdateReport `json:"update,omitempty"`
	// NotificationEvents are end-user notification events not yet
	// answered by a poll; the agent drops them when this poll is.
	NotificationEvents []NotificationEvent `json:"notification_events,omitempty"`
}

// AgentUpdate offers the agent a release to update to: the file's digest,
// size and the release key's signature over them (shared/release).
type AgentUpdate struct {
	Version   string `json:"version"`
	URL       string `json:"url"` // a path on the server, PathRelease filled
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	Signature string `json:"signature"`
}

// UpdatePhase is a step of a self-update.
type UpdatePhase string

const (
	UpdateDownloaded UpdatePhase = "downloaded" // fetched and verified
	UpdateInstalled  UpdatePhase = "installed"  // swapped in; on trial
	UpdateConfirmed  UpdatePhase = "confirmed"  // the new version polled: done
	UpdateRolledBack UpdatePhase = "rolled_back"
	UpdateFailed     UpdatePhase = "failed" // refused or broken before the swap
)

// UpdateReport is what the agent says of a self-update step.
type UpdateReport struct {
	Phase UpdatePhase `json:"phase"`
	From  string      `json:"from"`
	To    string      `json:"to"`
	Error string      `json:"error,omitempty"`
}

// PollResponse answers a poll.
type PollResponse struct {
	Actions []Action `json:"actions,omitempty"`
	// Policy is present when the server's version differs from the agent's.
	Policy *Policy `json:"policy,omitempty"`
	// NextPollMS advises how soon to poll again; 0 means at once.
	NextPollMS int64 `json:"next_poll_ms,omitempty"`
	// Update offers a release the agent's group policy targets.
	Update *AgentUpdate `json:"update,omitempty"`
	// Notifications are due on this endpoint and not yet reported
	// delivered; the agent keeps each id and version once.
	Notifications []AgentNotification `json:"notifications,omitempty"`
	// WithdrawnNotifications are ids of notifications the agent was
	// handed and that were cancelled since: it takes them down and says
	// so with a "cancelled" event.
	WithdrawnNotifications []string `json:"withdrawn_notifications,omitempty"`
}

// Action is a unit of work for an agent, run at most once per id.
type Action struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
	Created time.Time       `json:"created"`
}

// Action types.
const (
	// ActionEcho returns its payload; with {"delay_ms": N} it waits first.
	// It exists for diagnostics and tests of the delivery path.
	ActionEcho = "echo"
	// ActionInventoryRefresh makes the agent resend its full inventory.
	ActionInventoryRefresh = "inventory.refresh"
)

// EchoPayload is the payload of ActionEcho.
type EchoPayload struct {
	Message string `json:"message,omitempty"`
	DelayMS int64  `json:"delay_ms,omitempty"`
}

// ActionResult reports how an action ended.
type ActionResult struct {
	ID     string          `json:"id"`
	OK     bool            `json:"ok"`
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// Policy is the document an agent enforces, versioned by the server.
type Policy struct {
	Version int64           `json:"version"`
	Doc     json.RawMessage `json:"doc"`
}

// Error is the body of every non-2xx JSON answer.
type Error struct {
	Error string `json:"error"`
	// Code is a stable machine-readable reason, e.g. "bad_token".
	Code string `json:"code,omitempty"`
}

// Error codes the agent acts on.
const (
	CodeBadToken      = "bad_token"      // enrollment token unknown, revoked or expired
	CodeBadSecret     = "bad_secret"     // agent secret unknown or revoked
	CodeBadRequest    = "bad_request"    // malformed body
	CodeUnauthorized  = "unauthorized"   // no or bad credentials
	CodeForbidden     = "forbidden"      // authenticated, lacks permission
	CodeNotFound      = "not_found"      // no such object (or not visible)
	CodeThrottled     = "throttled"      // too many attempts
	CodeConflict      = "conflict"       // already exists
	CodeInternal      = "internal"       // server fault
	CodeUnavailable   = "unavailable"    // shutting down or store down
	CodeCSRF          = "csrf"           // missing or wrong CSRF token
	CodeUnsupported   = "unsupported"    // unknown action type etc.
	CodeProtocolError = "protocol_error" // agent protocol mismatch
	// Screen sharing (protocol 2, additive).
	CodeEndpointOffline = "endpoint_offline" // a session cannot start: the endpoint is not polling
	CodeSessionEnded    = "session_ended"    // the session has ended; nothing more can join or change it
)
