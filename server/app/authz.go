package app

import (
	"context"
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

// groupsFor returns the groups p holds perm in: nil for every group.
func (p *Principal) groupsFor(pm perm.Permission) []string {
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

// authenticated requires a signed-in caller and records the check.
func authenticated(ctx context.Context) (*Principal, error) {
	markChecked(ctx)
	p := PrincipalFrom(ctx)
	if p == nil {
		return nil, ErrUnauthorized
	}
	return p, nil
}

// require checks that the caller holds pm over some group.
func require(ctx context.Context, pm perm.Permission) (*Principal, error) {
	p, err := authenticated(ctx)
	if err != nil {
		return nil, err
	}
	if !p.Can(pm) {
		return nil, ErrForbidden
	}
	return p, nil
}
