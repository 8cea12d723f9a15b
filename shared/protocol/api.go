package protocol

import (
	"encoding/json"
	"time"
)

// Console/automation API paths (prefix /api/v1). Cookie-authenticated writes
// need the X-CSRF-Token header; bearer API tokens do not.
const (
	HeaderCSRF    = "X-CSRF-Token"
	SessionCookie = "tether_session"
)

// LoginRequest is the body of POST /api/v1/login.
type LoginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// Me describes the signed-in user: GET /api/v1/me and the login answer.
type Me struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Roles       []string `json:"roles"`
	Permissions []string `json:"permissions"`
	// CSRFToken must be echoed in X-CSRF-Token on cookie-authenticated writes.
	CSRFToken string `json:"csrf_token,omitempty"`
}

// Endpoint is an enrolled agent as the console sees it.
type Endpoint struct {
	ID           string    `json:"id"`
	Hostname     string    `json:"hostname"`
	IPs          []string  `json:"ips"`
	OS           string    `json:"os"`
	OSVersion    string    `json:"os_version,omitempty"`
	Arch         string    `json:"arch"`
	AgentVersion string    `json:"agent_version"`
	Users        []string  `json:"users"`
	Group        string    `json:"group"`
	Online       bool      `json:"online"`
	LastSeen     time.Time `json:"last_seen"`
	Enrolled     time.Time `json:"enrolled"`
	// Tools are the support tools its agent offers (Inventory.Tools).
	Tools []string `json:"tools,omitempty"`
	// Groups lists every group the endpoint belongs to and why, and
	// ScreenShare what its policy allows; both only on GET
	// /api/v1/endpoints/{id} (added 2026-11).
	Groups      []Membership         `json:"groups,omitempty"`
	ScreenShare *EndpointScreenShare `json:"screenshare,omitempty"`
}

// EndpointList answers GET /api/v1/endpoints?q=TEXT.
type EndpointList struct {
	Endpoints []Endpoint `json:"endpoints"`
}

// QueueActionRequest is the body of POST /api/v1/endpoints/{id}/actions.
type QueueActionRequest struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Action states.
const (
	ActionQueued    = "queued"    // waiting for the agent
	ActionDelivered = "delivered" // handed to the agent in a poll answer
	ActionAcked     = "acked"     // the agent started it
	ActionDone      = "done"      // finished, OK
	ActionFailed    = "failed"    // finished with an error
)

// ActionStatus answers GET /api/v1/actions/{id} and the queue call.
type ActionStatus struct {
	ID         string          `json:"id"`
	EndpointID string          `json:"endpoint_id"`
	Type       string          `json:"type"`
	Payload    json.RawMessage `json:"payload,omitempty"`
	State      string          `json:"state"`
	Output     json.RawMessage `json:"output,omitempty"`
	Error      string          `json:"error,omitempty"`
	CreatedBy  string          `json:"created_by"`
	Created    time.Time       `json:"created"`
	Delivered  *time.Time      `json:"delivered,omitempty"`
	Completed  *time.Time      `json:"completed,omitempty"`
}

// CreateTokenRequest is the body of POST /api/v1/enrollment-tokens.
type CreateTokenRequest struct {
	Group string `json:"group"`
	// TTLHours of 0 means no expiry.
	TTLHours int `json:"ttl_hours,omitempty"`
}

// Rollout is how far a targeted agent release has gone (GET
// /api/v1/agent-updates): of the endpoints whose policy targets it, those
// the rollout covers and, of those, the ones that run it.
type Rollout struct {
	Version   string `json:"version"`
	Endpoints int    `json:"endpoints"`
	Covered   int    `json:"covered"`
	Updated   int    `json:"updated"`
}

// Installer formats of POST /api/v1/enrollment-tokens/{id}/installer.
const (
	InstallerDeb = "deb" // Debian, Ubuntu
	InstallerRPM = "rpm" // RHEL, Fedora, SUSE
	InstallerMSI = "msi" // Windows
)

// InstallerRequest asks for an agent installer that enrolls with the
// token. The server keeps only a hash of each token, so the request
// carries the token itself, which the console has from when it was made.
type InstallerRequest struct {
	Format string `json:"format"`
	Token  string `json:"token"`
}

// EnrollmentToken describes a token; Token is set only when created.
type EnrollmentToken struct {
	ID      string     `json:"id"`
	Group   string     `json:"group"`
	Token   string     `json:"token,omitempty"`
	Created time.Time  `json:"created"`
	Expires *time.Time `json:"expires,omitempty"`
	Revoked *time.Time `json:"revoked,omitempty"`
	// InstallCommand is a ready `tether-agent install` line with the
	// server's URL, the token and the certificate fingerprint; set only
	// when created (added 2025-06 for the console's settings).
	InstallCommand string `json:"install_command,omitempty"`
	// PowerShellCommand is the same for Windows: it downloads nothing, it
	// runs an installed tether-agent.exe (set only when created).
	PowerShellCommand string `json:"powershell_command,omitempty"`
}

// CreateUserRequest is the body of POST /api/v1/users.
type CreateUserRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	// Roles as "Role Name" (all groups) or "Role Name@Group" (one group).
	Roles []string `json:"roles"`
}

// User as listed by GET /api/v1/users.
type User struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Roles   []string  `json:"roles"`
	Created time.Time `json:"created"`
	// DisplayName and Disabled added 2026-11 (Settings > Users).
	DisplayName string `json:"display_name,omitempty"`
	Disabled    bool   `json:"disabled"`
}

// CreateAPITokenRequest is the body of POST /api/v1/api-tokens.
type CreateAPITokenRequest struct {
	Name string `json:"name"`
}

// APIToken is a bearer token for automation; Token is set only when created.
type APIToken struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Token   string    `json:"token,omitempty"`
	Created time.Time `json:"created"`
}

// Group is a computer group. Match, Rules and Members added 2026-11.
type Group struct {
	ID    string      `json:"id"`
	Name  string      `json:"name"`
	Match string      `json:"match,omitempty"`
	Rules []GroupRule `json:"rules,omitempty"`
	// Members counts the endpoints in the group (to holders of
	// groups.manage).
	Members *int `json:"members,omitempty"`
}

// AuditRecord is one entry of the append-only audit log.
type AuditRecord struct {
	Seq        int64           `json:"seq"`
	Time       time.Time       `json:"time"`
	Actor      string          `json:"actor"`
	Type       AuditType       `json:"type"`
	EndpointID string          `json:"endpoint_id,omitempty"`
	SessionID  string          `json:"session_id,omitempty"`
	Details    json.RawMessage `json:"details,omitempty"`
	PrevHash   string          `json:"prev_hash"`
	Hash       string          `json:"hash"`
}
