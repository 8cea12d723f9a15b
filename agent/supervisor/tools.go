package supervisor

// What the end user sees of a support tool the service runs itself (a
// shell as root: a helper runs as the desktop's user and must never hold
// one): the question and the session bar, shown by the active desktop's
// helper over IPC (ipc.TypeToolAsk, TypeToolLive). The helper's answer is
// its user's: the helper runs as that user, whose consent it is.

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/shared/protocol"
)

// ErrNobodyToAsk: no user's desktop has a helper to ask (nobody is logged
// on, or the login screen is in front).
var ErrNobodyToAsk = errors.New("nobody is logged on to this endpoint to ask")

// userDeskLocked is the active desktop's helper connection when a user's
// desktop (not a login screen) is in front, with its key.
func (s *Supervisor) userDeskLocked() (string, *ipc.Conn) {
	key, conn, _ := s.activeLocked()
	// The desktop in front only: activeLocked falls back to any desktop,
	// and a background session's user is not the one to ask.
	if conn == nil || !s.helpers[key].desk.Active || s.helpers[key].desk.Greeter {
		return "", nil
	}
	return key, conn
}

// HasUser reports whether a user's desktop is in front with its helper
// connected: someone who can be asked.
func (s *Supervisor) HasUser() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, c := s.userDeskLocked()
	return c != nil
}

// AskTool asks the desktop's user whether a technician may open a tool
// the service runs (session sessionID), and waits for the answer until
// ctx ends (the prompt then closes). ErrNobodyToAsk when nobody can be
// asked.
func (s *Supervisor) AskTool(ctx context.Context, sessionID string, info ipc.ToolInfo) (bool, error) {
	s.mu.Lock()
	key, conn := s.userDeskLocked()
	if conn == nil {
		s.mu.Unlock()
		return false, ErrNobodyToAsk
	}
	s.toolSeq++
	id := "tool-" + strconv.FormatUint(s.toolSeq, 10)
	ch := make(chan ipc.Msg, 1)
	if s.toolAnswers == nil {
		s.toolAnswers = map[string]toolWaiter{}
	}
	s.toolAnswers[id] = toolWaiter{key: key, ch: ch}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.toolAnswers, id)
		s.mu.Unlock()
	}()
	if err := conn.Send(ipc.Msg{Type: ipc.TypeToolAsk, ReqID: id, SessionID: sessionID, Tool: &info}); err != nil {
		return false, fmt.Errorf("asking the desktop's user: %w", err)
	}
	select {
	case m := <-ch:
		if m.Error != "" {
			return false, fmt.Errorf("the desktop's helper could not ask: %s", m.Error)
		}
		return m.Accepted, nil
	case <-ctx.Done():
		s.closeTool(conn, sessionID)
		return false, ctx.Err()
	}
}

// ShowTool shows the session bar of a tool the service runs on the
// desktop in front until ctx ends; userEnd is called if its user ends the
// session there. Nothing shows where nobody is logged on.
func (s *Supervisor) ShowTool(ctx context.Context, sessionID string, info ipc.ToolInfo, userEnd func()) {
	s.mu.Lock()
	key, conn := s.userDeskLocked()
	if conn != nil {
		if s.toolEnds == nil {
			s.toolEnds = map[string]toolEnd{}
		}
		s.toolEnds[sessionID] = toolEnd{key: key, end: userEnd}
	}
	s.mu.Unlock()
	if conn == nil {
		return
	}
	defer func() {
		s.mu.Lock()
		delete(s.toolEnds, sessionID)
		s.mu.Unlock()
	}()
	if err := conn.Send(ipc.Msg{Type: ipc.TypeToolLive, SessionID: sessionID, Tool: &info}); err != nil {
		s.log.Warn("showing a support tool's session bar", "session_id", sessionID, "error", err)
		return
	}
	<-ctx.Done()
	s.closeTool(conn, sessionID)
}

// closeTool takes a tool's prompt or bar down.
func (s *Supervisor) closeTool(conn *ipc.Conn, sessionID string) {
	if err := conn.Send(ipc.Msg{Type: ipc.TypeEnd, SessionID: sessionID, Reason: protocol.EndedByTechnician}); err != nil {
		s.log.Debug("closing a support tool's prompt or bar", "session_id", sessionID, "error", err)
	}
}

// toolWaiter waits for a helper's answer to a tool's question.
type toolWaiter struct {
	key string // the desktop asked: only its helper answers
	ch  chan ipc.Msg
}

// toolEnd is a tool's session bar on a desktop and what its End does.
type toolEnd struct {
	key string
	end func()
}

// toolMsg takes a helper's message about a tool the service runs: an
// answer, or the user ending the session from the bar. It reports
// whether the message was one.
func (s *Supervisor) toolMsg(key string, m ipc.Msg) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case m.Type == ipc.TypeToolAnswer:
		if w, ok := s.toolAnswers[m.ReqID]; ok && w.key == key {
			select {
			case w.ch <- m:
			default:
			}
		}
		return true
	case m.Type == ipc.TypeState && m.State == protocol.SessionEnded:
		if e, ok := s.toolEnds[m.SessionID]; ok && e.key == key {
			go e.end()
			return true
		}
	}
	return false
}
