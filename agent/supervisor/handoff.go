package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/shared/protocol"
)

// HandOutput is the result of a screenshare.start the service handed over.
type HandOutput struct {
	HandedOver bool   `json:"handed_over"`
	Desktop    string `json:"desktop"`
}

// Handle is the action handler for protocol.ActionScreenShareStart: it
// passes the session to the active desktop's helper and returns at once.
// A session this agent already holds (one a connection code started) is
// answered as handed over, and not started twice.
func (s *Supervisor) Handle(ctx context.Context, payload json.RawMessage) (any, error) {
	var start protocol.ScreenShareStart
	if err := json.Unmarshal(payload, &start); err != nil {
		return nil, fmt.Errorf("decoding screenshare.start payload: %w", err)
	}
	return s.handOver(ctx, start)
}

// handOver passes a session to the active desktop's helper.
func (s *Supervisor) handOver(ctx context.Context, start protocol.ScreenShareStart) (HandOutput, error) {
	if start.SessionID == "" || start.AgentToken == "" {
		return HandOutput{}, errors.New("screenshare.start payload lacks session_id or agent_token")
	}
	pol := s.cfg.Policy()
	msg := ipc.Msg{Type: ipc.TypeStart, Start: &start, Server: s.cfg.Server, Fingerprint: s.cfg.Fingerprint, Proxy: s.helperProxy, Policy: &pol}
	timer := time.NewTimer(s.cfg.ReadyTimeout)
	defer timer.Stop()
	for {
		s.handMu.Lock()
		s.mu.Lock()
		key, conn, known := s.activeLocked()
		changed, unavailable := s.changed, s.unavailable
		if conn != nil && unavailable == nil {
			if _, dup := s.sessions[start.SessionID]; dup {
				s.mu.Unlock()
				s.handMu.Unlock()
				return HandOutput{HandedOver: true, Desktop: key}, nil
			}
			s.sessions[start.SessionID] = &tracked{start: start, desktop: key, state: protocol.SessionRequested}
		}
		s.mu.Unlock()
		if unavailable != nil {
			s.handMu.Unlock()
			return HandOutput{}, unavailable
		}
		if conn != nil {
			err := conn.Send(msg)
			if err != nil {
				s.mu.Lock()
				delete(s.sessions, start.SessionID)
				s.mu.Unlock()
			}
			s.handMu.Unlock()
			if err != nil {
				return HandOutput{}, fmt.Errorf("handing the session to the helper of %s: %w", key, err)
			}
			s.log.Info("session handed to helper", "session_id", start.SessionID, "desktop", key)
			return HandOutput{HandedOver: true, Desktop: key}, nil
		}
		s.handMu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			if !known {
				return HandOutput{}, ErrNoDesktop
			}
			return HandOutput{}, fmt.Errorf("the session helper of desktop %s did not connect within %s", key, s.cfg.ReadyTimeout)
		case <-ctx.Done():
			return HandOutput{}, fmt.Errorf("agent stopping: %w", ctx.Err())
		}
	}
}

// activeLocked picks the active desktop's helper (or any, if none is
// marked active).
func (s *Supervisor) activeLocked() (key string, conn *ipc.Conn, known bool) {
	keys := make([]string, 0, len(s.helpers))
	for k := range s.helpers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if s.helpers[k].desk.Active {
			return k, s.helpers[k].conn, true
		}
	}
	if len(keys) > 0 {
		return keys[0], s.helpers[keys[0]].conn, true
	}
	return "", nil, false
}

// reconcileLoop moves sessions to the active desktop's helper whenever a
// helper (dis)connects or the active desktop changes.
func (s *Supervisor) reconcileLoop(ctx context.Context) {
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		s.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// accepted reports whether a session in state has left the prompt behind.
func accepted(state protocol.SessionState) bool {
	return state == protocol.SessionConnecting || state == protocol.SessionActive
}

// moveKind is what becomes of a session when the active desktop changes.
type moveKind int

func (k moveKind) String() string {
	return [...]string{"start", "resume", "end"}[k]
}

// decideMove is the consent rule of a desktop change. A session that was
// not accepted yet starts again on the new desktop (attended: its user is
// asked; the old desktop's answer no longer counts). An accepted
// unattended session resumes there: no one's consent is involved. An
// accepted attended session resumes only on a desktop of the user who
// accepted it; on another user's desktop or a login screen it ends
// (protocol.EndedUserChanged).
func decideMove(ts *tracked, to Desktop) moveKind {
	switch {
	case !accepted(ts.state):
		return moveStart
	case !ts.start.Attended:
		return moveResume
	case ts.acceptedBy != nil && ts.acceptedBy.sameUser(userOf(to)):
		return moveResume
	default:
		return moveEnd
	}
}

// reconcile hands each session that is not on the active desktop to that
// desktop's helper, once it is connected: the old helper drops it (closes
// its peers, keeps nothing), the new one takes it with the same session and
// token, resuming it or asking again as decideMove says. A session whose
// consent does not carry to the new desktop's user ends at once, whether
// or not that desktop's helper is up: the old helper (if any) drops it and
// the supervisor reports the end itself, so no helper of the new desktop
// ever holds it. Sessions stay where they are while no desktop is marked
// active (say, a text console is in front), unless their desktop vanished.
func (s *Supervisor) reconcile(ctx context.Context) {
	s.handMu.Lock()
	defer s.handMu.Unlock()
	type move struct {
		id       string
		msg      ipc.Msg
		from     string
		fromConn *ipc.Conn
		end      bool
		by       deskUser
	}
	var moves []move
	s.mu.Lock()
	key, conn, _ := s.activeLocked()
	if key == "" || s.unavailable != nil {
		s.mu.Unlock()
		return
	}
	target := s.helpers[key].desk
	explicit := target.Active
	pol := s.cfg.Policy()
	for id, ts := range s.sessions {
		if ts.desktop == key {
			continue
		}
		var fromConn *ipc.Conn
		if h := s.helpers[ts.desktop]; h != nil {
			if !explicit {
				continue
			}
			fromConn = h.conn
		}
		kind := decideMove(ts, target)
		if kind == moveEnd {
			start := ts.start
			m := move{id: id, from: ts.desktop, fromConn: fromConn, end: true, msg: ipc.Msg{Start: &start}}
			if ts.acceptedBy != nil {
				m.by = *ts.acceptedBy
			}
			moves = append(moves, m)
			delete(s.sessions, id)
			continue
		}
		if conn == nil {
			continue // the new desktop's helper is not up yet
		}
		start := ts.start
		moves = append(moves, move{id: id, from: ts.desktop, fromConn: fromConn,
			msg: ipc.Msg{Type: ipc.TypeStart, Start: &start, Server: s.cfg.Server, Fingerprint: s.cfg.Fingerprint, Proxy: s.helperProxy, Policy: &pol, Resume: kind == moveResume}})
		ts.desktop = key
	}
	s.mu.Unlock()
	for _, m := range moves {
		if m.fromConn != nil {
			if err := m.fromConn.Send(ipc.Msg{Type: ipc.TypeDrop, SessionID: m.id}); err != nil {
				s.log.Warn("telling the old helper to drop a session", "session_id", m.id, "desktop", m.from, "error", err)
			}
		}
		if m.end {
			s.log.Warn("the active desktop belongs to another user (or is the login screen): consent does not carry over; ending the attended session",
				"session_id", m.id, "from", m.from, "to", key, "accepted_by", m.by.String(), "now", userOf(target).String(), "reason", protocol.EndedUserChanged)
			s.endLater(ctx, *m.msg.Start, protocol.EndedUserChanged)
			continue
		}
		if err := conn.Send(m.msg); err != nil {
			s.log.Error("handing a session to the active desktop's helper", "session_id", m.id, "desktop", key, "error", err)
			s.mu.Lock()
			delete(s.sessions, m.id)
			s.mu.Unlock()
			continue
		}
		s.log.Info("session moved to the active desktop", "session_id", m.id, "from", m.from, "to", key, "resume", m.msg.Resume)
	}
}

const (
	// moveStart: the new desktop's helper starts it afresh; an attended
	// session not yet accepted asks that desktop's user.
	moveStart moveKind = iota
	// moveResume: the new desktop's helper takes it over without a prompt.
	moveResume
	// moveEnd: the session ends user_changed; no helper gets it.
	moveEnd
)
