package app

import (
	"github.com/tetherdesk/tether/server/app/accounts"
	"github.com/tetherdesk/tether/server/app/core"
	"github.com/tetherdesk/tether/shared/protocol"
)

// The principal, its checks, the errors and the audit rule live in core;
// these names keep the service layer's API as it was.

// Principal is an authenticated console or automation user.
type Principal = core.Principal

// Account types and checks: see accounts.
type (
	BusyError   = accounts.BusyError
	LoginResult = accounts.LoginResult
)

// ErrLastAdmin refuses a change that would leave no enabled administrator.
var ErrLastAdmin = accounts.ErrLastAdmin

// CheckCSRF: see accounts.
var CheckCSRF = accounts.CheckCSRF

// Audit record types of the domains in their own packages (the others
// are declared with their domain here).
const (
	AuditLogin         = protocol.AuditLogin
	AuditLoginFailed   = protocol.AuditLoginFailed
	AuditLogout        = protocol.AuditLogout
	AuditUserCreated   = protocol.AuditUserCreated
	AuditRolesChanged  = protocol.AuditRolesChanged
	AuditAPITokenMade  = protocol.AuditAPITokenMade
	AuditAPITokenGone  = protocol.AuditAPITokenGone
	AuditAdminBootstrp = protocol.AuditAdminBootstrp
	AuditUserChanged   = protocol.AuditUserChanged
	AuditUserDisabled  = protocol.AuditUserDisabled
	AuditUserEnabled   = protocol.AuditUserEnabled
	AuditUserPassword  = protocol.AuditUserPassword
	AuditUserDeleted   = protocol.AuditUserDeleted
	AuditRoleCreated   = protocol.AuditRoleCreated
	AuditRoleChanged   = protocol.AuditRoleChanged
	AuditRoleDeleted   = protocol.AuditRoleDeleted
	// Groups and policies.
	AuditGroupChanged   = protocol.AuditGroupChanged
	AuditGroupDeleted   = protocol.AuditGroupDeleted
	AuditAgentGroups    = protocol.AuditAgentGroups
	AuditPolicyWeakened = protocol.AuditPolicyWeakened
)

// ThrottledError says a caller must wait before trying again.
type ThrottledError = core.ThrottledError

// Errors the API maps to HTTP statuses; store.ErrNotFound and
// store.ErrConflict pass through as well.
var (
	ErrUnauthorized     = core.ErrUnauthorized
	ErrForbidden        = core.ErrForbidden
	ErrBadRequest       = core.ErrBadRequest
	ErrBadToken         = core.ErrBadToken
	ErrBadSecret        = core.ErrBadSecret
	ErrUnsupported      = core.ErrUnsupported
	ErrUnavailable      = core.ErrUnavailable
	ErrAuditUnavailable = core.ErrAuditUnavailable
)

// WithPrincipal, PrincipalFrom, WithCheck and Public: see core.
var (
	WithPrincipal = core.WithPrincipal
	PrincipalFrom = core.PrincipalFrom
	WithCheck     = core.WithCheck
	Public        = core.Public
)

var (
	require       = core.Require
	authenticated = core.Authenticated
	requireGlobal = core.RequireGlobal
	badRequest    = core.BadRequest
	details       = core.Details
	newID         = core.NewID
)
