// Package groups is the service layer's computer groups (membership by
// rule and by hand) and policies, with the rule that a change weakening
// consent anywhere needs screenshare.settings over every group.
package groups

import (
	"context"

	"github.com/tetherdesk/tether/server/app/core"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Config is what groups needs of the rest of the service layer.
type Config struct {
	// VisibleAgent loads an endpoint the caller holds pm over (not found
	// otherwise).
	VisibleAgent func(ctx context.Context, id string, pm perm.Permission) (store.Agent, error)
	// Endpoint describes an endpoint for the caller.
	Endpoint func(ctx context.Context, id string) (protocol.Endpoint, error)
	// Notify wakes the endpoint's held poll (its policy may have changed).
	Notify func(agentID string)
	// PoliciesChanged drops cached effective policies.
	PoliciesChanged func()
}

// Store is the part of the store groups use: groups, policies, the
// agents' memberships, and enrollment tokens (a rule may name one).
type Store interface {
	store.GroupStore
	store.PolicyStore
	ListAgents(ctx context.Context, afterID string, limit int) ([]store.Agent, error)
	SetAgentRuleGroups(ctx context.Context, id string, groups []string) error
	SetAgentManualGroups(ctx context.Context, id string, groups []string) error
	ListEnrollmentTokens(ctx context.Context) ([]store.EnrollmentToken, error)
}

// Service is the groups and policies part of the service layer.
type Service struct {
	*core.Core
	st  Store
	cfg Config
}

// New makes the groups service over c.
func New(c *core.Core, st Store, cfg Config) *Service { return &Service{Core: c, st: st, cfg: cfg} }

// eachAgent calls fn for every unrevoked agent (store.EachAgent).
func (s *Service) eachAgent(ctx context.Context, fn func(store.Agent) error) error {
	return store.EachAgent(ctx, s.st, fn)
}
