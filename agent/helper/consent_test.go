package helper

import (
	"context"
	"testing"

	"github.com/tetherdesk/tether/agent/session"
	"github.com/tetherdesk/tether/shared/protocol"
)

type recInjector struct{ got []protocol.InputEvent }

func (r *recInjector) Apply(ev protocol.InputEvent, _ protocol.Monitor) error {
	r.got = append(r.got, ev)
	return nil
}
func (r *recInjector) Close() error { return nil }

// askingUI is a UI whose prompt calls during while it is shown.
type askingUI struct {
	session.UI
	during func()
}

func (u askingUI) Ask(context.Context, session.AskRequest) (session.Answer, error) {
	u.during()
	return session.Answer{}, nil
}

func (u askingUI) AskMode(context.Context, session.ModeRequest) (bool, error) {
	u.during()
	return false, nil
}

// TestConsentGate: while any session of the desktop shows the acceptance
// prompt or a mode question, no session's remote presses, moves, text or
// combinations reach the desktop (a technician in one session cannot
// click "Accept" in another's prompt); releases still do, so nothing
// stays stuck down; afterwards all input flows again.
func TestConsentGate(t *testing.T) {
	gate := &consentGate{}
	rec := &recInjector{}
	inj, err := gate.injector(func() (session.Injector, error) { return rec, nil })()
	if err != nil {
		t.Fatal(err)
	}
	press := []protocol.InputEvent{
		{T: "move", X: 10, Y: 10}, {T: "down", Button: 0}, {T: "key", Key: "Enter", Down: true},
		{T: "text", Text: "y"}, {T: "combo", Combo: "ctrl-alt-del"}, {T: "wheel", DY: 1},
	}
	release := []protocol.InputEvent{{T: "up", Button: 0}, {T: "key", Key: "Enter"}}
	send := func() {
		for _, ev := range append(append([]protocol.InputEvent{}, press...), release...) {
			if err := inj.Apply(ev, protocol.Monitor{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, ask := range []struct {
		name string
		call func(u *trayUI)
	}{
		{"prompt", func(u *trayUI) { u.Ask(context.Background(), session.AskRequest{}) }},
		{"mode question", func(u *trayUI) { u.AskMode(context.Background(), session.ModeRequest{}) }},
	} {
		rec.got = nil
		u := &trayUI{UI: askingUI{during: send}, gate: gate}
		ask.call(u)
		if len(rec.got) != len(release) {
			t.Errorf("during the %s, %d events reached the desktop (%v), want only the %d releases", ask.name, len(rec.got), rec.got, len(release))
		}
		rec.got = nil
		send()
		if len(rec.got) != len(press)+len(release) {
			t.Errorf("after the %s, %d of %d events reached the desktop", ask.name, len(rec.got), len(press)+len(release))
		}
	}
}
