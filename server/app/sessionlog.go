package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/protocol"
)

// viewerUser names the user behind a viewer of a session, "" if unknown.
func (s *Service) viewerUser(ctx context.Context, sessionID, viewerID string) string {
	if viewerID == "" {
		return ""
	}
	vs, err := s.store.SessionViewers(ctx, sessionID, false)
	if err != nil {
		return ""
	}
	for _, v := range vs {
		if v.ViewerID == viewerID {
			return v.UserName
		}
	}
	return ""
}

// RecordChat keeps one chat line in the session's history. The session
// helper reports the end user's lines (viewerID ""); each technician's
// viewer reports its own, with the viewer id the server gave it, and the
// server puts the technician's name to it. So neither side can speak for
// the other.
func (s *Service) RecordChat(ctx context.Context, sessionID, viewerID string, line protocol.ChatLine) error {
	ss, err := s.store.SessionByID(ctx, sessionID)
	if err != nil {
		return fmt.Errorf("session %q: %w", sessionID, err)
	}
	if err := protocol.CheckChatText(line.Text); err != nil {
		return badRequest("%v", err)
	}
	if ss.State == protocol.SessionEnded {
		return ErrSessionEnded
	}
	role, actor := protocol.ChatUser, "endpoint-user"
	if viewerID != "" {
		role = protocol.ChatTechnician
		if actor = s.viewerUser(ctx, sessionID, viewerID); actor == "" {
			return badRequest("no viewer %q in this session", viewerID)
		}
	}
	s.Audit(ctx, store.AuditRecord{Actor: actor, Type: protocol.AuditSessionChat, EndpointID: ss.AgentID, SessionID: ss.ID,
		Details: details("role", role, "viewer_id", viewerID, "text", line.Text)})
	return nil
}

// RecordFile audits a finished file transfer of a session.
func (s *Service) RecordFile(ctx context.Context, sessionID string, f protocol.FileRecord) error {
	ss, err := s.store.SessionByID(ctx, sessionID)
	if err != nil {
		return fmt.Errorf("session %q: %w", sessionID, err)
	}
	if f.Direction != protocol.FileToEndpoint && f.Direction != protocol.FileFromEndpoint {
		return badRequest("unknown file direction %q", f.Direction)
	}
	actor := s.viewerUser(ctx, sessionID, f.Viewer)
	if actor == "" {
		actor = "agent:" + ss.AgentID
	}
	s.Audit(ctx, store.AuditRecord{Actor: actor, Type: protocol.AuditSessionFile, EndpointID: ss.AgentID, SessionID: ss.ID,
		Details: details("direction", f.Direction, "name", f.Name, "size", strconv.FormatInt(f.Size, 10), "sha256", f.SHA256, "viewer_id", f.Viewer)})
	return nil
}

// RecordToolAction audits a change a support tool made on the endpoint,
// as the viewer that asked for it (the agent when it names none known).
func (s *Service) RecordToolAction(ctx context.Context, sessionID string, a protocol.ToolAction) error {
	ss, err := s.store.SessionByID(ctx, sessionID)
	if err != nil {
		return fmt.Errorf("session %q: %w", sessionID, err)
	}
	if !protocol.ToolDoes(ss.Tool, a.Op) {
		// Each tool reports its own operations only (processes.end from
		// a processes session...); a terminal reports none.
		return badRequest("session %s (%q) does not do %q", sessionID, ss.Tool, a.Op)
	}
	actor := s.viewerUser(ctx, sessionID, a.Viewer)
	if actor == "" {
		actor = "agent:" + ss.AgentID
	}
	kv := []string{"tool", ss.Tool, "op", a.Op, "target", a.Target, "viewer_id", a.Viewer}
	if a.Error != "" {
		kv = append(kv, "error", a.Error)
	}
	if ss.Tool == protocol.ToolFiles {
		// The user's files run in the desktop user's own helper, which
		// that user could make say anything: the record says whose word
		// it is.
		kv = append(kv, "reported_by", "the desktop user's session helper")
	}
	s.Audit(ctx, store.AuditRecord{Actor: actor, Type: protocol.AuditSessionToolAction, EndpointID: ss.AgentID, SessionID: ss.ID, Details: details(kv...)})
	return nil
}

// sessionLog returns the chat lines and file transfers audited since t, by
// session, oldest first.
func (s *Service) sessionLog(ctx context.Context, since time.Time) (map[string][]protocol.ChatLine, map[string][]protocol.FileRecord, error) {
	chat := map[string][]protocol.ChatLine{}
	files := map[string][]protocol.FileRecord{}
	for _, typ := range []protocol.AuditType{protocol.AuditSessionChat, protocol.AuditSessionFile} {
		rs, err := s.store.ListAudit(ctx, store.AuditFilter{Type: string(typ), Since: since, Limit: historyScan})
		if err != nil {
			return nil, nil, fmt.Errorf("list %s: %w", typ, err)
		}
		for i := len(rs) - 1; i >= 0; i-- { // the store lists newest first
			r := rs[i]
			var d map[string]string
			if json.Unmarshal(r.Details, &d) != nil {
				continue
			}
			if typ == protocol.AuditSessionChat {
				l := protocol.ChatLine{Time: r.Time, Role: d["role"], Text: d["text"]}
				if l.Role == protocol.ChatTechnician {
					l.From = r.Actor
				}
				chat[r.SessionID] = append(chat[r.SessionID], l)
				continue
			}
			size, _ := strconv.ParseInt(d["size"], 10, 64)
			f := protocol.FileRecord{Time: r.Time, Direction: d["direction"], Name: d["name"], Size: size, SHA256: d["sha256"], Viewer: d["viewer_id"]}
			if f.Viewer != "" {
				f.Technician = r.Actor
			}
			files[r.SessionID] = append(files[r.SessionID], f)
		}
	}
	return chat, files, nil
}
