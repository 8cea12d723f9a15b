// Package core is what every part of the server's service layer shares:
// the principal and its checks, the errors the API maps to statuses, and
// the audit log's record-then-change rule.
package core

// Scope. A permission held through a role scoped to a computer group
// ("Role@G") covers the objects of G only, and every check is made against
// the object acted on, never "holds it somewhere". The rules per kind of
// object (SECURITY.md says the same in words):
//
//   - endpoints, sessions, actions: in scope when the endpoint belongs to a
//     group the permission is held over (by enrollment, rule or hand);
//   - users: visible to a holder of users.manage when every role of the
//     user is scoped to a group it holds users.manage over (all users for
//     users.manage over every group); manageable when visible and it also
//     holds every permission of those roles there. A full administrator
//     (users.manage and roles.manage over every group) manages everyone:
//     roles.manage over every group can redefine any custom role anyway;
//   - roles: creating, changing and deleting roles needs roles.manage over
//     every group, since a role applies wherever it is assigned;
//   - computer groups: creating and deleting groups and changing membership
//     rules needs groups.manage over every group (a rule can pull in
//     endpoints from anywhere); a scoped holder may rename its groups and
//     add or remove, by hand, endpoints already in its scope to and from
//     groups it manages;
//   - policies: a group's policy needs screenshare.settings (or
//     settings.manage) over that group; the global one over every group; a
//     change that weakens consent needs screenshare.settings over every
//     group;
//   - enrollment tokens: only for, and only seen for, groups in scope;
//   - the audit log: records about endpoints in scope; records about no
//     endpoint (sign-ins, accounts, server events) need audit.read over
//     every group;
//   - session recordings: read with audit.read over a group of the
//     session's endpoint (ErrNotFound when the endpoint is out of sight).

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/tetherdesk/tether/shared/perm"
)

// Principal is an authenticated console or automation user.
type Principal struct {
	UserID string
	Name   string
	Roles  []string
	// grants maps a permission to the groups it applies to; an empty
	// group id means every group.
	grants map[perm.Permission][]string
	// SessionID is the web session's id when signed in with a cookie.
	SessionID string
	CSRFToken string
}

// NewPrincipal is a principal with no grants yet.
func NewPrincipal(userID, name string) *Principal {
	return &Principal{UserID: userID, Name: name, grants: map[perm.Permission][]string{}}
}

// Grant gives p pm over groupID ("" for every group).
func (p *Principal) Grant(pm perm.Permission, groupID string) {
	if p.grants == nil {
		p.grants = map[perm.Permission][]string{}
	}
	p.grants[pm] = append(p.grants[pm], groupID)
}

// Can reports whether p holds perm over at least one group.
func (p *Principal) Can(pm perm.Permission) bool {
	return p != nil && len(p.grants[pm]) > 0
}

// CanIn reports whether p holds perm over the given group.
func (p *Principal) CanIn(pm perm.Permission, groupID string) bool {
	if p == nil {
		return false
	}
	for _, g := range p.grants[pm] {
		if g == "" || g == groupID {
			return true
		}
	}
	return false
}

// CanInAny reports whether p holds perm over at least one of groups (an
// endpoint's groups: it is in scope through any of them).
func (p *Principal) CanInAny(pm perm.Permission, groups []string) bool {
	for _, g := range groups {
		if p.CanIn(pm, g) {
			return true
		}
	}
	return false
}

// GroupsFor returns the groups p holds perm in: nil for every group.
func (p *Principal) GroupsFor(pm perm.Permission) []string {
	gs := p.grants[pm]
	if slices.Contains(gs, "") {
		return nil
	}
	return append([]string{}, gs...)
}

// Permissions lists the permissions p holds anywhere, sorted.
func (p *Principal) Permissions() []string {
	var out []string
	for pm, gs := range p.grants {
		if len(gs) > 0 {
			out = append(out, string(pm))
		}
	}
	slices.Sort(out)
	return out
}

// check is the authorization record of one request. The API installs one
// per request and refuses to answer a request whose handler never recorded
// a check, so a forgotten check fails closed.
type check struct{ done atomic.Bool }

type ctxKey int

const (
	principalKey ctxKey = iota
	checkKey
)

// WithPrincipal attaches the caller to ctx.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// PrincipalFrom returns the caller, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey).(*Principal)
	return p
}

// WithCheck attaches a fresh authorization record to ctx and returns a
// function that reports whether a check was recorded.
func WithCheck(ctx context.Context) (context.Context, func() bool) {
	c := &check{}
	return context.WithValue(ctx, checkKey, c), c.done.Load
}

func markChecked(ctx context.Context) {
	if c, ok := ctx.Value(checkKey).(*check); ok {
		c.done.Store(true)
	}
}

// Public records that the operation needs no authorization (sign-in,
// health, agent calls that authenticate by their own credentials).
func Public(ctx context.Context) { markChecked(ctx) }

// Authenticated requires a signed-in caller and records the check.
func Authenticated(ctx context.Context) (*Principal, error) {
	markChecked(ctx)
	p := PrincipalFrom(ctx)
	if p == nil {
		return nil, ErrUnauthorized
	}
	return p, nil
}

// Require checks that the caller holds pm over some group.
func Require(ctx context.Context, pm perm.Permission) (*Principal, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	if !p.Can(pm) {
		return nil, ErrForbidden
	}
	return p, nil
}

// RequireAny checks that the caller holds one of pms over some group.
func RequireAny(ctx context.Context, pms ...perm.Permission) (*Principal, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	for _, pm := range pms {
		if p.Can(pm) {
			return p, nil
		}
	}
	return nil, ErrForbidden
}

// Global reports whether p holds pm over every group (an unscoped role).
func (p *Principal) Global(pm perm.Permission) bool { return p.CanIn(pm, "") }

// FullAdmin reports whether p may manage every account and assign any role.
func (p *Principal) FullAdmin() bool {
	return p.Global(perm.UsersManage) && p.Global(perm.RolesManage)
}

// RequireGlobal checks that the caller holds pm over every group; what
// names the operation for the message.
func RequireGlobal(ctx context.Context, pm perm.Permission, what string) (*Principal, error) {
	p, err := Require(ctx, pm)
	if err != nil {
		return nil, err
	}
	if !p.Global(pm) {
		return nil, fmt.Errorf("%w: %s needs %s over every computer group, not only some", ErrForbidden, what, pm)
	}
	return p, nil
}
