package groups

import (
	"context"
	"errors"
	"fmt"
	"github.com/tetherdesk/tether/server/app/core"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/tetherdesk/tether/server/app/grouprules"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Audit event types for computer groups.
const (
	maxRulesPerGroup   = 50
	maxManualGroups    = 100
	groupNameMaxLength = 100
)

// osNames maps what an administrator may write to the OS an agent reports.
var osNames = map[string]string{
	"linux": "linux", "windows": "windows", "darwin": "darwin", "macos": "darwin", "mac": "darwin",
}

// checkRules validates and normalises membership rules.
func (s *Service) checkRules(ctx context.Context, match string, rules []protocol.GroupRule) (store.GroupRules, error) {
	out := store.GroupRules{Match: protocol.MatchAny}
	switch match {
	case "", protocol.MatchAny:
	case protocol.MatchAll:
		out.Match = protocol.MatchAll
	default:
		return store.GroupRules{}, core.BadRequest("match must be %q or %q", protocol.MatchAny, protocol.MatchAll)
	}
	if len(rules) > maxRulesPerGroup {
		return store.GroupRules{}, core.BadRequest("a group has at most %d rules", maxRulesPerGroup)
	}
	var tokens map[string]bool
	for i, r := range rules {
		v := strings.TrimSpace(r.Value)
		if v == "" || len(v) > 255 {
			return store.GroupRules{}, core.BadRequest("rule %d: the value must be 1-255 characters", i+1)
		}
		switch r.Kind {
		case protocol.RuleHostname:
			v = strings.ToLower(v)
			if _, err := path.Match(v, ""); err != nil {
				return store.GroupRules{}, core.BadRequest("rule %d: %q is not a valid name pattern (use * and ?)", i+1, r.Value)
			}
		case protocol.RuleIP:
			p, err := netip.ParsePrefix(v)
			if err != nil {
				a, aerr := netip.ParseAddr(v)
				if aerr != nil {
					return store.GroupRules{}, core.BadRequest("rule %d: %q is neither an IP address nor a CIDR range like 10.1.0.0/16", i+1, r.Value)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			v = p.Masked().String()
		case protocol.RuleOS:
			os, ok := osNames[strings.ToLower(v)]
			if !ok {
				return store.GroupRules{}, core.BadRequest("rule %d: operating system must be linux, windows or darwin (macOS)", i+1)
			}
			v = os
		case protocol.RuleToken:
			if tokens == nil {
				ts, err := s.st.ListEnrollmentTokens(ctx)
				if err != nil {
					return store.GroupRules{}, fmt.Errorf("list enrollment tokens: %w", err)
				}
				tokens = map[string]bool{}
				for _, t := range ts {
					tokens[t.ID] = true
				}
			}
			if !tokens[v] {
				return store.GroupRules{}, core.BadRequest("rule %d: no enrollment token has id %q", i+1, v)
			}
		default:
			return store.GroupRules{}, core.BadRequest("rule %d: kind must be hostname, ip, os or token", i+1)
		}
		out.Rules = append(out.Rules, store.GroupRule{Kind: r.Kind, Value: v})
	}
	return out, nil
}

// applyRules recomputes an endpoint's memberships by rule and stores them
// when they changed; the change is audited. It runs on enrollment, on
// inventory change and when rules change.
func (s *Service) applyRules(ctx context.Context, a store.Agent, groups []store.Group, actor string) error {
	var want []string
	for _, g := range groups {
		if g.ID != a.GroupID && grouprules.Matches(g, a) {
			want = append(want, g.ID)
		}
	}
	have := slices.Clone(a.RuleGroups)
	slices.Sort(have)
	if slices.Equal(have, want) {
		return nil
	}
	if err := s.st.SetAgentRuleGroups(ctx, a.ID, want); err != nil {
		return fmt.Errorf("membership of %s: %w", a.ID, err)
	}
	s.cfg.PoliciesChanged()
	s.cfg.Notify(a.ID) // its effective policy may have changed
	names := func(ids []string) string {
		out := make([]string, 0, len(ids))
		for _, id := range ids {
			out = append(out, s.GroupName(ctx, id))
		}
		return strings.Join(out, ", ")
	}
	var added, removed []string
	for _, g := range want {
		if !slices.Contains(have, g) {
			added = append(added, g)
		}
	}
	for _, g := range have {
		if !slices.Contains(want, g) {
			removed = append(removed, g)
		}
	}
	s.Audit(ctx, store.AuditRecord{Actor: actor, Type: protocol.AuditAgentGroups, EndpointID: a.ID,
		Details: core.Details("hostname", a.Hostname, "source", protocol.MemberRule, "added", names(added), "removed", names(removed))})
	return nil
}

// reapplyRules re-evaluates every endpoint after rules changed.
func (s *Service) reapplyRules(ctx context.Context, actor string) error {
	groups, err := s.st.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("list groups: %w", err)
	}
	return s.eachAgent(ctx, func(a store.Agent) error { return s.applyRules(ctx, a, groups, actor) })
}

// ApplyRulesOnChange evaluates the rules for one endpoint whose inventory
// just changed (or that just enrolled). A failure is logged, not returned:
// the agent's call succeeded, and the next change or rule edit retries.
func (s *Service) ApplyRulesOnChange(ctx context.Context, a store.Agent) {
	groups, err := s.st.ListGroups(ctx)
	if err == nil {
		err = s.applyRules(ctx, a, groups, "server")
	}
	if err != nil {
		s.Log.Error("apply group rules", "agent_id", a.ID, "err", err)
	}
}

func checkGroupName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > groupNameMaxLength || strings.ContainsAny(name, "@\r\n\x00") || name == GlobalPolicy {
		return "", core.BadRequest("group name must be 1-100 characters without '@' or line breaks, and not %q", GlobalPolicy)
	}
	return name, nil
}

func groupOf(g store.Group) protocol.Group {
	out := protocol.Group{ID: g.ID, Name: g.Name}
	if len(g.Rules.Rules) > 0 {
		out.Match = g.Rules.Match
		for _, r := range g.Rules.Rules {
			out.Rules = append(out.Rules, protocol.GroupRule{Kind: r.Kind, Value: r.Value})
		}
	}
	return out
}

// ListGroups lists computer groups to anyone who may view endpoints;
// holders of groups.manage also see how many endpoints each group they
// manage has.
func (s *Service) ListGroups(ctx context.Context) ([]protocol.Group, error) {
	p, err := core.Require(ctx, perm.EndpointsView)
	if err != nil {
		return nil, err
	}
	gs, err := s.st.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	var counts map[string]int
	if p.Can(perm.GroupsManage) {
		if counts, err = s.memberCounts(ctx); err != nil {
			return nil, err
		}
	}
	out := make([]protocol.Group, 0, len(gs))
	for _, g := range gs {
		pg := groupOf(g)
		if counts != nil && p.CanIn(perm.GroupsManage, g.ID) {
			n := counts[g.ID]
			pg.Members = &n
		}
		out = append(out, pg)
	}
	return out, nil
}

func (s *Service) memberCounts(ctx context.Context) (map[string]int, error) {
	counts := map[string]int{}
	err := s.eachAgent(ctx, func(a store.Agent) error {
		for _, g := range a.Groups() {
			counts[g]++
		}
		return nil
	})
	return counts, err
}

// CreateGroup adds a computer group, optionally with membership rules,
// and evaluates them for every endpoint. A new group lies outside every
// scope, so it needs groups.manage over every group.
func (s *Service) CreateGroup(ctx context.Context, req protocol.GroupRequest) (protocol.Group, error) {
	p, err := core.RequireGlobal(ctx, perm.GroupsManage, "creating a computer group")
	if err != nil {
		return protocol.Group{}, err
	}
	name, err := checkGroupName(req.Name)
	if err != nil {
		return protocol.Group{}, err
	}
	rules, err := s.checkRules(ctx, req.Match, req.Rules)
	if err != nil {
		return protocol.Group{}, err
	}
	if _, err := s.st.GroupByName(ctx, name); err == nil {
		return protocol.Group{}, fmt.Errorf("%w: a group named %q already exists", store.ErrConflict, name)
	}
	var ng store.Group
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditGroupCreated, Details: core.Details("group", name, "rules", grouprules.Describe(rules))}, func() error {
		ng, err = s.st.CreateGroup(ctx, name)
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("%w: a group named %q already exists", store.ErrConflict, name)
		}
		if err != nil {
			return fmt.Errorf("create group %q: %w", name, err)
		}
		if len(rules.Rules) > 0 {
			ng.Rules = rules
			if err := s.st.UpdateGroup(ctx, ng); err != nil {
				return fmt.Errorf("rules of group %q: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return protocol.Group{}, err
	}
	if len(rules.Rules) > 0 {
		if err := s.reapplyRules(ctx, p.Name); err != nil {
			return protocol.Group{}, err
		}
	}
	return groupOf(ng), nil
}

// groupByRef finds a group by id or, failing that, by name.
func (s *Service) groupByRef(ctx context.Context, ref string) (store.Group, error) {
	g, err := s.st.GroupByID(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		g, err = s.st.GroupByName(ctx, ref)
	}
	if err != nil {
		return store.Group{}, fmt.Errorf("computer group %q: %w", ref, err)
	}
	return g, nil
}

// UpdateGroup renames a group and replaces its rules, then re-evaluates
// every endpoint. The Default group keeps its name. Renaming needs
// groups.manage over the group; changing its rules needs it over every
// group, since a rule can pull endpoints from anywhere into the group
// (and so into the scope of everyone scoped to it).
func (s *Service) UpdateGroup(ctx context.Context, ref string, req protocol.GroupRequest) (protocol.Group, error) {
	p, err := core.Require(ctx, perm.GroupsManage)
	if err != nil {
		return protocol.Group{}, err
	}
	g, err := s.groupByRef(ctx, ref)
	if err != nil {
		return protocol.Group{}, err
	}
	if !p.CanIn(perm.GroupsManage, g.ID) {
		return protocol.Group{}, fmt.Errorf("%w: you do not manage the computer group %q", core.ErrForbidden, g.Name)
	}
	name, err := checkGroupName(req.Name)
	if err != nil {
		return protocol.Group{}, err
	}
	if g.ID == store.DefaultGroup && name != store.DefaultGroup {
		return protocol.Group{}, core.BadRequest("the Default group cannot be renamed")
	}
	rules, err := s.checkRules(ctx, req.Match, req.Rules)
	if err != nil {
		return protocol.Group{}, err
	}
	rulesChanged := grouprules.Describe(rules) != grouprules.Describe(g.Rules)
	if rulesChanged && !p.Global(perm.GroupsManage) {
		return protocol.Group{}, fmt.Errorf("%w: membership rules need %s over every computer group: a rule can pull in endpoints from anywhere", core.ErrForbidden, perm.GroupsManage)
	}
	if other, err := s.st.GroupByName(ctx, name); err == nil && other.ID != g.ID {
		return protocol.Group{}, fmt.Errorf("%w: a group named %q already exists", store.ErrConflict, name)
	}
	before := g
	g.Name, g.Rules = name, rules
	kv := []string{"group", g.Name, "rules", grouprules.Describe(rules)}
	if before.Name != g.Name {
		kv = append(kv, "renamed_from", before.Name)
	}
	typ := protocol.AuditGroupChanged
	if before.Name != g.Name || rulesChanged {
		// A name orders the groups' policies and a rule moves endpoints in
		// or out: either can weaken consent somewhere.
		nameOf := func(ctx context.Context, id string) string {
			if id == g.ID {
				return g.Name
			}
			return s.GroupName(ctx, id)
		}
		groupsAfter := func(a store.Agent) []string {
			if !rulesChanged || a.GroupID == g.ID {
				return a.Groups()
			}
			next := a
			next.RuleGroups = slices.DeleteFunc(slices.Clone(a.RuleGroups), func(id string) bool { return id == g.ID })
			if grouprules.Matches(g, a) {
				next.RuleGroups = append(next.RuleGroups, g.ID)
			}
			return next.Groups()
		}
		weaker, err := s.fleetWeakened(ctx, groupsAfter, nameOf)
		if err != nil {
			return protocol.Group{}, err
		}
		if typ, kv, err = checkWeakening(p, weaker, typ, kv); err != nil {
			return protocol.Group{}, err
		}
	}
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: typ, Details: core.Details(kv...)}, func() error {
		if err := s.st.UpdateGroup(ctx, g); errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("%w: a group named %q already exists", store.ErrConflict, name)
		} else if err != nil {
			return fmt.Errorf("update group %q: %w", g.Name, err)
		}
		return nil
	})
	s.cfg.PoliciesChanged()
	if err != nil {
		return protocol.Group{}, err
	}
	if !rulesChanged {
		return groupOf(g), nil
	}
	if err := s.reapplyRules(ctx, p.Name); err != nil {
		return protocol.Group{}, err
	}
	return groupOf(g), nil
}

// DeleteGroup removes a group nothing depends on (see store.DeleteGroup).
// It changes the policy and memberships of endpoints in other groups'
// scopes, so it needs groups.manage over every group.
func (s *Service) DeleteGroup(ctx context.Context, ref string) error {
	p, err := core.RequireGlobal(ctx, perm.GroupsManage, "deleting a computer group")
	if err != nil {
		return err
	}
	g, err := s.groupByRef(ctx, ref)
	if err != nil {
		return err
	}
	weaker, err := s.fleetWeakened(ctx, func(a store.Agent) []string {
		next := a
		next.RuleGroups = slices.DeleteFunc(slices.Clone(a.RuleGroups), func(id string) bool { return id == g.ID })
		next.ManualGroups = slices.DeleteFunc(slices.Clone(a.ManualGroups), func(id string) bool { return id == g.ID })
		return next.Groups()
	}, s.GroupName)
	if err != nil {
		return err
	}
	typ, kv, err := checkWeakening(p, weaker, protocol.AuditGroupDeleted, []string{"group", g.Name})
	if err != nil {
		return err
	}
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: typ, Details: core.Details(kv...)}, func() error {
		if err := s.st.DeleteGroup(ctx, g.ID); err != nil {
			return fmt.Errorf("delete group %q: %w", g.Name, err)
		}
		return nil
	})
	s.cfg.PoliciesChanged()
	return err
}

// SetEndpointGroups replaces the groups an endpoint belongs to by hand.
// The caller needs groups.manage over a group the endpoint is in already,
// and over every group it adds the endpoint to or removes it from; the
// endpoint's other manual groups are left as they are. So no scoped
// principal can bring an endpoint into its scope that was not there.
func (s *Service) SetEndpointGroups(ctx context.Context, endpointID string, req protocol.EndpointGroupsRequest) (protocol.Endpoint, error) {
	p, err := core.Require(ctx, perm.GroupsManage)
	if err != nil {
		return protocol.Endpoint{}, err
	}
	a, err := s.cfg.VisibleAgent(ctx, endpointID, perm.GroupsManage)
	if err != nil {
		return protocol.Endpoint{}, err
	}
	if len(req.Groups) > maxManualGroups {
		return protocol.Endpoint{}, core.BadRequest("at most %d groups", maxManualGroups)
	}
	var ids, names []string
	for _, n := range req.Groups {
		g, err := s.st.GroupByName(ctx, strings.TrimSpace(n))
		if errors.Is(err, store.ErrNotFound) {
			return protocol.Endpoint{}, core.BadRequest("unknown computer group %q", n)
		} else if err != nil {
			return protocol.Endpoint{}, fmt.Errorf("group %q: %w", n, err)
		}
		if g.ID != a.GroupID && !slices.Contains(ids, g.ID) {
			ids = append(ids, g.ID)
			names = append(names, g.Name)
		}
	}
	for _, g := range a.ManualGroups {
		if !slices.Contains(ids, g) && !p.CanIn(perm.GroupsManage, g) {
			return protocol.Endpoint{}, fmt.Errorf("%w: you cannot remove the endpoint from %q: you do not manage that group", core.ErrForbidden, s.GroupName(ctx, g))
		}
	}
	for i, g := range ids {
		if !slices.Contains(a.ManualGroups, g) && !p.CanIn(perm.GroupsManage, g) {
			return protocol.Endpoint{}, fmt.Errorf("%w: you cannot add the endpoint to %q: you do not manage that group", core.ErrForbidden, names[i])
		}
	}
	next := a
	next.ManualGroups = ids
	weaker, err := s.weakerBetween(ctx, a.Groups(), next.Groups(), s.st.Policy, s.GroupName)
	if err != nil {
		return protocol.Endpoint{}, err
	}
	typ, kv, err := checkWeakening(p, weaker, protocol.AuditAgentGroups,
		[]string{"hostname", a.Hostname, "source", protocol.MemberManual, "groups", strings.Join(names, ", ")})
	if err != nil {
		return protocol.Endpoint{}, err
	}
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: typ, EndpointID: a.ID, Details: core.Details(kv...)}, func() error {
		if err := s.st.SetAgentManualGroups(ctx, a.ID, ids); err != nil {
			return fmt.Errorf("groups of endpoint %q: %w", a.ID, err)
		}
		return nil
	})
	s.cfg.PoliciesChanged()
	if err != nil {
		return protocol.Endpoint{}, err
	}
	s.cfg.Notify(a.ID)
	ep, err := s.cfg.Endpoint(ctx, a.ID)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, core.ErrForbidden) {
		// The caller moved the endpoint out of its own scope: the change
		// stands, the endpoint is no longer theirs to read.
		return protocol.Endpoint{ID: a.ID, Hostname: a.Hostname}, nil
	}
	return ep, err
}

// memberships describes why an endpoint is in each of its groups.
func (s *Service) Memberships(ctx context.Context, a store.Agent) []protocol.Membership {
	var out []protocol.Membership
	for _, gid := range a.Groups() {
		m := protocol.Membership{Group: s.GroupName(ctx, gid)}
		if gid == a.GroupID {
			m.Source = append(m.Source, protocol.MemberEnrollment)
		}
		if slices.Contains(a.RuleGroups, gid) {
			m.Source = append(m.Source, protocol.MemberRule)
		}
		if slices.Contains(a.ManualGroups, gid) {
			m.Source = append(m.Source, protocol.MemberManual)
		}
		out = append(out, m)
	}
	return out
}
