package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tetherdesk/tether/server/app/notifications"
	"github.com/tetherdesk/tether/server/auth"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// reEnrollWindow bounds how long after enrolling a retry with the same
// token and nonce still returns the endpoint's identity.
const reEnrollWindow = 24 * time.Hour

// Enroll exchanges an enrollment token for an agent identity.
func (s *Service) Enroll(ctx context.Context, req protocol.EnrollRequest, remoteIP string) (protocol.EnrollResponse, error) {
	Public(ctx)
	addr := auth.AddrKey(remoteIP)
	if err := s.enroll.admit(addr); err != nil {
		return protocol.EnrollResponse{}, err
	}
	badToken := func() (protocol.EnrollResponse, error) {
		s.enroll.failures.Fail(addr)
		return protocol.EnrollResponse{}, ErrBadToken
	}
	if req.Token == "" {
		return badToken()
	}
	if err := checkInventory(req.Inventory); err != nil {
		return protocol.EnrollResponse{}, err
	}
	t, err := s.store.EnrollmentTokenByHash(ctx, auth.HashToken(req.Token))
	if errors.Is(err, store.ErrNotFound) {
		return badToken()
	}
	if err != nil {
		return protocol.EnrollResponse{}, fmt.Errorf("look up enrollment token: %w", err)
	}
	now := s.now().UTC()
	if t.Revoked != nil || (t.Expires != nil && now.After(*t.Expires)) {
		return badToken()
	}
	if err := s.enroll.admitToken(t.ID); err != nil {
		return protocol.EnrollResponse{}, err
	}
	if req.Nonce != "" && (len(req.Nonce) < 16 || len(req.Nonce) > 128) {
		return protocol.EnrollResponse{}, badRequest("nonce must be 16-128 characters")
	}
	secret := auth.NewToken("tas_", 32)
	var enrollKey string
	if req.Nonce != "" {
		enrollKey = auth.HashToken(t.ID + "\n" + req.Nonce)
		// A retry of an enrollment whose answer was lost: same endpoint,
		// new secret (the old one was never seen by the agent).
		a, err := s.store.ReEnrollAgent(ctx, enrollKey, auth.HashToken(secret), now.Add(-reEnrollWindow))
		if err == nil {
			s.Audit(ctx, store.AuditRecord{Actor: "agent:" + a.ID, Type: protocol.AuditAgentReEnrolled, EndpointID: a.ID,
				Details: details("hostname", a.Hostname, "token_id", t.ID, "ip", remoteIP)})
			s.log.Info("agent enrollment retried", "agent_id", a.ID, "hostname", a.Hostname)
			return protocol.EnrollResponse{AgentID: a.ID, Secret: secret}, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return protocol.EnrollResponse{}, fmt.Errorf("re-enroll: %w", err)
		}
	}
	a := agentFromInventory(req.Inventory, remoteIP)
	a.GroupID, a.SecretHash, a.Enrolled, a.LastSeen, a.EnrollKey = t.GroupID, auth.HashToken(secret), now, now, enrollKey
	a.EnrollTokenID = t.ID
	a, err = s.store.CreateAgent(ctx, a)
	if err != nil {
		return protocol.EnrollResponse{}, fmt.Errorf("create agent: %w", err)
	}
	s.ApplyRulesOnChange(ctx, a)
	s.presence.Seen(a.ID, now, remoteIP)
	s.Audit(ctx, store.AuditRecord{Actor: "agent:" + a.ID, Type: protocol.AuditAgentEnrolled, EndpointID: a.ID,
		Details: details("hostname", a.Hostname, "token_id", t.ID, "ip", remoteIP)})
	s.log.Info("agent enrolled", "agent_id", a.ID, "hostname", a.Hostname)
	return protocol.EnrollResponse{AgentID: a.ID, Secret: secret}, nil
}

// checkInventory bounds what an agent may store about itself.
func checkInventory(inv protocol.Inventory) error {
	if inv.Hostname == "" || len(inv.Hostname) > 255 {
		return badRequest("inventory hostname must be 1-255 characters")
	}
	if len(inv.IPs) > 64 || len(inv.Users) > 256 || len(inv.Tools) > 32 {
		return badRequest("inventory lists too many addresses, users or tools")
	}
	for _, ip := range inv.IPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			return badRequest("inventory address %q is not an IP address", ip)
		}
	}
	for _, f := range slices.Concat([]string{inv.OS, inv.OSVersion, inv.Arch, inv.AgentVersion}, inv.Users, inv.Tools) {
		if len(f) > 255 {
			return badRequest("inventory field longer than 255 characters")
		}
	}
	return nil
}

// agentFromInventory maps reported inventory onto an agent, listing the
// address the server sees first: it is the one a technician knows.
func agentFromInventory(inv protocol.Inventory, remoteIP string) store.Agent {
	ips := []string{}
	if remoteIP != "" {
		ips = append(ips, remoteIP)
	}
	for _, ip := range inv.IPs {
		if !slices.Contains(ips, ip) {
			ips = append(ips, ip)
		}
	}
	users := slices.Clone(inv.Users)
	slices.Sort(users)
	tools := slices.Clone(inv.Tools)
	slices.Sort(tools)
	return store.Agent{
		Hostname: inv.Hostname, IPs: ips, OS: inv.OS, OSVersion: inv.OSVersion, Arch: inv.Arch,
		AgentVersion: inv.AgentVersion, Users: slices.Compact(users), TimeZone: notifications.ZoneName(inv),
		Tools: slices.Compact(tools),
	}
}

// agentBySecret resolves the bearer secret of an agent call.
func (s *Service) agentBySecret(ctx context.Context, secret string) (store.Agent, error) {
	if secret == "" {
		return store.Agent{}, ErrBadSecret
	}
	a, err := s.store.AgentBySecretHash(ctx, auth.HashToken(secret))
	if errors.Is(err, store.ErrNotFound) {
		return store.Agent{}, ErrBadSecret
	}
	if err != nil {
		return store.Agent{}, fmt.Errorf("look up agent: %w", err)
	}
	if a.Revoked != nil {
		return store.Agent{}, ErrBadSecret
	}
	return a, nil
}

// Poll is the agent's long-poll: it records inventory, acknowledgements and
// results, then answers with pending actions and a changed policy, holding
// the request up to PollHold when there is nothing to say.
func (s *Service) Poll(ctx context.Context, secret string, req protocol.PollRequest, remoteIP string) (protocol.PollResponse, error) {
	resp, held, err := s.BeginPoll(ctx, secret, req, remoteIP)
	if err != nil || held == nil {
		return resp, err
	}
	return held.Wait(ctx)
}

// BeginPoll is Poll up to the hold: it answers at once (held nil) or
// returns the held poll, whose Wait or Notify gives the answer.
func (s *Service) BeginPoll(ctx context.Context, secret string, req protocol.PollRequest, remoteIP string) (protocol.PollResponse, *Held, error) {
	Public(ctx)
	// A renewal that carries nothing may take the agent this node read at
	// its last poll; anything else reads it afresh.
	plain := req.Wait && req.Inventory == nil && len(req.Acks) == 0 && len(req.Results) == 0 && req.Update == nil && len(req.NotificationEvents) == 0
	hash := auth.HashToken(secret)
	a, cached := store.Agent{}, false
	if plain && secret != "" {
		a, cached = s.agents.get(hash, s.now())
	}
	if !cached {
		var err error
		if a, err = s.agentBySecret(ctx, secret); err != nil {
			return protocol.PollResponse{}, nil, err
		}
		s.agents.put(hash, a, s.now())
	}
	start := s.now().UTC()
	ipChanged := s.presence.Seen(a.ID, start, remoteIP)
	if req.Inventory != nil || ipChanged {
		if err := s.updateInventory(ctx, a, req.Inventory, remoteIP); err != nil {
			return protocol.PollResponse{}, nil, err
		}
		// Memberships may have followed the inventory: reload for the policy.
		if fresh, err := s.store.AgentByID(ctx, a.ID); err == nil {
			a = fresh
			s.agents.put(hash, a, s.now())
		}
	}
	if len(req.Acks) > 0 {
		if err := s.store.AckActions(ctx, a.ID, req.Acks); err != nil {
			return protocol.PollResponse{}, nil, fmt.Errorf("ack actions: %w", err)
		}
	}
	if len(req.Results) > 0 {
		if err := s.completeActions(ctx, a.ID, req.Results); err != nil {
			return protocol.PollResponse{}, nil, err
		}
	}
	if req.Update != nil {
		s.updateReported(ctx, a, *req.Update)
	}
	if err := s.RecordEvents(ctx, a, req.NotificationEvents); err != nil {
		return protocol.PollResponse{}, nil, fmt.Errorf("record notification events: %w", err)
	}
	var resp protocol.PollResponse
	pol, err := s.effectivePolicy(ctx, a.Groups())
	if err != nil {
		return protocol.PollResponse{}, nil, err
	}
	if pol.Version != req.PolicyVersion {
		resp.Policy = &pol
	}
	// An offer is no reason to answer at once: the agent takes it from any
	// answer, and an agent that declines it (it failed before) must not
	// poll in a loop.
	resp.Update = s.updateOffer(a, pol)

	// Subscribe before looking, so an action queued in between still wakes us.
	h := &Held{s: s, a: a, secret: secret, policyVersion: req.PolicyVersion, remoteIP: remoteIP, start: start, hold: s.hold(req)}
	h.unwake = s.hub.OnWake(a.ID, h.woken)
	if resp.Actions, err = s.pending(ctx, a.ID); err != nil {
		h.unwake()
		return protocol.PollResponse{}, nil, err
	}
	resp.Notifications, resp.WithdrawnNotifications = s.DueNotifications(ctx, a)
	if hasNews(resp) || !req.Wait {
		h.unwake()
		pollsTotal.WithLabelValues("immediate").Inc()
		return resp, nil, nil
	}
	h.resp = resp
	return resp, h, nil
}

// hold is how long to hold req: what its agent waits, within PollHold.
// Each renewal costs the server a request; the longer the hold, the less
// an idle fleet costs.
func (s *Service) hold(req protocol.PollRequest) time.Duration {
	if req.HoldMS <= 0 {
		return min(s.cfg.PollHold, protocol.LegacyHold)
	}
	return max(min(s.cfg.PollHold, time.Duration(req.HoldMS)*time.Millisecond), time.Second)
}

func (s *Service) pending(ctx context.Context, agentID string) ([]protocol.Action, error) {
	acts, err := s.store.PendingActions(ctx, agentID, s.now().UTC())
	if err != nil {
		return nil, fmt.Errorf("pending actions: %w", err)
	}
	out := make([]protocol.Action, 0, len(acts))
	for _, a := range acts {
		if a.Type == protocol.ActionScreenShareStart {
			a.Payload = s.withAgentToken(a.Payload)
		}
		out = append(out, protocol.Action{ID: a.ID, Type: a.Type, Payload: a.Payload, Created: a.Created})
	}
	return out, nil
}

func (s *Service) completeActions(ctx context.Context, agentID string, results []protocol.ActionResult) error {
	if len(results) > 1000 {
		return badRequest("too many results in one poll")
	}
	rs := make([]store.ActionResult, 0, len(results))
	for _, r := range results {
		if len(r.Output) > 1<<20 || len(r.Error) > 64<<10 {
			return badRequest("result of %q is too large", r.ID)
		}
		if len(r.Output) > 0 && !json.Valid(r.Output) {
			return badRequest("result of %q is not valid JSON", r.ID)
		}
		rs = append(rs, store.ActionResult{ID: r.ID, OK: r.OK, Output: r.Output, Error: r.Error})
		actionsCompleted.WithLabelValues(fmt.Sprint(r.OK)).Inc()
	}
	if err := s.store.CompleteActions(ctx, agentID, rs, s.now().UTC()); err != nil {
		return fmt.Errorf("complete actions: %w", err)
	}
	return nil
}

func (s *Service) updateInventory(ctx context.Context, a store.Agent, inv *protocol.Inventory, remoteIP string) error {
	var next store.Agent
	if inv != nil {
		if err := checkInventory(*inv); err != nil {
			return err
		}
		next = agentFromInventory(*inv, remoteIP)
	} else {
		// Only the address the server sees changed: swap it in front.
		next = a
		ips := []string{remoteIP}
		for _, ip := range a.IPs[min(1, len(a.IPs)):] {
			if ip != remoteIP {
				ips = append(ips, ip)
			}
		}
		next.IPs = ips
	}
	next.ID, next.GroupID = a.ID, a.GroupID
	next.EnrollTokenID, next.RuleGroups, next.ManualGroups = a.EnrollTokenID, a.RuleGroups, a.ManualGroups
	if err := s.store.UpdateInventory(ctx, next); err != nil {
		return fmt.Errorf("update inventory: %w", err)
	}
	// Rules test the inventory, so memberships follow its changes.
	if next.Hostname != a.Hostname || next.OS != a.OS || !slices.Equal(next.IPs, a.IPs) {
		s.ApplyRulesOnChange(ctx, next)
	}
	return nil
}

// RevokeEndpoint revokes an agent's credentials; its next poll is refused.
func (s *Service) RevokeEndpoint(ctx context.Context, id string) error {
	a, err := s.visibleAgent(ctx, id, perm.EndpointsManage)
	if err != nil {
		return err
	}
	err = s.Record(ctx, store.AuditRecord{Actor: PrincipalFrom(ctx).Name, Type: protocol.AuditAgentRevoked, EndpointID: a.ID}, func() error {
		if err := s.store.RevokeAgent(ctx, a.ID, s.now().UTC()); err != nil {
			return fmt.Errorf("revoke agent: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.hub.Notify(a.ID) // end its held poll so it learns at once
	return nil
}

// remoteIPOf strips the port from an address as net/http reports it.
func RemoteIP(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().Unmap().String()
	}
	if a, err := netip.ParseAddr(strings.Trim(addr, "[]")); err == nil {
		return a.Unmap().String()
	}
	return ""
}

// Holding reports whether this node holds a poll of the agent right now.
func (s *Service) Holding(agentID string) bool { return s.presence.Holding(agentID) }
