package app

import (
	"context"
	"strings"

	"github.com/tetherdesk/tether/server/app/policyset"
	"github.com/tetherdesk/tether/shared/protocol"
)

// effectivePolicy merges the policies of an endpoint's groups over the
// global default: first its enrollment group's, then those of the groups
// it joined by rule or by hand in order of their names, each replacing the
// top-level keys it sets. groups is store.Agent.Groups(): the enrollment
// group first.
func (s *Service) effectivePolicy(ctx context.Context, groups []string) (protocol.Policy, error) {
	key := strings.Join(groups, "\x00")
	if pol, ok := s.policies.Get(key, s.now()); ok {
		return pol, nil
	}
	return s.freshPolicy(ctx, groups)
}

// freshPolicy is effectivePolicy read from the store, and cached. A woken
// poll reads it so: the change that woke it may have been made on another
// node, whose word to drop cached policies can come after the wake-up.
func (s *Service) freshPolicy(ctx context.Context, groups []string) (protocol.Policy, error) {
	key := strings.Join(groups, "\x00")
	pol, err := s.loadPolicy(ctx, groups)
	if err == nil {
		s.policies.Put(key, pol, s.now())
	}
	return pol, err
}

func (s *Service) loadPolicy(ctx context.Context, groups []string) (protocol.Policy, error) {
	return policyset.Merge(ctx, groups, s.store.Policy, s.GroupName)
}
