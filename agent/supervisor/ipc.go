package supervisor

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/shared/protocol"
)

// allowed: root, the service's own user, or the user of a desktop we run a
// helper for.
func (s *Supervisor) allowed(uid uint32) bool {
	if uid == 0 || int(uid) == os.Geteuid() {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.helpers {
		if h.desk.UID >= 0 && uint32(h.desk.UID) == uid {
			return true
		}
	}
	return false
}

func (s *Supervisor) acceptLoop(ctx context.Context, ln *ipc.Listener, wg *sync.WaitGroup) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, ipc.ErrPeerRefused) {
				s.log.Warn("refused a connection to the helper socket", "error", err)
				continue
			}
			s.log.Error("accepting helper connections", "error", err)
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, c)
		}()
	}
}

// serveConn handles one helper connection: its ready message binds it to
// its desktop, then state reports are logged until it disconnects.
func (s *Supervisor) serveConn(ctx context.Context, c *ipc.Conn) {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()
	m, err := c.Recv()
	if err != nil || m.Type != ipc.TypeReady {
		s.log.Warn("helper connection without ready message", "error", err)
		return
	}
	key := m.Desktop
	s.mu.Lock()
	h := s.helpers[key]
	if h == nil || !(c.UID == 0 || int(c.UID) == os.Geteuid() || h.desk.UID >= 0 && uint32(h.desk.UID) == c.UID) {
		s.mu.Unlock()
		s.log.Warn("refused a helper for an unknown desktop or another user", "desktop", key, "uid", c.UID)
		return
	}
	h.conn = c
	s.notifyLocked()
	s.mu.Unlock()
	s.log.Info("session helper connected", "desktop", key, "pid", m.PID)
	s.sendStatus(c, key)
	// A connection code in flight, at most one per helper: a second one
	// while the first is checked is answered at once.
	var (
		codes    sync.WaitGroup
		checking atomic.Bool
	)
	defer codes.Wait()
	defer func() {
		s.mu.Lock()
		s.dropConfirmedLocked(key, "")
		if h.conn == c {
			h.conn = nil
			// The helper's sessions ended with its connection.
			for id, ts := range s.sessions {
				if ts.desktop == key {
					delete(s.sessions, id)
				}
			}
			s.notifyLocked()
		}
		s.mu.Unlock()
	}()
	for {
		m, err := c.Recv()
		if errors.Is(err, ipc.ErrMalformed) {
			s.log.Warn("ignoring malformed message from a helper", "desktop", key, "error", err)
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				s.log.Info("session helper disconnected", "desktop", key)
			}
			return
		}
		if m.Type == ipc.TypeCode {
			if !checking.CompareAndSwap(false, true) {
				res := ipc.CodeResult{Outcome: ipc.CodeFailed, Message: "another connection code is being checked"}
				_ = c.Send(ipc.Msg{Type: ipc.TypeCodeResult, ReqID: m.ReqID, CodeResult: &res})
				continue
			}
			codes.Add(1)
			go func(reqID, code string) {
				defer codes.Done()
				res := s.redeemCode(ctx, key, code)
				// Free before answering: the user may try again at once.
				checking.Store(false)
				if err := c.Send(ipc.Msg{Type: ipc.TypeCodeResult, ReqID: reqID, CodeResult: &res}); err != nil {
					s.log.Warn("answering a helper's connection code", "desktop", key, "error", err)
				}
			}(m.ReqID, m.Code)
			continue
		}
		if s.toolMsg(key, m) {
			continue
		}
		if m.Type == ipc.TypeNotifyResult {
			if f := s.cfg.NotifyResult; f != nil {
				f(key, h.desk.User, *m.NotifyResult)
			}
			continue
		}
		if m.Type == ipc.TypeSAS {
			s.mu.Lock()
			ts := s.sessions[m.SessionID]
			live := ts != nil && ts.desktop == key
			s.mu.Unlock()
			if !live {
				s.log.Warn("Ctrl+Alt+Del asked for a session this helper does not hold", "session_id", m.SessionID, "desktop", key)
				continue
			}
			if err := sendSAS(); err != nil {
				s.log.Warn("Ctrl+Alt+Del", "session_id", m.SessionID, "error", err)
			} else {
				s.log.Info("Ctrl+Alt+Del sent", "session_id", m.SessionID)
			}
			continue
		}
		if m.Type == ipc.TypeState && m.State == ipc.StateDropped {
			s.log.Debug("helper dropped a session", "session_id", m.SessionID, "desktop", key)
			s.mu.Lock()
			s.dropConfirmedLocked(key, m.SessionID)
			s.mu.Unlock()
			continue
		}
		if m.Type == ipc.TypeState {
			attrs := []any{"session_id", m.SessionID, "state", m.State, "desktop", key}
			if m.Reason != "" {
				attrs = append(attrs, "reason", m.Reason)
			}
			if m.Error != "" {
				attrs = append(attrs, "error", m.Error)
			}
			s.log.Info("helper session state", attrs...)
			s.mu.Lock()
			// Only the helper that holds the session speaks for it: a
			// late answer from the desktop it left counts for nothing.
			if ts := s.sessions[m.SessionID]; ts != nil && ts.desktop == key {
				if m.State == protocol.SessionEnded {
					delete(s.sessions, m.SessionID)
				} else {
					if ts.start.Attended && ts.acceptedBy == nil && accepted(m.State) {
						u := userOf(h.desk)
						ts.acceptedBy = &u
						s.log.Info("attended session accepted", "session_id", m.SessionID, "desktop", key, "user", u.String())
					}
					ts.state = m.State
				}
			}
			s.mu.Unlock()
		}
	}
}

func (s *Supervisor) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
	if f := s.cfg.HelpersChanged; f != nil {
		f()
	}
}
