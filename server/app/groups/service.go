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

// Service is the groups and policies part of the service layer.
type Service struct {
	*core.Core
	cfg Config
}

// New makes the groups service over c.
func New(c *core.Core, cfg Config) *Service { return &Service{Core: c, cfg: cfg} }
