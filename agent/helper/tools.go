package helper

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/agent/session"
	"github.com/tetherdesk/tether/shared/protocol"
)

// serviceTools shows the end user what of a support tool the service
// runs itself (a root shell): its question, with remote input held back
// like any other (consentGate), and its session bar, whose End session
// goes back to the service. A privileged helper (a login screen) has
// nobody to ask and shows nothing.
type serviceTools struct {
	ctx        context.Context
	ui         session.UI
	gate       *consentGate
	send       func(ipc.Msg) error
	privileged bool
	log        *slog.Logger

	mu      sync.Mutex
	showing map[string]context.CancelFunc // session id → its prompt or bar
	wg      sync.WaitGroup
}

// defaultToolAsk bounds a question the service sent without a timeout.
const defaultToolAsk = 60 * time.Second

func (t *serviceTools) ask(m ipc.Msg) {
	reply := ipc.Msg{Type: ipc.TypeToolAnswer, ReqID: m.ReqID}
	if t.privileged || t.ui == nil {
		reply.Error = "nobody is logged on to this desktop"
		t.reply(reply)
		return
	}
	wait := time.Duration(m.Tool.TimeoutS) * time.Second
	if wait <= 0 {
		wait = defaultToolAsk
	}
	ctx, cancel := context.WithTimeout(t.ctx, wait)
	t.track(m.SessionID, cancel)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer t.untrack(m.SessionID, cancel)
		release := t.gate.hold()
		ans, err := t.ui.Ask(ctx, session.AskRequest{SessionID: m.SessionID, Technician: m.Tool.Technician, Tool: m.Tool.Tool, TimeoutS: m.Tool.TimeoutS})
		release()
		reply.Accepted = err == nil && ans.Accepted
		if err != nil && ctx.Err() == nil {
			reply.Error = err.Error()
		}
		t.reply(reply)
	}()
}

func (t *serviceTools) live(m ipc.Msg) {
	if t.privileged || t.ui == nil {
		return
	}
	ctx, cancel := context.WithCancel(t.ctx)
	t.track(m.SessionID, cancel)
	id := m.SessionID
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer t.untrack(id, cancel)
		t.ui.Live(ctx, session.LiveInfo{Technician: m.Tool.Technician, Tool: m.Tool.Tool, MayEnd: m.Tool.MayEnd,
			End: func() {
				t.reply(ipc.Msg{Type: ipc.TypeState, SessionID: id, State: protocol.SessionEnded, Reason: protocol.EndedByUser})
			}})
	}()
}

// end takes down a session's prompt or bar (ipc.TypeEnd).
func (t *serviceTools) end(sessionID string) {
	t.mu.Lock()
	cancel := t.showing[sessionID]
	t.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (t *serviceTools) track(id string, cancel context.CancelFunc) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.showing[id]; old != nil {
		old() // the bar replaces the question
	}
	if t.showing == nil {
		t.showing = map[string]context.CancelFunc{}
	}
	t.showing[id] = cancel
}

func (t *serviceTools) untrack(id string, cancel context.CancelFunc) {
	cancel()
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.showing, id) // a newer one has its own entry only if it replaced this
}

func (t *serviceTools) reply(m ipc.Msg) {
	if err := t.send(m); err != nil && t.ctx.Err() == nil {
		t.log.Debug("answering the service about a support tool", "error", err)
	}
}
