package groups

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tetherdesk/tether/server/app/core"
	"slices"
	"strings"

	"github.com/tetherdesk/tether/server/app/policyset"
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
func (s *Service) policyGroup(ctx context.Context, name string) (groupID, label string, p *core.Principal, err error) {
	p, err = core.Authenticated(ctx)
	if err != nil {
		return "", "", nil, err
	}
	if !p.Can(perm.ScreenShareSettings) && !p.Can(perm.SettingsManage) {
		return "", "", nil, core.ErrForbidden
	}
	if name == GlobalPolicy || name == "" {
		if !p.CanIn(perm.ScreenShareSettings, "") && !p.CanIn(perm.SettingsManage, "") {
			return "", "", nil, fmt.Errorf("%w: the global policy needs the permission over every group", core.ErrForbidden)
		}
		return "", GlobalPolicy, p, nil
	}
	g, err := s.groupByRef(ctx, name)
	if err != nil {
		return "", "", nil, err
	}
	if !p.CanIn(perm.ScreenShareSettings, g.ID) && !p.CanIn(perm.SettingsManage, g.ID) {
		return "", "", nil, core.ErrForbidden
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
	pol, err := s.st.Policy(ctx, gid)
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
// version grows, so agents pick it up on their next poll. A change that
// weakens consent for any endpoint it applies to (see consentWeakened)
// needs screenshare.settings over every group and is audited as its own
// event type, policy.consent_weakened.
func (s *Service) PutPolicy(ctx context.Context, group string, doc json.RawMessage) (protocol.Policy, error) {
	gid, label, p, err := s.policyGroup(ctx, group)
	if err != nil {
		return protocol.Policy{}, err
	}
	if len(doc) > maxPolicyDoc {
		return protocol.Policy{}, core.BadRequest("policy document is larger than 64 KiB")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(doc, &obj); err != nil || obj == nil {
		return protocol.Policy{}, core.BadRequest("policy document must be a JSON object")
	}
	if _, err := policy.FromDoc(doc); err != nil {
		return protocol.Policy{}, core.BadRequest("%v", err)
	}
	compact, err := json.Marshal(obj)
	if err != nil {
		return protocol.Policy{}, fmt.Errorf("encode policy: %w", err)
	}
	weaker, err := s.consentWeakened(ctx, gid, compact)
	if err != nil {
		return protocol.Policy{}, err
	}
	typ, kv, err := checkWeakening(p, weaker, protocol.AuditPolicyChanged, []string{"group", label})
	if err != nil {
		return protocol.Policy{}, err
	}
	var pol store.Policy
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: typ, Details: core.Details(append(kv, "doc", string(compact))...)}, func() error {
		pol, err = s.st.PutPolicy(ctx, gid, compact, s.Now().UTC())
		if err != nil {
			return fmt.Errorf("put policy: %w", err)
		}
		return nil
	})
	s.cfg.PoliciesChanged()
	if err != nil {
		return protocol.Policy{}, err
	}
	return protocol.Policy{Version: pol.Version, Doc: pol.Doc}, nil
}

// consentWeakened lists the consent settings that putting doc as group
// gid's policy ("" the global one) would make weaker for some endpoint:
// acceptance off, unattended on, the user no longer able to end, clipboard
// or file transfer on. It compares the effective policy of every set of
// groups the change applies to (each member's, and a new member's) before
// and after.
func (s *Service) consentWeakened(ctx context.Context, gid string, doc json.RawMessage) ([]string, error) {
	sets := [][]string{nil}
	if gid != "" {
		var err error
		if sets, err = s.groupSets(ctx, gid); err != nil {
			return nil, err
		}
	}
	with := func(ctx context.Context, g string) (store.Policy, error) {
		if g == gid {
			return store.Policy{GroupID: g, Doc: doc}, nil
		}
		return s.st.Policy(ctx, g)
	}
	var out []string
	for _, set := range sets {
		w, err := s.weakerBetween(ctx, set, set, with, s.GroupName)
		if err != nil {
			return nil, err
		}
		out = appendNew(out, w...)
	}
	return out, nil
}

// groupSets lists the sets of groups the endpoints in group gid are in,
// each once, and {gid} alone for an endpoint yet to join.
func (s *Service) groupSets(ctx context.Context, gid string) ([][]string, error) {
	sets := [][]string{{gid}}
	seen := map[string]bool{gid: true}
	err := s.eachAgent(ctx, func(a store.Agent) error {
		gs := a.Groups()
		if k := strings.Join(gs, "\x00"); slices.Contains(gs, gid) && !seen[k] {
			seen[k] = true
			sets = append(sets, gs)
		}
		return nil
	})
	return sets, err
}

// weakerBetween lists what of consent the effective policy of the groups
// after (documents through policyOf, names through nameOf) makes weaker
// than that of the groups before, as they are stored now.
func (s *Service) weakerBetween(ctx context.Context, before, after []string,
	policyOf func(context.Context, string) (store.Policy, error), nameOf func(context.Context, string) string) ([]string, error) {
	was, err := policyset.Merge(ctx, before, s.st.Policy, s.GroupName)
	if err != nil {
		return nil, err
	}
	next, err := policyset.Merge(ctx, after, policyOf, nameOf)
	if err != nil {
		return nil, err
	}
	b, err := policy.FromDoc(was.Doc)
	if err != nil {
		b = policy.Default() // a stored policy that no longer parses: compare with the defaults
	}
	n, err := policy.FromDoc(next.Doc)
	if err != nil {
		return nil, core.BadRequest("%v", err)
	}
	return weakerConsent(b, n), nil
}

// fleetWeakened lists what of consent a change of membership or of group
// names would make weaker for some endpoint: groupsAfter gives each
// endpoint's groups after the change, nameOf the groups' names after it.
func (s *Service) fleetWeakened(ctx context.Context, groupsAfter func(store.Agent) []string, nameOf func(context.Context, string) string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	err := s.eachAgent(ctx, func(a store.Agent) error {
		was, next := a.Groups(), groupsAfter(a)
		k := strings.Join(was, "\x00") + "\x01" + strings.Join(next, "\x00")
		if seen[k] {
			return nil
		}
		seen[k] = true
		w, err := s.weakerBetween(ctx, was, next, s.st.Policy, nameOf)
		out = appendNew(out, w...)
		return err
	})
	return out, err
}

// checkWeakening refuses a change that weakens consent unless p holds
// screenshare.settings over every group, and returns the audit type and
// details to record it under.
func checkWeakening(p *core.Principal, weaker []string, typ protocol.AuditType, kv []string) (protocol.AuditType, []string, error) {
	if len(weaker) == 0 {
		return typ, kv, nil
	}
	if !p.Global(perm.ScreenShareSettings) {
		return "", nil, fmt.Errorf("%w: this change weakens consent (%s), which needs %s over every computer group",
			core.ErrForbidden, strings.Join(weaker, ", "), perm.ScreenShareSettings)
	}
	return protocol.AuditPolicyWeakened, append(kv, "weakened", strings.Join(weaker, ", ")), nil
}

func appendNew(out []string, more ...string) []string {
	for _, m := range more {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// weakerConsent names the consent settings in which after is weaker than before.
func weakerConsent(before, after policy.ScreenShare) []string {
	var out []string
	if before.AcceptanceRequired && !after.AcceptanceRequired {
		out = append(out, "acceptance_required off")
	}
	if !before.UnattendedAllowed && after.UnattendedAllowed {
		out = append(out, "unattended_allowed on")
	}
	if before.UserMayEnd && !after.UserMayEnd {
		out = append(out, "user_may_end off")
	}
	if !before.ClipboardSync && after.ClipboardSync {
		out = append(out, "clipboard_sync on")
	}
	if !before.FileTransfer && after.FileTransfer {
		out = append(out, "file_transfer on")
	}
	return out
}
