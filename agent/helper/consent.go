package helper

import (
	"sync/atomic"

	"github.com/tetherdesk/tether/agent/session"
	"github.com/tetherdesk/tether/shared/protocol"
)

// consentGate holds back every session's remote input while any session
// of this desktop asks the end user something (the acceptance prompt, a
// mode change): a technician controlling one session must not be able to
// click "Accept" in another's prompt, or "Allow" in their own mode
// question, with injected input. Only the user's own hands answer.
type consentGate struct{ asking atomic.Int32 }

// hold marks a question as shown until the returned func is called.
func (g *consentGate) hold() func() {
	g.asking.Add(1)
	return func() { g.asking.Add(-1) }
}

func (g *consentGate) held() bool { return g.asking.Load() > 0 }

// injector wraps a session's injector with the gate. Releases still go
// through, so that a key or button held when a question appears does not
// stay stuck down; a release alone presses no button.
func (g *consentGate) injector(newInj func() (session.Injector, error)) func() (session.Injector, error) {
	return func() (session.Injector, error) {
		inj, err := newInj()
		if err != nil {
			return nil, err
		}
		return gatedInjector{Injector: inj, gate: g}, nil
	}
}

type gatedInjector struct {
	session.Injector
	gate *consentGate
}

// Apply implements session.Injector.
func (i gatedInjector) Apply(ev protocol.InputEvent, mon protocol.Monitor) error {
	if i.gate.held() && !isRelease(ev) {
		return nil
	}
	return i.Injector.Apply(ev, mon)
}

func isRelease(ev protocol.InputEvent) bool {
	return ev.T == "up" || (ev.T == "key" && !ev.Down)
}
