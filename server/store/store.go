// Package store defines the server's persistent state behind one interface,
// implemented for SQLite and PostgreSQL by package sqlstore and exercised by
// one suite in package storetest.
package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/tetherdesk/tether/shared/protocol"
)

// Sentinel errors; implementations wrap them so errors.Is works.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
)

// DefaultGroup is the computer group every new store has.
const DefaultGroup = "Default"

// User is a console or automation account.
type User struct {
	ID           string
	Name         string
	PasswordHash string // argon2id, PHC string format
	Created      time.Time
	Disabled     bool
	// DisplayName is how people see the account ("" shows Name).
	DisplayName string
}

// RoleAssignment grants a role to a user over one computer group, or over
// all groups when GroupID is empty.
type RoleAssignment struct {
	UserID  string
	Role    string
	GroupID string
}

// Role is a named bundle of permission names.
type Role struct {
	Name        string
	Permissions []string
}

// Group is a computer group with its membership rules.
type Group struct {
	ID    string
	Name  string
	Rules GroupRules
}

// GroupRules decide which endpoints join a group besides those enrolled
// into it and those added by hand. Match is "any" (default) or "all".
type GroupRules struct {
	Match string      `json:"match,omitempty"`
	Rules []GroupRule `json:"rules,omitempty"`
}

// GroupRule is one condition; Kind names what it tests (the app defines
// the kinds: hostname glob, IP CIDR, OS, enrollment token).
type GroupRule struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// WebSession is a signed-in browser session. ID is the SHA-256 (hex) of the
// cookie value; the value itself is never stored.
type WebSession struct {
	ID        string
	UserID    string
	CSRFToken string
	Created   time.Time
	Expires   time.Time
}

// APIToken is a bearer token for automation; Hash is SHA-256 hex of the token.
type APIToken struct {
	ID      string
	UserID  string
	Name    string
	Hash    string
	Created time.Time
}

// EnrollmentToken lets an installer enroll agents into a group.
type EnrollmentToken struct {
	ID        string
	Hash      string // SHA-256 hex of the token
	GroupID   string
	CreatedBy string
	Created   time.Time
	Expires   *time.Time
	Revoked   *time.Time
}

// Agent is an enrolled endpoint.
type Agent struct {
	ID           string
	GroupID      string
	SecretHash   string // SHA-256 hex of the 256-bit secret
	Hostname     string
	IPs          []string
	OS           string
	OSVersion    string
	Arch         string
	AgentVersion string
	Users        []string
	Enrolled     time.Time
	LastSeen     time.Time
	Revoked      *time.Time
	// EnrollKey identifies the enrollment attempt (a hash of the token id
	// and the agent's nonce); "" when the agent sent no nonce.
	EnrollKey string
	// EnrollTokenID is the enrollment token used ("" for agents enrolled
	// before it was recorded).
	EnrollTokenID string
	// RuleGroups and ManualGroups are the groups the agent belongs to by
	// membership rule and by hand, besides GroupID (its enrollment group).
	RuleGroups   []string
	ManualGroups []string
	// TimeZone is the endpoint's time zone as reported: an IANA name, or
	// a fixed offset east of UTC in seconds ("+3600") when it has none.
	TimeZone string
	// Tools are the support tools the agent says it opens.
	Tools []string
}

// Groups lists every group the agent belongs to: GroupID first, then the
// others in order, without repeats.
func (a Agent) Groups() []string {
	out := []string{a.GroupID}
	var more []string
	for _, g := range append(append([]string{}, a.RuleGroups...), a.ManualGroups...) {
		if g != a.GroupID && !slices.Contains(more, g) {
			more = append(more, g)
		}
	}
	slices.Sort(more)
	return append(out, more...)
}

// AgentFilter selects agents for search.
type AgentFilter struct {
	// Query matches hostname case-insensitively as a substring, or any IP
	// address as a prefix. Empty matches all.
	Query string
	// GroupIDs restricts to agents belonging to any of these groups (by
	// enrollment, rule or hand); nil means all groups, an empty non-nil
	// slice means none.
	GroupIDs []string
	Limit    int // 0 means 200
}

// Action is a unit of work queued for an agent.
type Action struct {
	ID        string
	AgentID   string
	Type      string
	Payload   json.RawMessage
	State     string // protocol.Action* states
	Output    json.RawMessage
	Error     string
	CreatedBy string
	Created   time.Time
	Delivered *time.Time
	Completed *time.Time
}

// ActionResult finishes an action.
type ActionResult struct {
	ID     string
	OK     bool
	Output json.RawMessage
	Error  string
}

// Policy is a versioned policy document for a group ("" = global default).
type Policy struct {
	GroupID string
	Version int64
	Doc     json.RawMessage
	Updated time.Time
}

// AuditRecord is one entry of the hash-chained audit log. Seq, PrevHash and
// Hash are assigned by AppendAudit; Hash is AuditHash under the store's
// audit key.
type AuditRecord struct {
	Seq        int64
	Time       time.Time
	Actor      string
	Type       protocol.AuditType
	EndpointID string
	SessionID  string
	Details    json.RawMessage
	PrevHash   string
	Hash       string
}

// AuditFilter selects audit records, newest first.
type AuditFilter struct {
	Type       string // exact, or prefix when it ends with "*"
	Actor      string
	EndpointID string
	Since      time.Time
	Until      time.Time
	// EndpointGroups scopes the records to endpoints: nil means no
	// restriction; non-nil (even empty) keeps only records whose EndpointID
	// is an agent belonging to one of these groups (by enrollment, rule or
	// hand), so records about no endpoint are left out.
	EndpointGroups []string
	Limit          int // 0 means 500
}

// AuditCheck is the outcome of verifying the audit chain.
type AuditCheck struct {
	// Records is how many records were checked.
	Records int64
	// FirstBad is the seq of the first record that is broken or missing,
	// 0 when the chain is intact. A problem with the tail (anchor missing,
	// forged or ahead of the records) names the seq after the last record.
	FirstBad int64
	// Problem says what is wrong at FirstBad: "hash mismatch", "missing
	// record 17", "tail truncated: anchor says 120, last record is 118",
	// "anchor missing", ...; "" when intact.
	Problem string
}

// Intact reports whether the check found nothing wrong.
func (c AuditCheck) Intact() bool { return c.Problem == "" }

// String is "intact: N records" or "broken at seq 17: hash mismatch".
func (c AuditCheck) String() string {
	if c.Intact() {
		return fmt.Sprintf("intact: %d records", c.Records)
	}
	return fmt.Sprintf("broken at seq %d: %s", c.FirstBad, c.Problem)
}

// AuditRekeyed is the type of the record a store appends when it re-keys
// a chain written before the chain was keyed (plain SHA-256).
const AuditRekeyed = protocol.AuditRekeyed

// TestAuditKey is the audit key of a store opened without one. It is
// public, so a chain under it proves nothing: only tests use it.
const TestAuditKey = "tether audit chain test key: public, not a secret"

// ScreenSession is a screen-share session (protocol.Session on the wire).
// State changes go through TransitionSession, a compare-and-set on the
// current state, so two concurrent transitions cannot both win.
type ScreenSession struct {
	ID             string
	AgentID        string
	TechnicianID   string
	TechnicianName string
	// Attended is what the agent was told: false when the technician asked
	// for unattended or the policy does not require acceptance.
	Attended bool
	// AcceptTimeoutS is the acceptance timeout the agent was given.
	AcceptTimeoutS int
	Mode           protocol.Mode
	State          protocol.SessionState
	Reason         protocol.Reason
	AgentTokenHash string // SHA-256 hex of the session's agent token
	Created        time.Time
	StateSince     time.Time // when the current state was entered
	Started        *time.Time
	Ended          *time.Time
	ControlHolder  string // viewer id, "" for nobody
	// Record: the endpoint's policy recorded sessions when this one was
	// created, so its helper records it and uploads the recording.
	Record bool
	// Tool is the support tool the session was opened for
	// (protocol.Tools), "" for a screen share.
	Tool string
	// Write: a files session may change files (its technician held
	// tools.files.write over the endpoint's groups when it opened).
	Write bool
}

// SessionTransition moves a session from one state to another.
type SessionTransition struct {
	ID     string
	From   protocol.SessionState // the state the caller saw; the change applies only if it still holds
	To     protocol.SessionState
	Reason protocol.Reason // for To == ended
	Mode   protocol.Mode   // optional: a new mode (the user picked another allowed one)
	At     time.Time
}

// SessionFilter selects sessions, newest first.
type SessionFilter struct {
	ActiveOnly   bool   // state is not ended
	TechnicianID string // "" for any
	// GroupIDs restricts to endpoints belonging to any of these groups;
	// nil means all.
	GroupIDs []string
	Limit    int // 0 means 500
}

// SessionViewer records one viewer connection to a session, for control
// hand-offs and the audit.
type SessionViewer struct {
	SessionID string
	ViewerID  string
	UserID    string
	UserName  string
	Joined    time.Time
	Left      *time.Time
}

// ConnectionCode is a broker session's code (protocol.ConnectionCode on
// the wire). State is one of the protocol.ConnCode* states except
// expired, which is computed from Expires.
type ConnectionCode struct {
	ID             string
	CodeHash       string
	TechnicianID   string
	TechnicianName string
	State          string
	Created        time.Time
	Expires        time.Time
	AgentID        string
	SessionID      string
	Used           *time.Time
}

// Store is all persistent server state: one interface per domain, so a
// part of the server can take only the one it uses. Every method is safe
// for concurrent use. IDs are generated by the caller when the struct has
// an ID field set, otherwise by the store (random, URL-safe).
type Store interface {
	Ping(ctx context.Context) error
	Close() error

	AccountStore
	GroupStore
	CredentialStore
	EnrollmentStore
	AgentStore
	ActionStore
	PolicyStore
	SessionStore
	CodeStore
	NotificationStore
	AuditStore
	LimitStore
	LockStore
	RecordingStore
	TranscriptStore
}

// LockStore serializes work across server nodes.
type LockStore interface {
	// Exclusive runs fn while no other caller, on any node sharing the
	// store, runs fn under the same name.
	Exclusive(ctx context.Context, name string, fn func() error) error
}

// Limit is a sliding-window rate limit: at most Max events per Window
// under Key.
type Limit struct {
	Key    string
	Max    int
	Window time.Duration
}

// LimitStore counts rate-limited events (wrong connection codes, sign-in
// and enrollment attempts) for all server nodes at once: a limit counted per node would let N nodes admit
// N times as many.
type LimitStore interface {
	// ReserveLimits records an event at now under every limit's key, in
	// one transaction, unless a limit already holds Max events within its
	// Window: then nothing is recorded, and full is the index of the first
	// such limit and retry how long until it admits one more. full is -1
	// when the event was recorded. Concurrent calls, from any node, are
	// serialized per key.
	ReserveLimits(ctx context.Context, limits []Limit, now time.Time) (full int, retry time.Duration, err error)
	// CheckLimits is ReserveLimits without recording: the first full
	// limit (-1: none) and how long until it admits one more.
	CheckLimits(ctx context.Context, limits []Limit, now time.Time) (full int, retry time.Duration, err error)
	// AddLimitEvent records an event at now under key whatever the count
	// (a failure that already happened).
	AddLimitEvent(ctx context.Context, key string, now time.Time) error
	// CountLimit is how many events key holds after since.
	CountLimit(ctx context.Context, key string, since time.Time) (int, error)
	// ClearLimits removes every event of key, or with prefix set of every
	// key that starts with key.
	ClearLimits(ctx context.Context, key string, prefix bool) error
	// RefundLimits removes the newest event of each key: an admitted
	// attempt that turned out right, or could not be judged.
	RefundLimits(ctx context.Context, keys []string) error
	// PruneLimits deletes the events before before and reports how many.
	PruneLimits(ctx context.Context, before time.Time) (int64, error)
}

// AccountStore holds users, their role assignments and the roles.
type AccountStore interface {
	CreateUser(ctx context.Context, u User) (User, error) // ErrConflict on duplicate name
	UserByID(ctx context.Context, id string) (User, error)
	UserByName(ctx context.Context, name string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	CountUsers(ctx context.Context) (int, error)
	SetUserPassword(ctx context.Context, id, hash string) error
	// UpdateUser changes DisplayName and Disabled of user u.ID.
	UpdateUser(ctx context.Context, u User) error
	// DeleteUser removes the user with its role assignments, sign-ins and
	// API tokens; ErrNotFound for an unknown id.
	DeleteUser(ctx context.Context, id string) error
	// DeleteUserWebSessions signs the user out everywhere but in the web
	// session with id keep ("" for none).
	DeleteUserWebSessions(ctx context.Context, userID, keep string) error
	// SetRoles replaces the user's role assignments.
	SetRoles(ctx context.Context, userID string, roles []RoleAssignment) error
	RolesOf(ctx context.Context, userID string) ([]RoleAssignment, error)
	// RoleAssignments returns every user's assignments, by user id.
	RoleAssignments(ctx context.Context) (map[string][]RoleAssignment, error)
	// UpsertRole creates or replaces a role definition.
	UpsertRole(ctx context.Context, r Role) error
	Role(ctx context.Context, name string) (Role, error)
	ListRoles(ctx context.Context) ([]Role, error)
	// DeleteRole removes a role; ErrConflict while it is assigned to
	// anyone, ErrNotFound when there is none.
	DeleteRole(ctx context.Context, name string) error
	// RoleAssignmentCounts returns how many assignments each role has.
	RoleAssignmentCounts(ctx context.Context) (map[string]int, error)
}

// GroupStore holds computer groups. The Default group always exists.
type GroupStore interface {
	CreateGroup(ctx context.Context, name string) (Group, error) // ErrConflict on duplicate
	GroupByName(ctx context.Context, name string) (Group, error)
	GroupByID(ctx context.Context, id string) (Group, error)
	ListGroups(ctx context.Context) ([]Group, error)
	// UpdateGroup changes the name and rules of group g.ID.
	UpdateGroup(ctx context.Context, g Group) error
	// DeleteGroup removes a group with its policy and its rule and manual
	// memberships. ErrConflict for the Default group, and while endpoints
	// were enrolled into it, an unrevoked enrollment token or a role
	// assignment uses it (the message says which).
	DeleteGroup(ctx context.Context, id string) error
}

// CredentialStore holds web sign-ins and API tokens.
type CredentialStore interface {
	CreateWebSession(ctx context.Context, s WebSession) error
	WebSession(ctx context.Context, id string) (WebSession, error) // ErrNotFound when expired too
	DeleteWebSession(ctx context.Context, id string) error
	DeleteExpiredWebSessions(ctx context.Context, now time.Time) (int, error)
	CreateAPIToken(ctx context.Context, t APIToken) (APIToken, error)
	APITokenByHash(ctx context.Context, hash string) (APIToken, error)
	ListAPITokens(ctx context.Context, userID string) ([]APIToken, error)
	APITokenByID(ctx context.Context, id string) (APIToken, error)
	DeleteAPIToken(ctx context.Context, id string) error
	// DeleteUserAPITokens revokes every API token of the user.
	DeleteUserAPITokens(ctx context.Context, userID string) error
}

// EnrollmentStore holds enrollment tokens.
type EnrollmentStore interface {
	CreateEnrollmentToken(ctx context.Context, t EnrollmentToken) (EnrollmentToken, error)
	EnrollmentTokenByHash(ctx context.Context, hash string) (EnrollmentToken, error)
	ListEnrollmentTokens(ctx context.Context) ([]EnrollmentToken, error)
	RevokeEnrollmentToken(ctx context.Context, id string, at time.Time) error
}

// AgentStore holds enrolled agents and their memberships.
type AgentStore interface {
	CreateAgent(ctx context.Context, a Agent) (Agent, error)
	AgentByID(ctx context.Context, id string) (Agent, error)
	AgentBySecretHash(ctx context.Context, hash string) (Agent, error)
	// UpdateInventory replaces the inventory fields (hostname ... users).
	UpdateInventory(ctx context.Context, a Agent) error
	// TouchAgents sets last_seen for many agents in one transaction; the
	// server batches presence this way instead of a write per poll.
	TouchAgents(ctx context.Context, seen map[string]time.Time) error
	RevokeAgent(ctx context.Context, id string, at time.Time) error
	// ReEnrollAgent replaces the secret hash of the unrevoked agent with
	// this non-empty enroll key, enrolled at or after notBefore, and returns
	// it; ErrNotFound when there is none. It serves an agent whose
	// enrollment answer was lost.
	ReEnrollAgent(ctx context.Context, enrollKey, secretHash string, notBefore time.Time) (Agent, error)
	SearchAgents(ctx context.Context, f AgentFilter) ([]Agent, error)
	// ListAgents pages through unrevoked agents ordered by id, those after
	// afterID, at most limit.
	ListAgents(ctx context.Context, afterID string, limit int) ([]Agent, error)
	// SetAgentRuleGroups and SetAgentManualGroups replace one kind of
	// membership. Ids of groups that do not exist are dropped from rule
	// memberships and are ErrNotFound for manual ones.
	SetAgentRuleGroups(ctx context.Context, id string, groups []string) error
	SetAgentManualGroups(ctx context.Context, id string, groups []string) error
}

// ActionStore holds the actions queued for agents.
type ActionStore interface {
	CreateAction(ctx context.Context, a Action) (Action, error) // State "queued"
	ActionByID(ctx context.Context, id string) (Action, error)
	// PendingActions returns the agent's actions in state queued or
	// delivered (not yet acknowledged), oldest first, and marks the queued
	// ones delivered at now.
	PendingActions(ctx context.Context, agentID string, now time.Time) ([]Action, error)
	// AckActions moves the agent's delivered/queued actions with these ids
	// to acked. Ids of other agents are ignored.
	AckActions(ctx context.Context, agentID string, ids []string) error
	// CompleteActions records results for the agent's actions (done or
	// failed). Ids of other agents, and actions already finished, are
	// ignored, so a repeated result changes nothing.
	CompleteActions(ctx context.Context, agentID string, results []ActionResult, now time.Time) error
}

// PolicyStore holds policy documents.
type PolicyStore interface {
	// Policies. GroupID "" is the global default.
	Policy(ctx context.Context, groupID string) (Policy, error)
	// PutPolicy stores doc and increments the version; returns the new one.
	PutPolicy(ctx context.Context, groupID string, doc json.RawMessage, now time.Time) (Policy, error)
}

// SessionStore holds screen-share sessions and their viewers.
type SessionStore interface {
	// Screen-share sessions. The ID is generated when empty; State must be
	// set by the caller.
	CreateSession(ctx context.Context, ss ScreenSession) (ScreenSession, error)
	SessionByID(ctx context.Context, id string) (ScreenSession, error)
	SessionByAgentTokenHash(ctx context.Context, hash string) (ScreenSession, error)
	// TransitionSession applies t when the session is still in t.From and
	// returns the session after the change; ErrConflict when the state has
	// moved on, ErrNotFound for an unknown id. Entering active sets Started
	// (once); entering ended sets Ended and clears the control holder.
	TransitionSession(ctx context.Context, t SessionTransition) (ScreenSession, error)
	// SetControlHolder changes the holder from from to to (compare-and-set);
	// ErrConflict when the holder is no longer from or the session ended.
	SetControlHolder(ctx context.Context, id, from, to string) (ScreenSession, error)
	ListSessions(ctx context.Context, f SessionFilter) ([]ScreenSession, error)
	// AddSessionViewer records a viewer joining; ErrConflict for a reused viewer id.
	AddSessionViewer(ctx context.Context, v SessionViewer) error
	// SessionViewerLeft sets the viewer's Left time (once).
	SessionViewerLeft(ctx context.Context, sessionID, viewerID string, at time.Time) error
	// SessionViewers lists a session's viewers in joining order; with
	// currentOnly, those that have not left.
	SessionViewers(ctx context.Context, sessionID string, currentOnly bool) ([]SessionViewer, error)
}

// Notification is an end-user notification at its current version. Doc
// is its content (the service layer's JSON); Groups are its target
// computer groups.
type Notification struct {
	ID        string
	Status    string
	Version   int
	Doc       []byte
	Groups    []string
	AuthorID  string // of the current version
	CreatedBy string
	Created   time.Time
	Updated   time.Time
	// The approved version, by whom and when (0 and zero: none).
	ApprovedVersion int
	ApprovedBy      string
	ApprovedAt      *time.Time
	// Reason of the last rejection or cancellation.
	Reason string
	// Expires is when the current version's schedule ends (zero: unknown).
	Expires time.Time
}

// NotificationVersion is one version of a notification and the decision
// taken on it ("" while none: approved, rejected, superseded).
type NotificationVersion struct {
	NotificationID string
	Version        int
	Doc            []byte
	AuthorID       string
	Created        time.Time
	Decision       string
	DecidedBy      string
	DecidedAt      *time.Time
	Reason         string
}

// NotificationFilter selects notifications, newest change first. Groups:
// nil is any; a non-nil list keeps those targeting at least one of them
// (an empty list selects none).
type NotificationFilter struct {
	Status string
	Groups []string
	// ApprovedOnly keeps those with an approved version (whatever their
	// status now); ExpiresAfter, when set, those expiring after it.
	ApprovedOnly bool
	ExpiresAfter time.Time
	Limit        int
}

// NotificationDecision moves a notification's version Version from one of
// the statuses From to To, recording Decision (if any) on that version,
// and, for "approved", the approval. ErrConflict when the notification is
// at another version or status.
type NotificationDecision struct {
	ID       string
	Version  int
	From     []string
	To       string
	Decision string
	By       string
	Reason   string
	At       time.Time
}

// NotificationEvent is one thing an agent reports of a notification:
// delivered, shown, pressed (Value), postponed (Interval seconds, Count),
// dismissed, expired, failed (Error). Seq orders one agent's events.
type NotificationEvent struct {
	NotificationID string
	AgentID        string
	Version        int
	Seq            int64
	Kind           string
	Value          string
	Interval       int64
	Count          int
	Error          string
	User           string
	At             time.Time
}

// NotificationDelivery is one endpoint's state for one notification,
// folded from its events: Status is the last event's kind ("responded"
// for pressed); Response, Postpones and Error what they said.
type NotificationDelivery struct {
	NotificationID string
	AgentID        string
	Version        int
	Status         string
	Response       string
	Postpones      int
	Error          string
	Users          []string
	Delivered      *time.Time
	Shown          *time.Time
	Answered       *time.Time
	Updated        time.Time
	Seq            int64
}

// NotificationStore holds end-user notifications and their versions.
type NotificationStore interface {
	// RecordNotificationEvents folds events into their deliveries, in
	// order; an event whose Seq is not past its delivery's is ignored
	// (already recorded), as is one for an unknown notification.
	RecordNotificationEvents(ctx context.Context, events []NotificationEvent) error
	// NotificationDeliveries lists a notification's deliveries by agent id.
	NotificationDeliveries(ctx context.Context, notificationID string) ([]NotificationDelivery, error)
	// Setting reads an installation setting (ErrNotFound when unset);
	// PutSetting writes one.
	Setting(ctx context.Context, name string) (string, error)
	PutSetting(ctx context.Context, name, value, by string, at time.Time) error

	// CreateNotification stores n (its version 1): ErrConflict on a taken id.
	CreateNotification(ctx context.Context, n Notification) (Notification, error)
	Notification(ctx context.Context, id string) (Notification, error)
	ListNotifications(ctx context.Context, f NotificationFilter) ([]Notification, error)
	// NotificationVersions lists every version, oldest first.
	NotificationVersions(ctx context.Context, id string) ([]NotificationVersion, error)
	// ReviseNotification stores n as a new version (n.Version, one past
	// the stored one) with its doc, groups, author and status, if the
	// stored notification is still at n.Version-1 in one of the statuses
	// from; the previous version, if undecided, becomes "superseded".
	// ErrConflict otherwise.
	ReviseNotification(ctx context.Context, n Notification, from []string) (Notification, error)
	DecideNotification(ctx context.Context, d NotificationDecision) (Notification, error)
}

// Recording is a stored session recording: the facts of the video the
// server keeps as a file of its own (the store holds no video bytes).
type Recording struct {
	SessionID  string
	AgentID    string
	Size       int64
	SHA256     string // hex of the video file
	DurationMS int64
	Width      int
	Height     int
	// Timeline is the recording's protocol.RecordingTimeline as JSON.
	Timeline json.RawMessage
	Created  time.Time
	Expires  time.Time
}

// RecordingStore holds the recordings of screen-share sessions, one per
// session at most.
type RecordingStore interface {
	// PutRecording stores r: ErrConflict when the session has one already,
	// ErrNotFound for an unknown session.
	PutRecording(ctx context.Context, r Recording) error
	// RecordingBySession is the recording of a session, with its timeline.
	RecordingBySession(ctx context.Context, sessionID string) (Recording, error)
	// RecordingsOf returns the recordings of those of sessionIDs that have
	// one, by session id, without their timelines.
	RecordingsOf(ctx context.Context, sessionIDs []string) (map[string]Recording, error)
	// ExpiredRecordings lists at most limit recordings whose Expires is
	// at or before before, soonest expiry first, without their timelines.
	ExpiredRecordings(ctx context.Context, before time.Time, limit int) ([]Recording, error)
	// DeleteRecording removes a session's recording; ErrNotFound when it
	// has none.
	DeleteRecording(ctx context.Context, sessionID string) error
}

// Transcript is a terminal session's kept output.
type Transcript struct {
	SessionID string
	Data      []byte // the start and the end of the output, at most protocol.MaxTranscript
	Size      int64  // len(Data), also when Data is left out
	Total     int64  // bytes the shell wrote in all
	SHA256    string // hex of Data
	Stored    time.Time
}

// TranscriptStore holds terminal transcripts, one per session at most.
type TranscriptStore interface {
	// PutTranscript stores t: ErrConflict when the session has one
	// already, ErrNotFound for an unknown session.
	PutTranscript(ctx context.Context, t Transcript) error
	// TranscriptOf is a session's transcript; withData false leaves Data
	// out. ErrNotFound when it has none.
	TranscriptOf(ctx context.Context, sessionID string, withData bool) (Transcript, error)
}

// CodeStore holds connection codes.
type CodeStore interface {
	// Connection codes. CreateCode: ErrConflict when the hash is taken.
	CreateCode(ctx context.Context, c ConnectionCode) (ConnectionCode, error)
	CodeByID(ctx context.Context, id string) (ConnectionCode, error)
	CodeByHash(ctx context.Context, hash string) (ConnectionCode, error)
	// UpdateCode writes c's hash, state, expiry, agent, session and use
	// time when the code is still in fromState (compare-and-set);
	// ErrConflict when it is not, ErrNotFound for an unknown id.
	UpdateCode(ctx context.Context, c ConnectionCode, fromState string) error
}

// AuditStore is the audit log.
type AuditStore interface {
	// Audit log: append-only, chained by a keyed hash, its newest record
	// anchored. The error results of the checks are failures to read; a
	// broken chain is an AuditCheck that is not Intact.
	AppendAudit(ctx context.Context, r AuditRecord) (AuditRecord, error)
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error)
	// VerifyAudit checks the whole chain and its anchor and reports the
	// first broken or missing record.
	VerifyAudit(ctx context.Context) (AuditCheck, error)
	// VerifyAuditTail checks the newest n records (all of them when there
	// are no more than n) and the anchor: cheap enough for start-up.
	VerifyAuditTail(ctx context.Context, n int) (AuditCheck, error)
}

// AuditHash is the chain hash of a record: HMAC-SHA256 (hex) under key over
// the previous hash and the record's fields, so editing or removing a
// record shows, and nobody without the key can rewrite the chain.
func AuditHash(key []byte, r AuditRecord) string {
	h := hmac.New(sha256.New, key)
	writeAuditFields(h, r)
	return hex.EncodeToString(h.Sum(nil))
}

// LegacyAuditHash is the unkeyed chain hash (plain SHA-256) of stores
// written before the chain was keyed; stores re-key such chains on open.
func LegacyAuditHash(r AuditRecord) string {
	h := sha256.New()
	writeAuditFields(h, r)
	return hex.EncodeToString(h.Sum(nil))
}

// writeAuditFields encodes what the chain hash covers. Free-text fields are
// quoted so that no bytes can move from one field to its neighbour (or into
// Details) without changing the hash.
func writeAuditFields(w io.Writer, r AuditRecord) {
	fmt.Fprintf(w, "%s\n%d\n%s\n%q\n%q\n%q\n%q\n", r.PrevHash, r.Seq, r.Time.UTC().Format(time.RFC3339Nano), r.Actor, r.Type, r.EndpointID, r.SessionID)
	w.Write(r.Details)
}

// AgentLister pages through agents (AgentStore.ListAgents).
type AgentLister interface {
	ListAgents(ctx context.Context, afterID string, limit int) ([]Agent, error)
}

// agentPage is how many agents EachAgent reads at once.
const agentPage = 1000

// EachAgent calls fn for every unrevoked agent, a page at a time, and
// stops at fn's first error.
func EachAgent(ctx context.Context, l AgentLister, fn func(Agent) error) error {
	after := ""
	for {
		as, err := l.ListAgents(ctx, after, agentPage)
		if err != nil {
			return fmt.Errorf("list agents: %w", err)
		}
		for _, a := range as {
			if err := fn(a); err != nil {
				return err
			}
		}
		if len(as) < agentPage {
			return nil
		}
		after = as[len(as)-1].ID
	}
}
