package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// HistoryFilter selects sessions of the audit history.
type HistoryFilter struct {
	// Technician matches the technician's name, case-insensitively, as a
	// substring.
	Technician string
	// Endpoint matches the endpoint's id exactly or its computer name,
	// case-insensitively, as a substring.
	Endpoint string
	// Since and Until bound the creation time (Until exclusive); zero is
	// unbounded.
	Since, Until time.Time
	// Session, when set, selects that one session (the recording player
	// shows its facts).
	Session string
	// Limit caps the answer; 0 means 500, at most 5000.
	Limit int
}

// historyScan is how many stored sessions one history query reads at most
// before filtering.
const historyScan = 20000

// SessionHistory lists screen-share sessions for the audit log, newest
// first, with who joined and every control hand-off. It needs audit.read
// and covers the endpoints in the groups it is held for.
func (s *Service) SessionHistory(ctx context.Context, f HistoryFilter) ([]protocol.SessionRecord, error) {
	p, err := require(ctx, perm.AuditRead)
	if err != nil {
		return nil, err
	}
	if f.Limit < 0 || f.Limit > 5000 {
		return nil, badRequest("limit must be between 1 and 5000")
	}
	if f.Limit == 0 {
		f.Limit = 500
	}
	if len(f.Technician) > 64 || len(f.Endpoint) > 255 {
		return nil, badRequest("filter text is too long")
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return nil, badRequest("until must be after since")
	}
	if len(f.Session) > 64 {
		return nil, badRequest("filter text is too long")
	}
	var all []store.ScreenSession
	if f.Session != "" {
		// One session: in scope when audit.read covers its endpoint.
		ss, err := s.store.SessionByID(ctx, f.Session)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("session %q: %w", f.Session, err)
		}
		if err == nil {
			if a, err := s.store.AgentByID(ctx, ss.AgentID); err == nil && p.CanInAny(perm.AuditRead, a.Groups()) {
				all = append(all, ss)
			}
		}
	} else if all, err = s.store.ListSessions(ctx, store.SessionFilter{GroupIDs: p.GroupsFor(perm.AuditRead), Limit: historyScan}); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	tech := strings.ToLower(strings.TrimSpace(f.Technician))
	epq := strings.ToLower(strings.TrimSpace(f.Endpoint))
	agents := map[string]*store.Agent{}
	agentOf := func(id string) *store.Agent {
		a, ok := agents[id]
		if !ok {
			if ag, err := s.store.AgentByID(ctx, id); err == nil {
				a = &ag
			}
			agents[id] = a
		}
		return a
	}
	var picked []store.ScreenSession
	for _, ss := range all {
		if len(picked) == f.Limit {
			break
		}
		if (!f.Since.IsZero() && ss.Created.Before(f.Since)) || (!f.Until.IsZero() && !ss.Created.Before(f.Until)) {
			continue
		}
		if tech != "" && !strings.Contains(strings.ToLower(ss.TechnicianName), tech) {
			continue
		}
		if epq != "" && ss.AgentID != f.Endpoint {
			a := agentOf(ss.AgentID)
			if a == nil || !strings.Contains(strings.ToLower(a.Hostname), epq) {
				continue
			}
		}
		picked = append(picked, ss)
	}
	out := make([]protocol.SessionRecord, 0, len(picked))
	if len(picked) == 0 {
		return out, nil
	}
	control, err := s.controlAudit(ctx, picked[len(picked)-1].Created)
	if err != nil {
		return nil, err
	}
	chat, files, err := s.sessionLog(ctx, picked[len(picked)-1].Created)
	if err != nil {
		return nil, err
	}
	var recorded []string
	for _, ss := range picked {
		if ss.Record {
			recorded = append(recorded, ss.ID)
		}
	}
	recs, err := s.store.RecordingsOf(ctx, recorded)
	if err != nil {
		return nil, fmt.Errorf("recordings of sessions: %w", err)
	}
	for _, ss := range picked {
		rec := protocol.SessionRecord{
			ID: ss.ID, EndpointID: ss.AgentID, Technician: ss.TechnicianName, Mode: ss.Mode, Attended: ss.Attended,
			State: ss.State, Reason: ss.Reason, Created: ss.Created, Started: ss.Started, Ended: ss.Ended,
			Joined: []string{}, Control: []protocol.ControlChange{},
			Chat: chat[ss.ID], Files: files[ss.ID],
		}
		_, rec.Recorded = recs[ss.ID]
		if rec.Tool = ss.Tool; ss.Tool != "" {
			_, err := s.store.TranscriptOf(ctx, ss.ID, false)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("transcript of session %q: %w", ss.ID, err)
			}
			rec.Transcript = err == nil
		}
		if a := agentOf(ss.AgentID); a != nil {
			rec.Hostname = a.Hostname
		}
		if ss.Ended != nil {
			rec.DurationS = int64(ss.Ended.Sub(ss.Created) / time.Second)
		}
		vs, err := s.store.SessionViewers(ctx, ss.ID, false)
		if err != nil {
			return nil, fmt.Errorf("viewers of session %q: %w", ss.ID, err)
		}
		users := map[string]string{}
		for _, v := range vs {
			users[v.ViewerID] = v.UserName
			if !slices.Contains(rec.Joined, v.UserName) {
				rec.Joined = append(rec.Joined, v.UserName)
			}
		}
		for _, r := range control[ss.ID] {
			var d map[string]string
			if json.Unmarshal(r.Details, &d) != nil || d["op"] == "" || d["op"] == protocol.ControlRequestOp && d["to"] == "" && d["from"] == "" {
				continue // a request that changed nothing
			}
			rec.Control = append(rec.Control, protocol.ControlChange{Time: r.Time, Op: d["op"], By: r.Actor, From: users[d["from"]], To: users[d["to"]]})
		}
		out = append(out, rec)
	}
	return out, nil
}

// controlAudit returns the control records since t by session, oldest first.
func (s *Service) controlAudit(ctx context.Context, since time.Time) (map[string][]store.AuditRecord, error) {
	rs, err := s.store.ListAudit(ctx, store.AuditFilter{Type: string(protocol.AuditSessionControl), Since: since, Limit: historyScan})
	if err != nil {
		return nil, fmt.Errorf("list control changes: %w", err)
	}
	out := map[string][]store.AuditRecord{}
	for i := len(rs) - 1; i >= 0; i-- { // the store lists newest first
		out[rs[i].SessionID] = append(out[rs[i].SessionID], rs[i])
	}
	return out, nil
}
