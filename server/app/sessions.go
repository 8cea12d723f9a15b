package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tetherdesk/tether/server/auth"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/policy"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Session errors the API maps to 409 with their own codes.
var (
	ErrEndpointOffline = errors.New("the endpoint is offline: its agent has not polled recently")
	ErrSessionEnded    = errors.New("the session has ended")
)

// SessionEvents is told about session changes so the signalling hub can
// tell the connected agent and viewers. Implementations must not block.
type SessionEvents interface {
	// SessionChanged: state, mode or viewers changed. For an ended session
	// the hub sends "end" to everyone and closes the sockets.
	SessionChanged(s protocol.Session)
	// ControlChanged: the control holder is now holder ("" for nobody).
	ControlChanged(sessionID, holder string)
	// ControlRequested: viewerID (of user) asks for control held by holder.
	ControlRequested(sessionID, holder, viewerID, user string)
	// CloseViewers closes the live viewers of a user (disabled, deleted,
	// signed out everywhere, or roles changed) in every session where
	// keep(sessionID) is false; keep nil closes them all. It must not call
	// keep with its own locks held.
	CloseViewers(userID string, keep func(sessionID string) bool)
}

type noEvents struct{}

func (noEvents) CloseViewers(string, func(string) bool) {}

func (noEvents) SessionChanged(protocol.Session)                 {}
func (noEvents) ControlChanged(string, string)                   {}
func (noEvents) ControlRequested(string, string, string, string) {}

// sessionToken derives the agent token of a session. It is a keyed hash of
// the session id, so it is never stored: the store keeps its SHA-256, the
// queued action is stored without it, and the poll adds it on delivery.
func (s *Service) sessionToken(sessionID string) string {
	m := hmac.New(sha256.New, s.cfg.SecretKey)
	m.Write([]byte("tether session agent token\x00" + sessionID))
	return "tss_" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// withAgentToken adds the session's agent token to a screenshare.start
// payload as it is delivered.
func (s *Service) withAgentToken(payload json.RawMessage) json.RawMessage {
	var p protocol.ScreenShareStart
	if err := json.Unmarshal(payload, &p); err != nil || p.SessionID == "" {
		return payload
	}
	p.AgentToken = s.sessionToken(p.SessionID)
	b, err := json.Marshal(p)
	if err != nil {
		return payload
	}
	return b
}

// online reports whether the agent has polled recently (or is polling).
func (s *Service) online(a store.Agent) bool {
	last := a.LastSeen
	if t, ok := s.presence.LastSeen(a.ID); ok && t.After(last) {
		last = t
	}
	return s.presence.Holding(a.ID) || (!last.IsZero() && s.now().Sub(last) < s.cfg.PollHold+s.cfg.OnlineGrace)
}

// screenPolicy is the effective screen-share policy of an endpoint.
func (s *Service) screenPolicy(ctx context.Context, a store.Agent) (policy.ScreenShare, error) {
	pol, err := s.effectivePolicy(ctx, a.Groups())
	if err != nil {
		return policy.ScreenShare{}, err
	}
	sp, err := policy.FromDoc(pol.Doc)
	if err != nil {
		return policy.ScreenShare{}, fmt.Errorf("screen-share policy of endpoint %q: %w", a.ID, err)
	}
	return sp, nil
}

// CreateSession starts a screen-share session: it checks permissions and
// policy, stores the session in state requested and queues
// screenshare.start for the endpoint. Nothing is queued when a check fails.
// An offline endpoint is refused (ErrEndpointOffline) rather than given a
// session that could only time out.
func (s *Service) CreateSession(ctx context.Context, req protocol.CreateSessionRequest) (protocol.Session, error) {
	if _, err := require(ctx, perm.ScreenShareStart); err != nil {
		return protocol.Session{}, err
	}
	if req.EndpointID == "" {
		return protocol.Session{}, badRequest("endpoint_id is required")
	}
	a, err := s.visibleAgent(ctx, req.EndpointID, perm.ScreenShareStart)
	if err != nil {
		return protocol.Session{}, err
	}
	p := PrincipalFrom(ctx)
	sp, err := s.screenPolicy(ctx, a)
	if err != nil {
		return protocol.Session{}, err
	}
	if !req.Attended {
		if !p.CanInAny(perm.ScreenShareUnattended, a.Groups()) {
			return protocol.Session{}, fmt.Errorf("%w: starting a session without asking the user needs the %s permission (role %q)",
				ErrForbidden, perm.ScreenShareUnattended, perm.RoleScreenShareUnattended)
		}
		if !sp.UnattendedAllowed {
			return protocol.Session{}, fmt.Errorf("%w: the endpoint's policy does not allow unattended sessions (screenshare.unattended_allowed)", ErrForbidden)
		}
	}
	mode, err := sp.StartMode(req.Mode)
	if err != nil {
		return protocol.Session{}, badRequest("%v", err)
	}
	if !s.online(a) {
		return protocol.Session{}, ErrEndpointOffline
	}
	// The policy may waive the prompt even for an attended request.
	attended := req.Attended && sp.AcceptanceRequired
	ss, _, err := s.openSession(ctx, a, p, attended, sp, mode, p.Name,
		details("attended_requested", fmt.Sprint(req.Attended), "attended", fmt.Sprint(attended), "mode", string(mode),
			"record", fmt.Sprint(sp.RecordSessions)))
	if err != nil {
		return protocol.Session{}, err
	}
	return s.sessionOf(ctx, ss, &a)
}

// openSession stores a session of technician tech on endpoint a in state
// requested, audits it (by actor, with details) and queues
// screenshare.start. Checks are the caller's. The session is recorded
// when the policy sp records sessions (the helper then uploads it to
// protocol.PathAgentRecording).
func (s *Service) openSession(ctx context.Context, a store.Agent, tech *Principal, attended bool, sp policy.ScreenShare, mode protocol.Mode, actor string, det json.RawMessage) (store.ScreenSession, protocol.ScreenShareStart, error) {
	return s.openSessionFor(ctx, a, tech, attended, sp, mode, "", false, actor, det)
}

// openSessionFor is openSession for a tool's session too (tool not "").
// A tool's session is never recorded: its terminal keeps a transcript.
func (s *Service) openSessionFor(ctx context.Context, a store.Agent, tech *Principal, attended bool, sp policy.ScreenShare, mode protocol.Mode, tool string, write bool, actor string, det json.RawMessage) (store.ScreenSession, protocol.ScreenShareStart, error) {
	now := s.now().UTC()
	id := auth.NewToken("", 16)
	id = strings.NewReplacer("-", "x", "_", "y").Replace(id)
	ss, err := s.store.CreateSession(ctx, store.ScreenSession{
		ID: id, AgentID: a.ID, TechnicianID: tech.UserID, TechnicianName: tech.Name, Attended: attended,
		AcceptTimeoutS: sp.AcceptanceTimeoutS, Mode: mode, State: protocol.SessionRequested,
		AgentTokenHash: auth.HashToken(s.sessionToken(id)), Created: now, Record: sp.RecordSessions && tool == "", Tool: tool, Write: write,
	})
	if err != nil {
		return store.ScreenSession{}, protocol.ScreenShareStart{}, fmt.Errorf("create session: %w", err)
	}
	start := protocol.ScreenShareStart{
		SessionID: ss.ID, Attended: attended, Mode: mode, AllowedModes: sp.Enabled(), Technician: tech.Name,
		AcceptanceTimeoutS: sp.AcceptanceTimeoutS, UserMayEnd: sp.UserMayEnd,
		SignalPath: strings.Replace(protocol.PathAgentSignal, "{id}", ss.ID, 1), Record: ss.Record, Tool: tool, Write: write,
	}
	if tool != "" {
		start.AllowedModes = nil
	}
	payload, err := json.Marshal(start)
	if err != nil {
		return store.ScreenSession{}, protocol.ScreenShareStart{}, fmt.Errorf("encode screenshare.start: %w", err)
	}
	err = s.Record(ctx, store.AuditRecord{Actor: actor, Type: protocol.AuditSessionCreated, EndpointID: a.ID, SessionID: ss.ID, Details: det}, func() error {
		_, err := s.enqueue(ctx, a.ID, protocol.ActionScreenShareStart, payload, tech.Name)
		return err
	})
	if err != nil {
		s.endSession(context.WithoutCancel(ctx), ss, protocol.EndedError, "server")
		return store.ScreenSession{}, protocol.ScreenShareStart{}, err
	}
	sessionsStarted.Inc()
	return ss, start, nil
}

// visibleSession loads a session the caller may see: its owner, or a
// holder of screenshare.sessions in the endpoint's group. Others get
// ErrForbidden when they may view the endpoint, else ErrNotFound.
func (s *Service) visibleSession(ctx context.Context, id string) (store.ScreenSession, store.Agent, *Principal, error) {
	p, err := authenticated(ctx)
	if err != nil {
		return store.ScreenSession{}, store.Agent{}, nil, err
	}
	if !mayHaveSessions(p) {
		return store.ScreenSession{}, store.Agent{}, nil, ErrForbidden
	}
	ss, err := s.store.SessionByID(ctx, id)
	if err != nil {
		return store.ScreenSession{}, store.Agent{}, nil, fmt.Errorf("session %q: %w", id, err)
	}
	a, err := s.store.AgentByID(ctx, ss.AgentID)
	if err != nil {
		return store.ScreenSession{}, store.Agent{}, nil, fmt.Errorf("endpoint of session %q: %w", id, err)
	}
	// A technician's own session is theirs while their roles still let
	// them start one on the endpoint: a change of roles or of the
	// endpoint's groups takes it away (and recheckViewers closes it).
	// A tool's session needs the tool's permission there as well, also
	// of a holder of screenshare.sessions: seeing every session is no
	// licence to a root shell.
	if mayReach(p, ss, a) {
		return ss, a, p, nil
	}
	if p.CanInAny(perm.EndpointsView, a.Groups()) {
		return store.ScreenSession{}, store.Agent{}, nil, fmt.Errorf("%w: the session belongs to %s", ErrForbidden, ss.TechnicianName)
	}
	return store.ScreenSession{}, store.Agent{}, nil, fmt.Errorf("session %q: %w", id, store.ErrNotFound)
}

// sessionPerms are the permissions a session is opened with, each over
// one of the endpoint's groups: its tool's (toolPerms) and, for a files
// session that may change files, tools.files.write; screenshare.start
// for a screen share.
func sessionPerms(ss store.ScreenSession) []perm.Permission {
	if ss.Tool == "" {
		return []perm.Permission{perm.ScreenShareStart}
	}
	need := toolPerms(ss.Tool)
	if ss.Write {
		need = append(need, perm.ToolsFilesWrite)
	}
	return need
}

// lacking is the first of need that p holds over none of groups, "" when
// p holds them all.
func lacking(p *Principal, need []perm.Permission, groups []string) perm.Permission {
	for _, pm := range need {
		if !p.CanInAny(pm, groups) {
			return pm
		}
	}
	return ""
}

// mayHaveSessions reports whether p may have sessions anywhere: a screen
// share's permission, screenshare.sessions, or a tool's.
func mayHaveSessions(p *Principal) bool {
	if p.Can(perm.ScreenShareStart) || p.Can(perm.ScreenShareAllSession) {
		return true
	}
	for _, t := range protocol.Tools {
		if p.Can(toolPerms(t)[0]) {
			return true
		}
	}
	return false
}

// mayReach reports whether p may see and join session ss of endpoint a:
// its own session while its roles still open one there (a change of
// roles or of the endpoint's groups takes it away, and recheckViewers
// closes it), or any session there with screenshare.sessions; a tool's
// session needs the tool's permissions there in both cases.
func mayReach(p *Principal, ss store.ScreenSession, a store.Agent) bool {
	if (ss.Tool != "" || ss.TechnicianID == p.UserID) && lacking(p, sessionPerms(ss), a.Groups()) != "" {
		return false
	}
	return ss.TechnicianID == p.UserID || p.CanInAny(perm.ScreenShareAllSession, a.Groups())
}

// GetSession returns one session.
func (s *Service) GetSession(ctx context.Context, id string) (protocol.Session, error) {
	ss, a, _, err := s.visibleSession(ctx, id)
	if err != nil {
		return protocol.Session{}, err
	}
	return s.sessionOf(ctx, ss, &a)
}

// ListSessions lists the caller's own sessions and, for holders of
// screenshare.sessions, every session in their groups; newest first.
func (s *Service) ListSessions(ctx context.Context, activeOnly bool) ([]protocol.Session, error) {
	p, err := authenticated(ctx)
	if err != nil {
		return nil, err
	}
	if !mayHaveSessions(p) {
		return nil, ErrForbidden
	}
	var all []store.ScreenSession
	own, err := s.store.ListSessions(ctx, store.SessionFilter{ActiveOnly: activeOnly, TechnicianID: p.UserID})
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	all = append(all, own...)
	if p.Can(perm.ScreenShareAllSession) {
		others, err := s.store.ListSessions(ctx, store.SessionFilter{ActiveOnly: activeOnly, GroupIDs: p.GroupsFor(perm.ScreenShareAllSession)})
		if err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		all = append(all, others...)
	}
	slices.SortStableFunc(all, func(a, b store.ScreenSession) int { return b.Created.Compare(a.Created) })
	out := []protocol.Session{}
	seen := map[string]bool{}
	agents := map[string]*store.Agent{}
	for _, ss := range all {
		if seen[ss.ID] {
			continue
		}
		seen[ss.ID] = true
		a, ok := agents[ss.AgentID]
		if !ok {
			if ag, err := s.store.AgentByID(ctx, ss.AgentID); err == nil {
				a = &ag
			}
			agents[ss.AgentID] = a
		}
		// One's own sessions, as visibleSession: on endpoints one's roles
		// still cover.
		if a == nil || !mayReach(p, ss, *a) {
			continue
		}
		ps, err := s.sessionOf(ctx, ss, a)
		if err != nil {
			return nil, err
		}
		out = append(out, ps)
	}
	return out, nil
}

// sessionOf renders a stored session for the API, with its current viewers.
func (s *Service) sessionOf(ctx context.Context, ss store.ScreenSession, a *store.Agent) (protocol.Session, error) {
	out := protocol.Session{
		ID: ss.ID, EndpointID: ss.AgentID, Technician: ss.TechnicianName, Attended: ss.Attended, Mode: ss.Mode,
		State: ss.State, Reason: ss.Reason, Created: ss.Created, Started: ss.Started, Ended: ss.Ended,
		ControlHolder: ss.ControlHolder, Viewers: []protocol.Viewer{}, Record: ss.Record, Tool: ss.Tool,
	}
	if a != nil {
		out.Hostname = a.Hostname
	}
	if ss.Record && ss.State == protocol.SessionEnded {
		recs, err := s.store.RecordingsOf(ctx, []string{ss.ID})
		if err != nil {
			return protocol.Session{}, fmt.Errorf("recording of session %q: %w", ss.ID, err)
		}
		if r, ok := recs[ss.ID]; ok {
			info := recordingInfo(r)
			out.Recording = &info
		}
	}
	if ss.Tool != "" && ss.State == protocol.SessionEnded {
		t, err := s.store.TranscriptOf(ctx, ss.ID, false)
		switch {
		case err == nil:
			info := transcriptInfo(t)
			out.Transcript = &info
		case !errors.Is(err, store.ErrNotFound):
			return protocol.Session{}, fmt.Errorf("transcript of session %q: %w", ss.ID, err)
		}
	}
	if ss.State != protocol.SessionEnded {
		vs, err := s.store.SessionViewers(ctx, ss.ID, true)
		if err != nil {
			return protocol.Session{}, fmt.Errorf("viewers of session %q: %w", ss.ID, err)
		}
		for _, v := range vs {
			out.Viewers = append(out.Viewers, protocol.Viewer{ID: v.ViewerID, User: v.UserName})
		}
	}
	return out, nil
}

// publish renders a session and tells the hub.
func (s *Service) publish(ctx context.Context, ss store.ScreenSession) {
	var a *store.Agent
	if ag, err := s.store.AgentByID(ctx, ss.AgentID); err == nil {
		a = &ag
	}
	ps, err := s.sessionOf(ctx, ss, a)
	if err != nil {
		s.log.Error("render session", "session_id", ss.ID, "err", err)
		return
	}
	s.cfg.Events.SessionChanged(ps)
}

// EndSession ends a session as its technician (or a holder of
// screenshare.sessions). Ending an ended session changes nothing.
func (s *Service) EndSession(ctx context.Context, id string) (protocol.Session, error) {
	ss, a, p, err := s.visibleSession(ctx, id)
	if err != nil {
		return protocol.Session{}, err
	}
	ss = s.endSession(ctx, ss, protocol.EndedByTechnician, p.Name)
	return s.sessionOf(ctx, ss, &a)
}

// endSession moves a session to ended from whatever state it is in,
// retrying when a concurrent transition wins first; an already ended
// session is returned as is.
func (s *Service) endSession(ctx context.Context, ss store.ScreenSession, reason protocol.Reason, actor string) store.ScreenSession {
	for range 5 {
		if ss.State == protocol.SessionEnded {
			return ss
		}
		next, err := s.store.TransitionSession(ctx, store.SessionTransition{ID: ss.ID, From: ss.State, To: protocol.SessionEnded, Reason: reason, At: s.now().UTC()})
		if err == nil {
			s.stateChanged(ctx, ss, next, actor)
			return next
		}
		if !errors.Is(err, store.ErrConflict) {
			s.log.Error("end session", "session_id", ss.ID, "err", err)
			return ss
		}
		cur, err := s.store.SessionByID(ctx, ss.ID)
		if err != nil {
			s.log.Error("end session", "session_id", ss.ID, "err", err)
			return ss
		}
		ss = cur
	}
	return ss
}

// stateChanged audits a transition and tells the hub.
func (s *Service) stateChanged(ctx context.Context, from, to store.ScreenSession, actor string) {
	kv := []string{"from", string(from.State), "to", string(to.State)}
	if to.Reason != "" {
		kv = append(kv, "reason", string(to.Reason))
	}
	if to.Mode != from.Mode {
		kv = append(kv, "mode", string(to.Mode))
	}
	s.Audit(ctx, store.AuditRecord{Actor: actor, Type: protocol.AuditSessionState, EndpointID: to.AgentID, SessionID: to.ID, Details: details(kv...)})
	if to.State == protocol.SessionEnded {
		sessionsEnded.WithLabelValues(string(to.Reason)).Inc()
		s.log.Info("session ended", "session_id", to.ID, "reason", to.Reason)
	}
	s.publish(ctx, to)
}

// AgentSession authenticates the agent side of a session's signalling by
// the session's agent token. An ended session is ErrSessionEnded.
func (s *Service) AgentSession(ctx context.Context, sessionID, token string) (protocol.Session, error) {
	Public(ctx)
	ss, a, err := s.tokenSession(ctx, sessionID, token)
	if err != nil {
		return protocol.Session{}, err
	}
	if ss.State == protocol.SessionEnded {
		return protocol.Session{}, ErrSessionEnded
	}
	return s.sessionOf(ctx, ss, &a)
}

// ReportState applies a state the session helper reports over its
// signalling socket, validated against the state machine. Reporting the
// current state again changes nothing, unless it carries another mode. A
// mode is honoured with connecting (the user accepted another one) or
// during the session (connecting or active again: the mode changed at a
// technician's request, accepted by the user where the policy asks for
// it), and only if the policy enables it.
func (s *Service) ReportState(ctx context.Context, sessionID string, state protocol.SessionState, reason protocol.Reason, mode protocol.Mode) (protocol.Session, error) {
	ss, err := s.store.SessionByID(ctx, sessionID)
	if err != nil {
		return protocol.Session{}, fmt.Errorf("session %q: %w", sessionID, err)
	}
	a, err := s.store.AgentByID(ctx, ss.AgentID)
	if err != nil {
		return protocol.Session{}, fmt.Errorf("endpoint of session %q: %w", sessionID, err)
	}
	if mode != "" && mode != ss.Mode && ss.State != protocol.SessionEnded {
		if state != protocol.SessionConnecting && state != protocol.SessionActive {
			return protocol.Session{}, badRequest("a mode goes with connecting or active, not %q", state)
		}
		sp, err := s.screenPolicy(ctx, a)
		if err != nil {
			return protocol.Session{}, err
		}
		if !slices.Contains(sp.Enabled(), mode) {
			return protocol.Session{}, badRequest("mode %q is not enabled by policy", mode)
		}
	} else {
		mode = ""
	}
	if state == ss.State && ss.State != protocol.SessionEnded && mode == "" {
		return s.sessionOf(ctx, ss, &a)
	}
	if state != ss.State || ss.State == protocol.SessionEnded {
		if err := CheckTransition(ss.Attended, ss.State, state, reason); err != nil {
			return protocol.Session{}, err
		}
	}
	next, err := s.store.TransitionSession(ctx, store.SessionTransition{ID: ss.ID, From: ss.State, To: state, Reason: reason, Mode: mode, At: s.now().UTC()})
	if err != nil {
		return protocol.Session{}, err
	}
	s.stateChanged(ctx, ss, next, "agent:"+ss.AgentID)
	return s.sessionOf(ctx, next, &a)
}

// ViewerJoin is a viewer admitted to a session's signalling.
type ViewerJoin struct {
	Session  protocol.Session
	ViewerID string
	User     string
	UserID   string
}

// JoinSession admits the caller as a new viewer of a session: its owner or
// a holder of screenshare.sessions in the endpoint's group.
func (s *Service) JoinSession(ctx context.Context, id string) (ViewerJoin, error) {
	ss, a, p, err := s.visibleSession(ctx, id)
	if err != nil {
		return ViewerJoin{}, err
	}
	if ss.State == protocol.SessionEnded {
		return ViewerJoin{}, ErrSessionEnded
	}
	if ss.Tool != "" && ss.TechnicianID != p.UserID {
		// What the tool may do was settled for its technician (Write):
		// nobody else works in it.
		return ViewerJoin{}, fmt.Errorf("%w: a support tool's session is its technician's alone (%s)", ErrForbidden, ss.TechnicianName)
	}
	vid := "v" + strings.NewReplacer("-", "x", "_", "y").Replace(auth.NewToken("", 9))
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditSessionJoined, EndpointID: ss.AgentID, SessionID: ss.ID, Details: details("viewer_id", vid)}, func() error {
		if err := s.store.AddSessionViewer(ctx, store.SessionViewer{SessionID: ss.ID, ViewerID: vid, UserID: p.UserID, UserName: p.Name, Joined: s.now().UTC()}); err != nil {
			return fmt.Errorf("join session: %w", err)
		}
		return nil
	})
	if err != nil {
		return ViewerJoin{}, err
	}
	ps, err := s.sessionOf(ctx, ss, &a)
	if err != nil {
		return ViewerJoin{}, err
	}
	s.cfg.Events.SessionChanged(ps)
	return ViewerJoin{Session: ps, ViewerID: vid, User: p.Name, UserID: p.UserID}, nil
}

// RejoinSession gives a viewer whose signalling dropped its seat back
// (the same viewer id, so control stays with it): only to the user who
// joined with it, only while the seat is held (the signalling keeps it for
// the outage limit after a drop), and never on an ended session. Anything
// else is store.ErrNotFound: the viewer then joins afresh.
func (s *Service) RejoinSession(ctx context.Context, id, viewerID string) (ViewerJoin, error) {
	ss, a, p, err := s.visibleSession(ctx, id)
	if err != nil {
		return ViewerJoin{}, err
	}
	if ss.State == protocol.SessionEnded {
		return ViewerJoin{}, ErrSessionEnded
	}
	vs, err := s.store.SessionViewers(ctx, ss.ID, true)
	if err != nil {
		return ViewerJoin{}, fmt.Errorf("rejoin session: %w", err)
	}
	i := slices.IndexFunc(vs, func(v store.SessionViewer) bool { return v.ViewerID == viewerID })
	if i < 0 || vs[i].UserID != p.UserID {
		return ViewerJoin{}, fmt.Errorf("%w: no seat %q of yours in this session", store.ErrNotFound, viewerID)
	}
	s.Audit(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditSessionJoined, EndpointID: ss.AgentID, SessionID: ss.ID,
		Details: details("viewer_id", viewerID, "resumed", "true")})
	ps, err := s.sessionOf(ctx, ss, &a)
	if err != nil {
		return ViewerJoin{}, err
	}
	return ViewerJoin{Session: ps, ViewerID: viewerID, User: p.Name, UserID: p.UserID}, nil
}

// LeaveSession records that a viewer's connection closed; the signalling
// server calls it for a connection it admitted. A viewer holding control
// releases it; a tool's session ends with its last viewer.
func (s *Service) LeaveSession(ctx context.Context, sessionID, viewerID, user string) {
	ss, ok := s.leaveSession(ctx, sessionID, viewerID, user)
	if !ok || ss.Tool == "" || ss.State == protocol.SessionEnded {
		return
	}
	// A support tool runs for its technician while they work in it: the
	// last viewer gone (a tab closed, a seat not taken back in time), it
	// ends, and nothing stays open on the endpoint for nobody.
	if vs, err := s.store.SessionViewers(ctx, ss.ID, true); err == nil && len(vs) == 0 {
		s.endSession(ctx, ss, protocol.EndedByTechnician, user)
	}
}

func (s *Service) leaveSession(ctx context.Context, sessionID, viewerID, user string) (store.ScreenSession, bool) {
	s.controlMu.Lock()
	defer s.controlMu.Unlock()
	if err := s.store.SessionViewerLeft(ctx, sessionID, viewerID, s.now().UTC()); err != nil {
		s.log.Error("viewer left", "session_id", sessionID, "err", err)
		return store.ScreenSession{}, false
	}
	ss, err := s.store.SessionByID(ctx, sessionID)
	if err != nil {
		s.log.Error("viewer left", "session_id", sessionID, "err", err)
		return store.ScreenSession{}, false
	}
	s.Audit(ctx, store.AuditRecord{Actor: user, Type: protocol.AuditSessionLeft, EndpointID: ss.AgentID, SessionID: ss.ID, Details: details("viewer_id", viewerID)})
	if ss.ControlHolder == viewerID {
		if next, err := s.store.SetControlHolder(ctx, ss.ID, viewerID, ""); err == nil {
			ss = next
			s.Audit(ctx, store.AuditRecord{Actor: user, Type: protocol.AuditSessionControl, EndpointID: ss.AgentID, SessionID: ss.ID,
				Details: details("op", "left", "from", viewerID, "to", "")})
			s.cfg.Events.ControlChanged(ss.ID, "")
		}
	}
	if ss.State != protocol.SessionEnded {
		s.publish(ctx, ss)
	}
	return ss, true
}

// Control changes who holds control of a session (design.md, "Viewers and
// control"); the server decides:
//   - request: the caller's viewer gets control at once when nobody holds
//     it; otherwise the holder and the owner are asked (a "control" signal
//     naming the requester) and nothing changes yet.
//   - grant: the holder, the session's owner or a holder of
//     screenshare.sessions gives control to a current viewer.
//   - release: the holder gives it up.
//   - take: the owner or a holder of screenshare.sessions takes it for
//     their own viewer.
func (s *Service) Control(ctx context.Context, id string, req protocol.ControlRequest) (protocol.Session, error) {
	ss, a, p, err := s.visibleSession(ctx, id)
	if err != nil {
		return protocol.Session{}, err
	}
	if ss.Tool != "" {
		return protocol.Session{}, badRequest("a support tool's session has no control to pass")
	}
	s.controlMu.Lock()
	defer s.controlMu.Unlock()
	if ss, err = s.store.SessionByID(ctx, ss.ID); err != nil { // as of now, under the lock
		return protocol.Session{}, fmt.Errorf("session %q: %w", id, err)
	}
	if ss.State == protocol.SessionEnded {
		return protocol.Session{}, ErrSessionEnded
	}
	vs, err := s.store.SessionViewers(ctx, ss.ID, true)
	if err != nil {
		return protocol.Session{}, fmt.Errorf("viewers of session %q: %w", ss.ID, err)
	}
	userOf := func(viewerID string) (string, bool) {
		for _, v := range vs {
			if v.ViewerID == viewerID {
				return v.UserID, true
			}
		}
		return "", false
	}
	mine := func(viewerID string) error {
		if viewerID == "" {
			return badRequest("viewer is required: the id from your signalling hello")
		}
		u, ok := userOf(viewerID)
		if !ok {
			return badRequest("viewer %q is not connected to this session", viewerID)
		}
		if u != p.UserID {
			return fmt.Errorf("%w: viewer %q is not yours", ErrForbidden, viewerID)
		}
		return nil
	}
	privileged := ss.TechnicianID == p.UserID || p.CanInAny(perm.ScreenShareAllSession, a.Groups())
	holderUser, _ := userOf(ss.ControlHolder)
	isHolder := ss.ControlHolder != "" && holderUser == p.UserID
	to := ss.ControlHolder
	switch req.Op {
	case protocol.ControlRequestOp:
		if err := mine(req.Viewer); err != nil {
			return protocol.Session{}, err
		}
		if ss.ControlHolder != "" && ss.ControlHolder != req.Viewer {
			if err := s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditSessionControl, EndpointID: ss.AgentID, SessionID: ss.ID,
				Details: details("op", "request", "viewer_id", req.Viewer, "holder", ss.ControlHolder)}, nil); err != nil {
				return protocol.Session{}, err
			}
			s.cfg.Events.ControlRequested(ss.ID, ss.ControlHolder, req.Viewer, p.Name)
			return s.sessionOf(ctx, ss, &a)
		}
		to = req.Viewer
	case protocol.ControlGrant:
		if !isHolder && !privileged {
			return protocol.Session{}, fmt.Errorf("%w: only the control holder, the session's technician or a screen sharing administrator may grant control", ErrForbidden)
		}
		if _, ok := userOf(req.Viewer); !ok || req.Viewer == "" {
			return protocol.Session{}, badRequest("viewer %q is not connected to this session", req.Viewer)
		}
		to = req.Viewer
	case protocol.ControlRelease:
		if ss.ControlHolder == "" {
			return s.sessionOf(ctx, ss, &a)
		}
		if !isHolder {
			return protocol.Session{}, fmt.Errorf("%w: only the control holder may release control", ErrForbidden)
		}
		to = ""
	case protocol.ControlTake:
		if !privileged {
			return protocol.Session{}, fmt.Errorf("%w: only the session's technician or a screen sharing administrator may take control", ErrForbidden)
		}
		if err := mine(req.Viewer); err != nil {
			return protocol.Session{}, err
		}
		to = req.Viewer
	default:
		return protocol.Session{}, badRequest("op must be request, grant, release or take")
	}
	if to == ss.ControlHolder {
		return s.sessionOf(ctx, ss, &a)
	}
	var next store.ScreenSession
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditSessionControl, EndpointID: ss.AgentID, SessionID: ss.ID,
		Details: details("op", req.Op, "from", ss.ControlHolder, "to", to)}, func() error {
		next, err = s.store.SetControlHolder(ctx, ss.ID, ss.ControlHolder, to)
		return err
	})
	if err != nil {
		return protocol.Session{}, err
	}
	s.cfg.Events.ControlChanged(ss.ID, to)
	return s.sessionOf(ctx, next, &a)
}

// RelayAllowed tells the TURN relay whether a credential of a session is
// still good: the session has not ended, and subject (a viewer id, or
// "agent" for the endpoint's side) is still connected, with an enabled
// account. So a relay credential dies with its session and with its user.
func (s *Service) RelayAllowed(ctx context.Context, sessionID, subject string) bool {
	ss, err := s.store.SessionByID(ctx, sessionID)
	if err != nil || ss.State == protocol.SessionEnded {
		return false
	}
	if subject == "agent" {
		return true
	}
	vs, err := s.store.SessionViewers(ctx, sessionID, true)
	if err != nil {
		return false
	}
	for _, v := range vs {
		if v.ViewerID == subject {
			u, err := s.store.UserByID(ctx, v.UserID)
			return err == nil && !u.Disabled
		}
	}
	return false
}

// AgentGrace is how long the signalling waits for a session's agent to
// come back before it ends the session connection_lost: the outage
// limit of the endpoint's policy, which the agent rides out, and a
// margin for its last dial. Public: the signalling asks it for a session
// it serves.
func (s *Service) AgentGrace(ctx context.Context, sessionID string) time.Duration {
	Public(ctx)
	limit := time.Duration(policy.Default().OutageLimitS) * time.Second
	if ss, err := s.store.SessionByID(ctx, sessionID); err == nil {
		if a, err := s.store.AgentByID(ctx, ss.AgentID); err == nil {
			if sp, err := s.screenPolicy(ctx, a); err == nil {
				limit = time.Duration(sp.OutageLimitS) * time.Second
			}
		}
	}
	return limit + 15*time.Second
}
