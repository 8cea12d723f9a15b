package session

import (
	"slices"
	"testing"

	"github.com/tetherdesk/tether/shared/policy"
	"github.com/tetherdesk/tether/shared/protocol"
)

const (
	mActive   = protocol.ModeActive
	mGuidance = protocol.ModeGuidance
	mMonitor  = protocol.ModeMonitor
	mChat     = protocol.ModeChat
	mFile     = protocol.ModeFile
)

func policyWith(modes ...protocol.Mode) policy.ScreenShare {
	p := policy.Default()
	p.Modes = modes
	return p
}

// TestModePlan: the mode a session starts in, and the choices the prompt
// offers, for each policy and request.
func TestModePlan(t *testing.T) {
	for _, tc := range []struct {
		name      string
		policy    []protocol.Mode // modes the endpoint's policy enables, any order
		allowed   []protocol.Mode // the server's AllowedModes (nil: not sent)
		requested protocol.Mode
		want      protocol.Mode
		alts      []protocol.Mode
		wantErr   bool
	}{
		{"all enabled, none asked: active first", []protocol.Mode{mFile, mChat, mMonitor, mGuidance, mActive}, nil, "", mActive, []protocol.Mode{mGuidance, mMonitor, mChat, mFile}, false},
		{"no active: guidance", []protocol.Mode{mFile, mMonitor, mGuidance}, nil, "", mGuidance, []protocol.Mode{mMonitor, mFile}, false},
		{"no screen modes: chat", []protocol.Mode{mFile, mChat}, nil, "", mChat, []protocol.Mode{mFile}, false},
		{"file only", []protocol.Mode{mFile}, nil, "", mFile, nil, false},
		{"monitor asked and enabled", []protocol.Mode{mActive, mMonitor}, nil, mMonitor, mMonitor, []protocol.Mode{mActive}, false},
		{"active asked but disabled here: first enabled", []protocol.Mode{mMonitor, mChat}, nil, mActive, mMonitor, []protocol.Mode{mChat}, false},
		{"unknown asked: first enabled", []protocol.Mode{mMonitor}, nil, "teleport", mMonitor, nil, false},
		{"server narrows the choices", []protocol.Mode{mActive, mGuidance, mMonitor, mChat, mFile}, []protocol.Mode{mMonitor, mChat}, mMonitor, mMonitor, []protocol.Mode{mChat}, false},
		{"server's modes all disabled here", []protocol.Mode{mActive}, []protocol.Mode{mChat}, mChat, "", nil, true},
		{"server allows what policy does not", []protocol.Mode{mChat}, []protocol.Mode{mActive, mChat}, mActive, mChat, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planModes(protocol.ScreenShareStart{Mode: tc.requested, AllowedModes: tc.allowed}, policyWith(tc.policy...))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if p.Mode != tc.want || !slices.Equal(p.Alternatives, tc.alts) {
				t.Errorf("plan = %q with alternatives %v; want %q with %v", p.Mode, p.Alternatives, tc.want, tc.alts)
			}
		})
	}
}

// TestPromptChoice: what the user picks on the prompt becomes the mode
// only when it is one of the alternatives.
func TestPromptChoice(t *testing.T) {
	p, err := planModes(protocol.ScreenShareStart{Mode: mActive}, policyWith(mActive, mMonitor, mChat))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ answer, want protocol.Mode }{
		{"", mActive},
		{mActive, mActive},
		{mMonitor, mMonitor},
		{mChat, mChat},
		{mGuidance, mActive}, // not enabled: the plan's mode
		{"bogus", mActive},
	} {
		if got := p.chosen(tc.answer); got != tc.want {
			t.Errorf("answer %q: mode %q, want %q", tc.answer, got, tc.want)
		}
	}
}

// TestModeChange: a technician's request during the session, against the
// policy and whether the user must accept.
func TestModeChange(t *testing.T) {
	for _, tc := range []struct {
		name       string
		policy     []protocol.Mode
		acceptance bool
		attended   bool
		current    protocol.Mode
		requested  protocol.Mode
		wantAsk    bool
		wantErr    bool
	}{
		{"attended, acceptance on: ask", []protocol.Mode{mActive, mMonitor}, true, true, mMonitor, mActive, true, false},
		{"attended, acceptance off: no question", []protocol.Mode{mActive, mMonitor}, false, true, mMonitor, mActive, false, false},
		{"unattended: no question", []protocol.Mode{mActive, mMonitor}, true, false, mActive, mMonitor, false, false},
		{"disabled mode", []protocol.Mode{mActive, mMonitor}, true, true, mActive, mChat, false, true},
		{"same mode", []protocol.Mode{mActive, mMonitor}, true, true, mActive, mActive, false, true},
		{"unknown mode", []protocol.Mode{mActive}, true, true, mActive, "x", false, true},
		{"to chat", []protocol.Mode{mMonitor, mChat}, true, true, mMonitor, mChat, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := policyWith(tc.policy...)
			pol.AcceptanceRequired = tc.acceptance
			p, err := planModes(protocol.ScreenShareStart{Mode: tc.current}, pol)
			if err != nil {
				t.Fatal(err)
			}
			ask, err := checkModeChange(p, pol, tc.attended, tc.current, tc.requested)
			if (err != nil) != tc.wantErr || ask != tc.wantAsk {
				t.Errorf("checkModeChange = %v, %v; want ask %v, error %v", ask, err, tc.wantAsk, tc.wantErr)
			}
		})
	}
}

// TestFeatures: what each mode offers under a policy.
func TestFeatures(t *testing.T) {
	all := policy.Default()
	none := policy.Default()
	none.FileTransfer, none.ClipboardSync = false, false
	for _, tc := range []struct {
		mode protocol.Mode
		pol  policy.ScreenShare
		want []string
	}{
		{mActive, all, []string{"chat", "file", "clipboard"}},
		{mActive, none, []string{"chat"}},
		{mGuidance, all, []string{"chat", "guidance"}},
		{mMonitor, all, []string{"chat"}},
		{mChat, all, []string{"chat"}},
		{mFile, all, []string{"chat", "file"}},
		{mFile, none, []string{"chat"}},
	} {
		if got := features(tc.mode, tc.pol); !slices.Equal(got, tc.want) {
			t.Errorf("features(%s) = %v, want %v", tc.mode, got, tc.want)
		}
	}
	for _, m := range protocol.Modes {
		if hasScreen(m) != (m == mActive || m == mGuidance || m == mMonitor) {
			t.Errorf("hasScreen(%s) = %v", m, hasScreen(m))
		}
	}
}
