package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"

	"github.com/tetherdesk/tether/agent/config"
	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/agent/session"
	"github.com/tetherdesk/tether/agent/supervisor"
	"github.com/tetherdesk/tether/shared/policy"
	"github.com/tetherdesk/tether/shared/protocol"
)

// serviceTools runs the support tools the service serves itself, with the
// system's rights: a shell as root (SYSTEM on Windows), processes,
// services and files. A session helper runs as the desktop's user and
// must never hold them; the user is asked, and sees the session bar,
// through the helper (supervisor.AskTool, ShowTool). Every other session
// goes to the helpers as before.
type serviceTools struct {
	ctx    context.Context // the service's: its end ends the tools' sessions
	sup    *supervisor.Supervisor
	cfg    config.Config
	policy func() policy.ScreenShare
	log    *slog.Logger

	mu      sync.Mutex
	running map[string]bool
	wg      sync.WaitGroup
}

// inService are the tools the service runs rather than a helper: they
// act with the system's rights.
var inService = []string{protocol.ToolTerminalSystem, protocol.ToolProcesses, protocol.ToolServices, protocol.ToolFilesSystem}

// serviceToolNames are the tools run here: only where the service runs as
// root (elsewhere they would be no administrator's).
func serviceToolNames() []string {
	if !runsAsAdministrator() {
		return nil
	}
	return inService
}

// handle is the action handler of screenshare.start.
func (t *serviceTools) handle(ctx context.Context, payload json.RawMessage) (any, error) {
	var start protocol.ScreenShareStart
	if err := json.Unmarshal(payload, &start); err != nil {
		return nil, fmt.Errorf("decoding screenshare.start payload: %w", err)
	}
	if !slices.Contains(inService, start.Tool) {
		return t.sup.Handle(ctx, payload)
	}
	if start.SessionID == "" || start.AgentToken == "" {
		return nil, errors.New("screenshare.start payload lacks session_id or agent_token")
	}
	t.mu.Lock()
	if t.running == nil {
		t.running = map[string]bool{}
	}
	dup := t.running[start.SessionID]
	t.running[start.SessionID] = true
	t.mu.Unlock()
	if !dup {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			t.run(start)
			t.mu.Lock()
			delete(t.running, start.SessionID)
			t.mu.Unlock()
		}()
	}
	return supervisor.HandOutput{HandedOver: true, Desktop: "service"}, nil
}

func (t *serviceTools) run(start protocol.ScreenShareStart) {
	pol := t.policy()
	var proxy *url.URL
	if u, err := url.Parse(t.cfg.Server); err == nil {
		proxy, _ = t.cfg.Proxy.For(u)
	}
	log := t.log.With("session_id", start.SessionID, "tool", start.Tool)
	log.Info("support tool session starting in the service")
	reason, err := session.Run(t.ctx, session.Config{
		Start: start, Server: t.cfg.Server, Fingerprint: t.cfg.Fingerprint, Proxy: proxy, Policy: pol,
		UI:     toolUI{sup: t.sup, start: start, pol: pol},
		Tools:  serviceToolNames(),
		NoUser: !t.sup.HasUser(),
		Logger: t.log,
	})
	if err != nil {
		log.Warn("support tool session failed", "reason", reason, "error", err)
		return
	}
	log.Info("support tool session ended", "reason", reason)
}

// wait waits for the tools' sessions, which end with the service's ctx.
func (t *serviceTools) wait() { t.wg.Wait() }

// toolUI asks and shows through the desktop's helper.
type toolUI struct {
	sup   *supervisor.Supervisor
	start protocol.ScreenShareStart
	pol   policy.ScreenShare
}

func (u toolUI) info(timeoutS int, mayEnd bool) ipc.ToolInfo {
	return ipc.ToolInfo{Technician: u.start.Technician, Tool: u.start.Tool, TimeoutS: timeoutS, MayEnd: mayEnd}
}

// Ask implements session.UI. A user who logged off since the session
// was planned cannot be asked: then the policy's tools_without_user
// decides.
func (u toolUI) Ask(ctx context.Context, req session.AskRequest) (session.Answer, error) {
	ok, err := u.sup.AskTool(ctx, req.SessionID, u.info(req.TimeoutS, false))
	if errors.Is(err, supervisor.ErrNobodyToAsk) {
		if u.pol.ToolsWithoutUser {
			return session.Answer{Accepted: true}, nil
		}
		return session.Answer{}, fmt.Errorf("%w, and its policy opens no support tools then (screenshare.tools_without_user)", err)
	}
	return session.Answer{Accepted: ok}, err
}

// Live implements session.UI.
func (u toolUI) Live(ctx context.Context, l session.LiveInfo) {
	u.sup.ShowTool(ctx, u.start.SessionID, u.info(0, l.MayEnd), l.End)
}
