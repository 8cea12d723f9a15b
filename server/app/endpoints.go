package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tetherdesk/tether/server/auth"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// queueable lists the action types a technician may queue directly; others
// (screen share, notifications) are queued by their own operations.
var queueable = map[string]bool{protocol.ActionEcho: true, protocol.ActionInventoryRefresh: true}

// SearchEndpoints finds endpoints by computer name or IP among the groups
// the caller may view.
func (s *Service) SearchEndpoints(ctx context.Context, q string) ([]protocol.Endpoint, error) {
	p, err := require(ctx, perm.EndpointsView)
	if err != nil {
		return nil, err
	}
	q = strings.TrimSpace(q)
	if len(q) > 255 {
		return nil, badRequest("search text is longer than 255 characters")
	}
	as, err := s.store.SearchAgents(ctx, store.AgentFilter{Query: q, GroupIDs: p.GroupsFor(perm.EndpointsView)})
	if err != nil {
		return nil, fmt.Errorf("search agents: %w", err)
	}
	out := make([]protocol.Endpoint, 0, len(as))
	names := map[string]string{}
	for _, a := range as {
		out = append(out, s.endpointOf(ctx, a, names))
	}
	return out, nil
}

// Endpoint returns one endpoint the caller may view; others are not found.
func (s *Service) Endpoint(ctx context.Context, id string) (protocol.Endpoint, error) {
	a, err := s.visibleAgent(ctx, id, perm.EndpointsView)
	if err != nil {
		return protocol.Endpoint{}, err
	}
	ep := s.endpointOf(ctx, a, map[string]string{})
	ep.Groups = s.Memberships(ctx, a)
	sp, err := s.screenPolicy(ctx, a)
	if err != nil {
		return protocol.Endpoint{}, err
	}
	info := protocol.EndpointScreenShare{Modes: []protocol.Mode{}, UnattendedAllowed: sp.UnattendedAllowed, AcceptanceRequired: sp.AcceptanceRequired}
	for _, m := range sp.Enabled() {
		if slices.Contains(screenModes, m) {
			info.Modes = append(info.Modes, m)
		}
	}
	ep.ScreenShare = &info
	return ep, nil
}

// screenModes are the modes that show the screen: the ones a technician
// picks among in the Open Screen Share dialog.
var screenModes = []protocol.Mode{protocol.ModeActive, protocol.ModeGuidance, protocol.ModeMonitor}

// visibleAgent loads an agent and checks pm over its group. An agent outside
// the caller's groups is reported as not found, so ids cannot be probed.
func (s *Service) visibleAgent(ctx context.Context, id string, pm perm.Permission) (store.Agent, error) {
	p, err := require(ctx, pm)
	if err != nil {
		return store.Agent{}, err
	}
	a, err := s.store.AgentByID(ctx, id)
	if err != nil {
		return store.Agent{}, fmt.Errorf("endpoint %q: %w", id, err)
	}
	if a.Revoked != nil || !p.CanInAny(perm.EndpointsView, a.Groups()) {
		return store.Agent{}, fmt.Errorf("endpoint %q: %w", id, store.ErrNotFound)
	}
	if !p.CanInAny(pm, a.Groups()) {
		return store.Agent{}, ErrForbidden
	}
	return a, nil
}

func (s *Service) endpointOf(ctx context.Context, a store.Agent, groupNames map[string]string) protocol.Endpoint {
	name, ok := groupNames[a.GroupID]
	if !ok {
		name = s.GroupName(ctx, a.GroupID)
		groupNames[a.GroupID] = name
	}
	last := a.LastSeen
	if t, ok := s.presence.LastSeen(a.ID); ok && t.After(last) {
		last = t
	}
	online := s.online(a)
	return protocol.Endpoint{
		ID: a.ID, Hostname: a.Hostname, IPs: nonNil(a.IPs), OS: a.OS, OSVersion: a.OSVersion, Arch: a.Arch,
		AgentVersion: a.AgentVersion, Users: nonNil(a.Users), Group: name,
		Online: online, LastSeen: last, Enrolled: a.Enrolled, Tools: a.Tools,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// QueueAction queues a maintenance action for an endpoint and wakes its poll.
func (s *Service) QueueAction(ctx context.Context, endpointID string, req protocol.QueueActionRequest) (protocol.ActionStatus, error) {
	a, err := s.visibleAgent(ctx, endpointID, perm.EndpointsManage)
	if err != nil {
		return protocol.ActionStatus{}, err
	}
	if !queueable[req.Type] {
		return protocol.ActionStatus{}, fmt.Errorf("%w: action type %q cannot be queued here", ErrUnsupported, req.Type)
	}
	if len(req.Payload) > 64<<10 {
		return protocol.ActionStatus{}, badRequest("payload is larger than 64 KiB")
	}
	if len(req.Payload) > 0 && !json.Valid(req.Payload) {
		return protocol.ActionStatus{}, badRequest("payload is not valid JSON")
	}
	p := PrincipalFrom(ctx)
	act, err := s.enqueue(ctx, a.ID, req.Type, req.Payload, p.Name)
	if err != nil {
		return protocol.ActionStatus{}, err
	}
	return statusOf(act), nil
}

// enqueue audits an action, stores it and wakes the agent's held poll.
func (s *Service) enqueue(ctx context.Context, agentID, typ string, payload json.RawMessage, by string) (store.Action, error) {
	act := store.Action{ID: newID(), AgentID: agentID, Type: typ, Payload: payload, CreatedBy: by, Created: s.now().UTC()}
	err := s.Record(ctx, store.AuditRecord{Actor: by, Type: protocol.AuditActionQueued, EndpointID: agentID, Details: details("action_id", act.ID, "type", typ)}, func() error {
		var err error
		if act, err = s.store.CreateAction(ctx, act); err != nil {
			return fmt.Errorf("queue action: %w", err)
		}
		return nil
	})
	if err != nil {
		return store.Action{}, err
	}
	actionsQueued.Inc()
	s.hub.Notify(agentID)
	return act, nil
}

// ActionStatus reports an action's state and result.
func (s *Service) ActionStatus(ctx context.Context, id string) (protocol.ActionStatus, error) {
	if _, err := require(ctx, perm.EndpointsView); err != nil {
		return protocol.ActionStatus{}, err
	}
	act, err := s.store.ActionByID(ctx, id)
	if err != nil {
		return protocol.ActionStatus{}, fmt.Errorf("action %q: %w", id, err)
	}
	if _, err := s.visibleAgent(ctx, act.AgentID, perm.EndpointsView); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return protocol.ActionStatus{}, fmt.Errorf("action %q: %w", id, store.ErrNotFound)
		}
		return protocol.ActionStatus{}, err
	}
	return statusOf(act), nil
}

func statusOf(a store.Action) protocol.ActionStatus {
	return protocol.ActionStatus{
		ID: a.ID, EndpointID: a.AgentID, Type: a.Type, Payload: a.Payload, State: a.State,
		Output: a.Output, Error: a.Error, CreatedBy: a.CreatedBy, Created: a.Created,
		Delivered: a.Delivered, Completed: a.Completed,
	}
}

// CreateEnrollmentToken issues a token that enrolls agents into a group;
// the caller needs tokens.manage over that group, since every endpoint
// enrolled with it lands in the group.
func (s *Service) CreateEnrollmentToken(ctx context.Context, req protocol.CreateTokenRequest) (protocol.EnrollmentToken, error) {
	p, err := require(ctx, perm.TokensManage)
	if err != nil {
		return protocol.EnrollmentToken{}, err
	}
	group := strings.TrimSpace(req.Group)
	if group == "" {
		group = store.DefaultGroup
	}
	if g, err := s.store.GroupByName(ctx, group); err == nil && !p.CanIn(perm.TokensManage, g.ID) {
		return protocol.EnrollmentToken{}, fmt.Errorf("%w: you cannot make enrollment tokens for the computer group %q", ErrForbidden, g.Name)
	}
	t, err := s.IssueEnrollmentToken(ctx, req, p.Name, false)
	if err == nil {
		t.InstallCommand = s.installCommand(t.Token)
		t.PowerShellCommand = s.powerShellCommand(t.Token)
	}
	return t, err
}

// ServerInfo returns the URL and certificate fingerprint installers use;
// it is shown with enrollment tokens, so it needs tokens.manage.
func (s *Service) ServerInfo(ctx context.Context) (protocol.ServerInfo, error) {
	if _, err := require(ctx, perm.TokensManage); err != nil {
		return protocol.ServerInfo{}, err
	}
	return protocol.ServerInfo{URL: s.cfg.PublicURL, Fingerprint: s.cfg.Fingerprint}, nil
}

// installCommand is the `tether-agent install` line for token, or "" when
// the server does not know its public URL.
func (s *Service) installCommand(token string) string {
	return s.enrollLine("tether-agent install", " --server ", " --token ", " --fingerprint ", shellQuote, token)
}

// powerShellCommand is the msiexec line that installs the agent's MSI
// (from make installers or a release) with the server, token and
// fingerprint as its properties, quoted for PowerShell; "" when the server
// does not know its public URL.
func (s *Service) powerShellCommand(token string) string {
	return s.enrollLine("msiexec.exe /i tether-agent.msi /qn", " SERVER_URL=", " ENROLL_TOKEN=", " FINGERPRINT=", psQuote, token)
}

// enrollLine is cmd followed by the server, the token and, when known, the
// fingerprint, each after its own flag and quoted by quote.
func (s *Service) enrollLine(cmd, server, tok, fp string, quote func(string) string, token string) string {
	if s.cfg.PublicURL == "" {
		return ""
	}
	line := cmd + server + quote(strings.TrimSuffix(s.cfg.PublicURL, "/")) + tok + quote(token)
	if s.cfg.Fingerprint != "" {
		line += fp + quote(s.cfg.Fingerprint)
	}
	return line
}

// psQuote quotes v as a PowerShell verbatim string: nothing in it ($, `,
// ;) is read as syntax, and a ' is doubled.
func psQuote(v string) string {
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

// shellQuote quotes v for a POSIX shell unless it is plainly safe.
func shellQuote(v string) string {
	safe := v != ""
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:/=@%+,", r)) {
			safe = false
			break
		}
	}
	if safe {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// IssueEnrollmentToken issues a token without a permission check, for the
// command line; with create, a missing group is made.
func (s *Service) IssueEnrollmentToken(ctx context.Context, req protocol.CreateTokenRequest, by string, create bool) (protocol.EnrollmentToken, error) {
	group := strings.TrimSpace(req.Group)
	if group == "" {
		group = store.DefaultGroup
	}
	if req.TTLHours < 0 || req.TTLHours > 24*366 {
		return protocol.EnrollmentToken{}, badRequest("ttl_hours must be between 0 (no expiry) and 8784")
	}
	g, err := s.store.GroupByName(ctx, group)
	if errors.Is(err, store.ErrNotFound) && create {
		g, err = s.store.CreateGroup(ctx, group)
	}
	if errors.Is(err, store.ErrNotFound) {
		return protocol.EnrollmentToken{}, badRequest("unknown computer group %q", group)
	} else if err != nil {
		return protocol.EnrollmentToken{}, fmt.Errorf("group %q: %w", group, err)
	}
	tok := auth.NewToken("tet_", 32)
	t := store.EnrollmentToken{ID: newID(), Hash: auth.HashToken(tok), GroupID: g.ID, CreatedBy: by, Created: s.now().UTC()}
	if req.TTLHours > 0 {
		exp := t.Created.Add(time.Duration(req.TTLHours) * time.Hour)
		t.Expires = &exp
	}
	err = s.Record(ctx, store.AuditRecord{Actor: by, Type: protocol.AuditTokenCreated, Details: details("token_id", t.ID, "group", g.Name)}, func() error {
		t, err = s.store.CreateEnrollmentToken(ctx, t)
		if err != nil {
			return fmt.Errorf("create enrollment token: %w", err)
		}
		return nil
	})
	if err != nil {
		return protocol.EnrollmentToken{}, err
	}
	return protocol.EnrollmentToken{ID: t.ID, Group: g.Name, Token: tok, Created: t.Created, Expires: t.Expires}, nil
}

// ListEnrollmentTokens lists the tokens of the groups the caller holds
// tokens.manage over (never their values).
func (s *Service) ListEnrollmentTokens(ctx context.Context) ([]protocol.EnrollmentToken, error) {
	p, err := require(ctx, perm.TokensManage)
	if err != nil {
		return nil, err
	}
	ts, err := s.store.ListEnrollmentTokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("list enrollment tokens: %w", err)
	}
	out := make([]protocol.EnrollmentToken, 0, len(ts))
	for _, t := range ts {
		if !p.CanIn(perm.TokensManage, t.GroupID) {
			continue
		}
		out = append(out, protocol.EnrollmentToken{ID: t.ID, Group: s.GroupName(ctx, t.GroupID), Created: t.Created, Expires: t.Expires, Revoked: t.Revoked})
	}
	return out, nil
}

// RevokeEnrollmentToken stops a token of a group in the caller's scope
// from enrolling further agents; other tokens are not found.
func (s *Service) RevokeEnrollmentToken(ctx context.Context, id string) error {
	p, err := require(ctx, perm.TokensManage)
	if err != nil {
		return err
	}
	tok, err := s.tokenInScope(ctx, p, id)
	if err != nil {
		return err
	}
	return s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditTokenRevoked, Details: details("token_id", id, "group", s.GroupName(ctx, tok.GroupID))}, func() error {
		if err := s.store.RevokeEnrollmentToken(ctx, id, s.now().UTC()); err != nil {
			return fmt.Errorf("revoke enrollment token %q: %w", id, err)
		}
		return nil
	})
}

// tokenInScope is the enrollment token id, when p holds tokens.manage
// over its group; otherwise it is not found.
func (s *Service) tokenInScope(ctx context.Context, p *Principal, id string) (store.EnrollmentToken, error) {
	ts, err := s.store.ListEnrollmentTokens(ctx)
	if err != nil {
		return store.EnrollmentToken{}, fmt.Errorf("list enrollment tokens: %w", err)
	}
	i := slices.IndexFunc(ts, func(t store.EnrollmentToken) bool { return t.ID == id })
	if i < 0 || !p.CanIn(perm.TokensManage, ts[i].GroupID) {
		return store.EnrollmentToken{}, fmt.Errorf("enrollment token %q: %w", id, store.ErrNotFound)
	}
	return ts[i], nil
}

// ListAudit reads the audit log: with audit.read over every group, all of
// it; otherwise the records about endpoints in the groups it is held for
// (records about no endpoint, such as sign-ins and account changes, need
// it over every group).
func (s *Service) ListAudit(ctx context.Context, f store.AuditFilter) ([]protocol.AuditRecord, error) {
	p, err := require(ctx, perm.AuditRead)
	if err != nil {
		return nil, err
	}
	f.EndpointGroups = nil
	if !p.Global(perm.AuditRead) {
		f.EndpointGroups = p.GroupsFor(perm.AuditRead)
	}
	if f.Limit < 0 || f.Limit > 5000 {
		return nil, badRequest("limit must be between 1 and 5000")
	}
	rs, err := s.store.ListAudit(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	out := make([]protocol.AuditRecord, 0, len(rs))
	for _, r := range rs {
		out = append(out, protocol.AuditRecord{Seq: r.Seq, Time: r.Time, Actor: r.Actor, Type: r.Type, EndpointID: r.EndpointID, SessionID: r.SessionID, Details: r.Details, PrevHash: r.PrevHash, Hash: r.Hash})
	}
	return out, nil
}
