package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/policy"
	"github.com/tetherdesk/tether/shared/protocol"
)

// GlobalPolicy names the global default policy in the policies API.
const GlobalPolicy = "global"

// maxPolicyDoc bounds a policy document: it goes to every agent on poll.
const maxPolicyDoc = 64 << 10

// policyGroup resolves the {group} of the policies API ("global", a group
// name or a group id) and checks that the caller holds screenshare.settings
// or settings.manage over it; the global policy needs them unscoped, since
// it applies to every group.
func (s *Service) policyGroup(ctx context.Context, name string) (groupID, label string, p *Principal, err error) {
	p, err = authenticated(ctx)
	if err != nil {
		return "", "", nil, err
	}
	if !p.Can(perm.ScreenShareSettings) && !p.Can(perm.SettingsManage) {
		return "", "", nil, ErrForbidden
	}
	if name == GlobalPolicy || name == "" {
		if !p.CanIn(perm.ScreenShareSettings, "") && !p.CanIn(perm.SettingsManage, "") {
			return "", "", nil, fmt.Errorf("%w: the global policy needs the permission over every group", ErrForbidden)
		}
		return "", GlobalPolicy, p, nil
	}
	g, err := s.store.GroupByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		g, err = s.store.GroupByID(ctx, name)
	}
	if err != nil {
		return "", "", nil, fmt.Errorf("computer group %q: %w", name, err)
	}
	if !p.CanIn(perm.ScreenShareSettings, g.ID) && !p.CanIn(perm.SettingsManage, g.ID) {
		return "", "", nil, ErrForbidden
	}
	return g.ID, g.Name, p, nil
}

// GetPolicy returns a group's own policy document ("global": the default
// every group inherits); a group without one has version 0 and {}.
func (s *Service) GetPolicy(ctx context.Context, group string) (protocol.Policy, error) {
	gid, _, _, err := s.policyGroup(ctx, group)
	if err != nil {
		return protocol.Policy{}, err
	}
	pol, err := s.store.Policy(ctx, gid)
	if errors.Is(err, store.ErrNotFound) {
		return protocol.Policy{Version: 0, Doc: json.RawMessage(`{}`)}, nil
	}
	if err != nil {
		return protocol.Policy{}, fmt.Errorf("policy: %w", err)
	}
	return protocol.Policy{Version: pol.Version, Doc: pol.Doc}, nil
}

// PutPolicy replaces a group's policy document after validating it: a JSON
// object whose "screenshare" part passes shared/policy's checks. Its
// version grows, so agents pick it up on their next poll.
func (s *Service) PutPolicy(ctx context.Context, group string, doc json.RawMessage) (protocol.Policy, error) {
	gid, label, p, err := s.policyGroup(ctx, group)
	if err != nil {
		return protocol.Policy{}, err
	}
	if len(doc) > maxPolicyDoc {
		return protocol.Policy{}, badRequest("policy document is larger than 64 KiB")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(doc, &obj); err != nil || obj == nil {
		return protocol.Policy{}, badRequest("policy document must be a JSON object")
	}
	if _, err := policy.FromDoc(doc); err != nil {
		return protocol.Policy{}, badRequest("%v", err)
	}
	compact, err := json.Marshal(obj)
	if err != nil {
		return protocol.Policy{}, fmt.Errorf("encode policy: %w", err)
	}
	pol, err := s.store.PutPolicy(ctx, gid, compact, s.now().UTC())
	s.policies.clear()
	if err != nil {
		return protocol.Policy{}, fmt.Errorf("put policy: %w", err)
	}
	s.audit(ctx, store.AuditRecord{Actor: p.Name, Type: AuditPolicyChanged,
		Details: details("group", label, "version", fmt.Sprint(pol.Version))})
	return protocol.Policy{Version: pol.Version, Doc: pol.Doc}, nil
}
