package app

import (
	"context"
	"errors"
	"sync"
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

// orphanMargin is added to a session's agent grace before the sweep ends
// it as unserved: the node that holds the grace ends it first.
const orphanMargin = 30 * time.Second

// orphanAsks bounds the sweep's questions to the other nodes in flight.
const orphanAsks = 16

// servedChecker is what SweepOrphans needs of the signalling hub.
type servedChecker interface {
	// Served reports whether some node has one of the session's sockets.
	Served(sessionID string) bool
}

// SweepOrphans ends active sessions that no node has served for longer
// than their agent grace: their helper and viewers sat on a node that
// died (or on this one before it restarted) and never came back, so no
// node's timer is left to end them. Each node sweeps; the first to end a
// session wins and the others' transitions conflict.
func (s *Service) SweepOrphans(ctx context.Context) {
	sv, ok := s.cfg.Events.(servedChecker)
	if !ok {
		return
	}
	list, err := s.store.ListSessions(ctx, store.SessionFilter{ActiveOnly: true, Limit: 100000})
	if err != nil {
		s.log.Error("sweep unserved sessions", "err", err)
		return
	}
	// Ask about all of them at once (bounded): one nobody serves costs
	// a second's wait for answers.
	var active []store.ScreenSession
	for _, ss := range list {
		if ss.State == protocol.SessionActive {
			active = append(active, ss)
		}
	}
	served := make([]bool, len(active))
	sem := make(chan struct{}, orphanAsks)
	var wg sync.WaitGroup
	for i, ss := range active {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			served[i] = sv.Served(ss.ID)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // stopping: what was asked may be cut short
	}
	s.orphanMu.Lock()
	defer s.orphanMu.Unlock()
	// Only active sessions still unserved stay in the record.
	since := map[string]time.Time{}
	now := s.now().UTC()
	for i, ss := range active {
		if served[i] {
			continue
		}
		first, ok := s.orphans[ss.ID]
		if !ok {
			since[ss.ID] = now
			continue
		}
		if now.Sub(first) < s.AgentGrace(ctx, ss.ID)+orphanMargin {
			since[ss.ID] = first
			continue
		}
		next, err := s.store.TransitionSession(ctx, store.SessionTransition{ID: ss.ID, From: ss.State, To: protocol.SessionEnded, Reason: protocol.EndedConnectionLost, At: now})
		if err != nil {
			if !errors.Is(err, store.ErrConflict) {
				s.log.Error("end an unserved session", "session_id", ss.ID, "err", err)
			}
			continue
		}
		s.log.Info("session ended: no node has served it since its peers' node went away", "session_id", ss.ID, "since", first)
		s.stateChanged(ctx, ss, next, "server")
	}
	s.orphans = since
}
