package supervisor

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tetherdesk/tether/agent/client"
	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/agent/runner"
	"github.com/tetherdesk/tether/shared/protocol"
)

// redeemTimeout bounds one connection code's trip to the server, so that a
// helper's dialog never waits forever.
const redeemTimeout = 30 * time.Second

// SetServerState records whether the server answers the agent's polls;
// every connected helper is told (their tray icons show it). The runner
// calls it on each change; it does not block: a helper that does not read
// must not hold up the poll loop.
func (s *Supervisor) SetServerState(connected bool) {
	st := ipc.ServerDisconnected
	if connected {
		st = ipc.ServerConnected
	}
	s.mu.Lock()
	was := s.serverState
	s.serverState = st
	s.mu.Unlock()
	if was != st {
		s.log.Info("server state", "state", st)
	}
	select {
	case s.statusKick <- struct{}{}:
	default: // a broadcast is due already; it sends the newest state
	}
}

// statusLoop tells the helpers each new server state until ctx ends.
func (s *Supervisor) statusLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.statusKick:
		}
		s.statusMu.Lock()
		s.mu.Lock()
		st := s.serverState
		conns := make(map[string]*ipc.Conn, len(s.helpers))
		for k, h := range s.helpers {
			if h.conn != nil {
				conns[k] = h.conn
			}
		}
		s.mu.Unlock()
		for key, c := range conns {
			if err := c.Send(s.statusMsg(st)); err != nil {
				s.log.Debug("telling a helper the server state", "desktop", key, "error", err)
			}
		}
		s.statusMu.Unlock()
	}
}

func (s *Supervisor) statusMsg(state string) ipc.Msg {
	return ipc.Msg{Type: ipc.TypeStatus, ServerState: state, Server: s.cfg.Server}
}

// sendStatus tells a helper that just connected the server state as it is.
// Under statusMu, so that it cannot overtake a newer state on its way.
func (s *Supervisor) sendStatus(c *ipc.Conn, key string) {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	s.mu.Lock()
	st := s.serverState
	s.mu.Unlock()
	if err := c.Send(s.statusMsg(st)); err != nil {
		s.log.Debug("telling a helper the server state", "desktop", key, "error", err)
	}
}

// redeemCode answers a helper's connection code (the tray's "Enter
// Connection Code…"). The helper runs as the desktop user and cannot sign
// with the agent's secret; the service does it for the helper of the
// active desktop only, since the session it starts goes to that desktop.
// The code itself is never logged.
func (s *Supervisor) redeemCode(ctx context.Context, key, code string) ipc.CodeResult {
	log := s.log.With("desktop", key)
	s.mu.Lock()
	active, _, _ := s.activeLocked()
	s.mu.Unlock()
	if active != key {
		log.Warn("connection code entered on a desktop that is not the active one; refused")
		return ipc.CodeResult{Outcome: ipc.CodeRefused, Message: "connection codes can only be entered on the desktop in front of the user"}
	}
	digits, err := protocol.ParseCode(code)
	if err != nil {
		return ipc.CodeResult{Outcome: ipc.CodeWrong}
	}
	if s.cfg.RedeemCode == nil {
		return ipc.CodeResult{Outcome: ipc.CodeFailed, Message: "this agent cannot check connection codes"}
	}
	rctx, cancel := context.WithTimeout(ctx, redeemTimeout)
	defer cancel()
	resp, err := s.cfg.RedeemCode(rctx, digits)
	if err == nil && resp.Start != nil && resp.Start.SessionID == resp.SessionID {
		// Start the session now rather than when the poll brings the same
		// screenshare.start (the poll's copy then finds it held).
		if _, herr := s.handOver(ctx, *resp.Start); herr != nil {
			log.Warn("handing the code's session to the helper; the poll will bring it again", "session_id", resp.SessionID, "error", herr)
		}
	}
	res := codeResult(resp, err)
	attrs := []any{"outcome", res.Outcome}
	if res.SessionID != "" {
		attrs = append(attrs, "session_id", res.SessionID, "technician", res.Technician)
	}
	if err != nil && res.Outcome == ipc.CodeFailed {
		attrs = append(attrs, "error", err)
	}
	log.Info("connection code entered from the tray", attrs...)
	return res
}

// codeResult turns the server's answer into what the tray shows.
func codeResult(resp protocol.RedeemCodeResponse, err error) ipc.CodeResult {
	if err == nil {
		return ipc.CodeResult{Outcome: ipc.CodeAccepted, SessionID: resp.SessionID, Technician: resp.Technician,
			Mode: resp.Mode, Attended: resp.Attended}
	}
	if errors.Is(err, runner.ErrNotEnrolled) {
		return ipc.CodeResult{Outcome: ipc.CodeFailed, Message: "this computer is not enrolled with the server yet"}
	}
	var ae *client.APIError
	if !errors.As(err, &ae) {
		return ipc.CodeResult{Outcome: ipc.CodeFailed, Message: "the server could not be reached; check the network connection"}
	}
	switch {
	case ae.Code == protocol.CodeWrongCode || ae.Code == protocol.CodeBadRequest:
		return ipc.CodeResult{Outcome: ipc.CodeWrong}
	case ae.Code == protocol.CodeExpiredCode:
		return ipc.CodeResult{Outcome: ipc.CodeExpired}
	case ae.Code == protocol.CodeThrottled || ae.Status == http.StatusTooManyRequests:
		return ipc.CodeResult{Outcome: ipc.CodeThrottled, Message: ae.Message}
	case ae.Code == protocol.CodeForbidden:
		return ipc.CodeResult{Outcome: ipc.CodeRefused, Message: ae.Message}
	case ae.Code == protocol.CodeBadSecret || ae.Status == http.StatusUnauthorized:
		return ipc.CodeResult{Outcome: ipc.CodeFailed, Message: "the server does not accept this computer's credentials; contact your IT department"}
	default:
		msg := ae.Message
		if msg == "" {
			msg = http.StatusText(ae.Status)
		}
		return ipc.CodeResult{Outcome: ipc.CodeFailed, Message: "the server could not check the code: " + msg}
	}
}
