package protocol

// Administration API (added 2026-11 for the console's Settings): users,
// roles, computer groups with membership rules, an endpoint's groups.

// UpdateUserRequest is the body of PATCH /api/v1/users/{id}. Absent
// fields stay as they are.
type UpdateUserRequest struct {
	DisplayName *string `json:"display_name,omitempty"`
	// Roles replaces every role assignment: "Role" or "Role@Group".
	Roles    *[]string `json:"roles,omitempty"`
	Disabled *bool     `json:"disabled,omitempty"`
}

// ResetPasswordRequest is the body of POST /api/v1/users/{id}/password.
// The user is signed out everywhere.
type ResetPasswordRequest struct {
	Password string `json:"password"`
}

// Role is a named set of permissions: GET /api/v1/roles.
type Role struct {
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
	// Builtin roles are the defaults every server has: they can be
	// neither changed nor deleted (copy one to make a custom role).
	Builtin bool `json:"builtin"`
	// Assigned counts the role assignments that use it.
	Assigned int `json:"assigned"`
}

// RoleRequest is the body of POST /api/v1/roles and PUT /api/v1/roles/{name}.
type RoleRequest struct {
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
}

// Kinds of computer group membership rules.
const (
	RuleHostname = "hostname" // glob over the computer name, case-insensitive: "fin-*"
	RuleIP       = "ip"       // CIDR any of the endpoint's addresses is in: "10.1.0.0/16"
	RuleOS       = "os"       // operating system: linux, windows, darwin
	RuleToken    = "token"    // id of the enrollment token used
)

// Rule matching of a group.
const (
	MatchAny = "any" // an endpoint matching any rule joins
	MatchAll = "all" // an endpoint must match every rule
)

// GroupRule is one membership rule.
type GroupRule struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// GroupRequest is the body of PUT /api/v1/groups/{id} (and POST
// /api/v1/groups, where only name is required).
type GroupRequest struct {
	Name  string      `json:"name"`
	Match string      `json:"match,omitempty"`
	Rules []GroupRule `json:"rules,omitempty"`
}

// EndpointGroupsRequest is the body of PUT /api/v1/endpoints/{id}/groups:
// the groups (names) the endpoint belongs to by hand.
type EndpointGroupsRequest struct {
	Groups []string `json:"groups"`
}

// Sources of an endpoint's membership in a group.
const (
	MemberEnrollment = "enrollment" // the group of its enrollment token
	MemberRule       = "rule"       // a membership rule matched
	MemberManual     = "manual"     // added by an administrator
)

// Membership is one group an endpoint belongs to, and why.
type Membership struct {
	Group  string   `json:"group"`
	Source []string `json:"source"`
}

// EndpointScreenShare is what the endpoint's effective policy allows, for
// the Open Screen Share dialog.
type EndpointScreenShare struct {
	// Modes enabled that show the screen, in order of precedence.
	Modes              []Mode `json:"modes"`
	UnattendedAllowed  bool   `json:"unattended_allowed"`
	AcceptanceRequired bool   `json:"acceptance_required"`
}
