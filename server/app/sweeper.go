package app

import (
	"context"
	"errors"
	"time"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/protocol"
)

// SweepSessions enforces the server-side bounds: a session awaiting
// acceptance longer than its timeout plus AcceptGrace ends
// acceptance_timeout; one still requested after StartTimeout ends
// agent_offline (the agent never picked it up); one connecting longer than
// ConnectTimeout ends error. The service runs it every SessionSweep; tests
// call it after moving the clock.
func (s *Service) SweepSessions(ctx context.Context) {
	list, err := s.store.ListSessions(ctx, store.SessionFilter{ActiveOnly: true, Limit: 100000})
	if err != nil {
		s.log.Error("sweep sessions", "err", err)
		return
	}
	now := s.now().UTC()
	for _, ss := range list {
		age := now.Sub(ss.StateSince)
		var reason protocol.Reason
		switch ss.State {
		case protocol.SessionRequested:
			if age > s.cfg.StartTimeout {
				reason = protocol.EndedAgentOffline
			}
		case protocol.SessionAwaitingAcceptance:
			if age > timeSeconds(ss.AcceptTimeoutS)+s.cfg.AcceptGrace {
				reason = protocol.EndedAcceptTimeout
			}
		case protocol.SessionConnecting:
			if age > s.cfg.ConnectTimeout {
				reason = protocol.EndedError
			}
		}
		if reason == "" {
			continue
		}
		// Only from the state seen: a concurrent transition wins.
		next, err := s.store.TransitionSession(ctx, store.SessionTransition{ID: ss.ID, From: ss.State, To: protocol.SessionEnded, Reason: reason, At: now})
		if err != nil {
			if !errors.Is(err, store.ErrConflict) {
				s.log.Error("sweep session", "session_id", ss.ID, "err", err)
			}
			continue
		}
		s.stateChanged(ctx, ss, next, "server")
	}
}

func timeSeconds(n int) time.Duration { return time.Duration(n) * time.Second }
