package protocol

import "time"

// End-user notifications: what the console composes and the server keeps
// (NotificationSpec, NotificationInfo), what an agent is handed on a poll
// (AgentNotification) and what it reports back (NotificationEvent).

// Severities of a notification.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Audiences: the active console user only, or every logged-in user.
const (
	AudienceConsole = "console"
	AudienceAll     = "all"
)

// Notification statuses. Draft, pending_approval, rejected, approved and
// cancelled are kept; scheduled, delivering, completed and expired are
// what an approved notification is, by its schedule and its deliveries.
const (
	NotifyDraft           = "draft"
	NotifyPendingApproval = "pending_approval"
	NotifyRejected        = "rejected"
	NotifyApproved        = "approved"
	NotifyScheduled       = "scheduled"
	NotifyDelivering      = "delivering"
	NotifyCompleted       = "completed"
	NotifyExpired         = "expired"
	NotifyCancelled       = "cancelled"
)

// Notification event kinds an agent reports.
const (
	NotifyEventDelivered = "delivered"
	NotifyEventShown     = "shown"
	NotifyEventPressed   = "pressed"
	NotifyEventPostponed = "postponed"
	NotifyEventDismissed = "dismissed"
	NotifyEventExpired   = "expired"
	NotifyEventFailed    = "failed"
	// NotifyEventCancelled acknowledges a withdrawal: the notification
	// was cancelled and is gone from the endpoint's screen.
	NotifyEventCancelled = "cancelled"
)

// NotificationButton is a button the end user may press; Value is what
// the report collects.
type NotificationButton struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// NotificationDeferral lets the end user postpone up to MaxPostpones
// times, each by one of IntervalsS (seconds), until Deadline; after it
// the notification shows without a postpone choice.
type NotificationDeferral struct {
	MaxPostpones int        `json:"max_postpones"`
	IntervalsS   []int64    `json:"intervals_s"`
	Deadline     *time.Time `json:"deadline,omitempty"`
}

// NotificationContent is what the end user sees. Message is plain text;
// http(s) links in it are shown as links, nothing else is interpreted.
type NotificationContent struct {
	Title    string                `json:"title"`
	Message  string                `json:"message"`
	Severity string                `json:"severity"`
	Buttons  []NotificationButton  `json:"buttons,omitempty"`
	Deferral *NotificationDeferral `json:"deferral,omitempty"`
	Audience string                `json:"audience"`
}

// NotificationSchedule says when a notification shows. Start is a time of
// day on a date, "2006-01-02T15:04", in UTC or, with Local, on each
// endpoint's own clock; empty is at once (on approval). Expires ends it
// everywhere.
type NotificationSchedule struct {
	Start   string    `json:"start,omitempty"`
	Local   bool      `json:"local,omitempty"`
	Expires time.Time `json:"expires"`
}

// NotificationTargets selects endpoints: members of any of Groups, with
// one of OS (when set) and a hostname matching the glob Hostname (when set).
type NotificationTargets struct {
	Groups   []string `json:"groups"`
	OS       []string `json:"os,omitempty"`
	Hostname string   `json:"hostname,omitempty"`
}

// NotificationSpec is the body that creates or changes a notification.
type NotificationSpec struct {
	NotificationContent
	Schedule NotificationSchedule `json:"schedule"`
	Targets  NotificationTargets  `json:"targets"`
	// Draft keeps it from the approval queue until submitted.
	Draft bool `json:"draft,omitempty"`
	// Version is, on a change, the version the change was made from.
	Version int `json:"version,omitempty"`
}

// NotificationSend sends an existing notification's content again, to
// new targets on a new schedule (the Operator's part).
type NotificationSend struct {
	Schedule NotificationSchedule `json:"schedule"`
	Targets  NotificationTargets  `json:"targets"`
}

// NotificationDecide approves or rejects (Reason) one version.
type NotificationDecide struct {
	Version int    `json:"version"`
	Reason  string `json:"reason,omitempty"`
}

// NotificationInfo is a notification as the console shows it.
type NotificationInfo struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Version int    `json:"version"`
	NotificationContent
	Schedule NotificationSchedule `json:"schedule"`
	Targets  NotificationTargets  `json:"targets"`
	// GroupNames are the names of Targets.Groups, in order.
	GroupNames      []string   `json:"group_names"`
	Author          string     `json:"author"`
	CreatedBy       string     `json:"created_by"`
	Created         time.Time  `json:"created"`
	Updated         time.Time  `json:"updated"`
	ApprovedVersion int        `json:"approved_version,omitempty"`
	ApprovedBy      string     `json:"approved_by,omitempty"`
	ApprovedAt      *time.Time `json:"approved_at,omitempty"`
	Reason          string     `json:"reason,omitempty"`
	// What the caller may do with it, as the server will decide.
	MayEdit    bool `json:"may_edit"`
	MaySend    bool `json:"may_send"`
	MayApprove bool `json:"may_approve"`
}

// NotificationEndpoint is one endpoint's row in a report.
type NotificationEndpoint struct {
	EndpointID string     `json:"endpoint_id"`
	Hostname   string     `json:"hostname"`
	Status     string     `json:"status"` // pending until the agent reports
	Response   string     `json:"response,omitempty"`
	Postpones  int        `json:"postpones,omitempty"`
	Users      []string   `json:"users,omitempty"`
	Error      string     `json:"error,omitempty"`
	Delivered  *time.Time `json:"delivered,omitempty"`
	Shown      *time.Time `json:"shown,omitempty"`
	Answered   *time.Time `json:"answered,omitempty"`
}

// NotificationReport is what became of a notification's approved version.
type NotificationReport struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	// Status is the notification's; completed once every endpoint is done.
	Status    string         `json:"status"`
	Targeted  int            `json:"targeted"`
	Statuses  map[string]int `json:"statuses"`
	Responses map[string]int `json:"responses"`
	// Matching counts the rows the filters select; Endpoints is the page
	// of them asked for.
	Matching  int                    `json:"matching"`
	Endpoints []NotificationEndpoint `json:"endpoints"`
}

// NotificationSettings are the installation's notification switches.
type NotificationSettings struct {
	ApprovalRequired bool `json:"approval_required"`
}

// NotificationBranding is a computer group's look on its endpoints:
// Logo a PNG (at most 64 KiB), Accent "#rrggbb", Name the sender shown.
type NotificationBranding struct {
	Name   string `json:"name,omitempty"`
	Accent string `json:"accent,omitempty"`
	Logo   []byte `json:"logo,omitempty"`
}

// AgentNotification is a notification handed to an agent on a poll, to
// show now (the server holds it until its start on the endpoint's clock).
type AgentNotification struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	NotificationContent
	Expires  time.Time             `json:"expires"`
	Branding *NotificationBranding `json:"branding,omitempty"`
}

// NotificationEvent is what an agent reports of a notification. Seq
// rises by one per event across all of an agent's notifications and
// survives restarts; the server ignores one it has already folded.
type NotificationEvent struct {
	ID        string    `json:"id"`
	Version   int       `json:"version"`
	Seq       int64     `json:"seq"`
	Kind      string    `json:"kind"`
	Value     string    `json:"value,omitempty"`
	IntervalS int64     `json:"interval_s,omitempty"`
	Count     int       `json:"count,omitempty"`
	Error     string    `json:"error,omitempty"`
	User      string    `json:"user,omitempty"`
	At        time.Time `json:"at"`
}
