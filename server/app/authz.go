package app

import (
	"github.com/tetherdesk/tether/server/app/accounts"
	"github.com/tetherdesk/tether/server/app/core"
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
