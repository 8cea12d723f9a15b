package session

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tetherdesk/tether/shared/protocol"
)

// recordingUI is a UI that records every window the session asks it for.
type recordingUI struct {
	*fakeUI
	lives chan struct{}
}

func (u *recordingUI) Live(ctx context.Context, l LiveInfo) {
	u.lives <- struct{}{}
	u.fakeUI.Live(ctx, l)
}

// TestPrivilegedConfig: the rule for a helper running as root is applied
// to every session in one place: no chat window (so no "Send file…"
// picker), no notices, no end-session dialog, no tray controls; the
// acceptance prompts pass.
func TestPrivilegedConfig(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: true, Mode: protocol.ModeActive}, unattendedPolicy())
	cfg := h.cfg
	cfg.Privileged = true
	cfg.OnLive = func(LiveControls) { t.Error("the tray's controls were offered") }
	if err := cfg.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	if w, err := cfg.NewChatWindow(ChatWindowConfig{}); w != nil || !errors.Is(err, ErrPrivileged) {
		t.Errorf("a privileged session's chat window: %v, %v", w, err)
	}
	if _, ok := cfg.UI.(Notifier); ok {
		t.Error("a privileged session's UI shows notices")
	}
	if _, ok := cfg.UI.(ModeAsker); !ok {
		t.Error("a privileged session cannot ask about a mode change")
	}
	if cfg.OnLive != nil {
		t.Error("a privileged session offers the tray's controls")
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		req := <-h.ui.asked
		h.ui.answers <- Answer{Accepted: true, Mode: req.Mode}
	}()
	if ans, err := cfg.UI.Ask(ctx, AskRequest{Mode: protocol.ModeActive}); err != nil || !ans.Accepted {
		t.Errorf("the acceptance prompt: %+v, %v", ans, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		cfg.UI.Live(ctx, LiveInfo{Technician: "Tess Tech", MayEnd: true, End: func() { t.Error("ended from a dialog") }})
	}()
	cancel()
	<-done
	if len(h.ui.live) != 0 {
		t.Error("a privileged session showed the live notice or the end-session dialog")
	}
	// Unprivileged, everything is as before.
	cfg = h.cfg
	if err := cfg.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.UI.(*fakeUI); !ok {
		t.Errorf("an unprivileged session's UI was replaced: %T", cfg.UI)
	}
}

// TestPrivilegedSessionShowsOnlyThePrompt: a session in a helper running
// as root asks the user (the acceptance prompt is the one window), then
// offers no chat and no file transfer and tells the viewers why; a file
// offered to the endpoint is refused, a technician's chat line opens no
// window, nothing lands in Downloads, and the user sees no notice and no
// end-session dialog.
func TestPrivilegedSessionShowsOnlyThePrompt(t *testing.T) {
	for _, mode := range []protocol.Mode{protocol.ModeActive, protocol.ModeChat, protocol.ModeFile} {
		t.Run(string(mode), func(t *testing.T) {
			pol := unattendedPolicy()
			pol.FileTransfer, pol.ClipboardSync = true, true
			h := newHarness(t, protocol.ScreenShareStart{Attended: true, Mode: mode, AcceptanceTimeoutS: 30}, pol)
			ui := &recordingUI{fakeUI: h.ui, lives: make(chan struct{}, 1)}
			h.cfg.UI = ui
			h.cfg.Privileged = true
			a := h.run()
			a.expectState(protocol.SessionAwaitingAcceptance, "")
			if req := <-h.ui.asked; req.Mode != mode {
				t.Errorf("the prompt asked for %q", req.Mode)
			}
			h.ui.answers <- Answer{Accepted: true, Mode: mode}
			a.expectState(protocol.SessionConnecting, "")
			v := joinViewer(t, a, helloWith(mode, "v1=Tess Tech"))
			m := v.nextControl("mode")
			if slices.Contains(m.Features, protocol.FeatureChat) || slices.Contains(m.Features, protocol.FeatureFile) {
				t.Errorf("a privileged session offers %v", m.Features)
			}
			if m.Notice != PrivilegedNotice {
				t.Errorf("the viewer was told %q, want %q", m.Notice, PrivilegedNotice)
			}
			if mode == protocol.ModeActive && !slices.Contains(m.Features, protocol.FeatureClipboard) {
				t.Errorf("the clipboard (no window) should stay: %v", m.Features)
			}

			// A technician's chat line: no window, no echo, no report.
			v.say("Please open a terminal")
			// A technician's file: refused, saying why.
			data, sum := randomBytes(t, 1000)
			v.sendFileMsg(protocol.FileMsg{T: protocol.FileOffer, ID: 1, Name: "tool.sh", Size: int64(len(data)), SHA256: sum})
			if r := v.fileMsg(); r.T != protocol.FileReject || !strings.Contains(r.Error, "administrator rights") {
				t.Errorf("a file offered to a privileged session: %+v", r)
			}
			// The session ends (the technician).
			a.send(protocol.Signal{Type: protocol.SignalEnd, Reason: protocol.EndedByTechnician})
			h.ended(wait)

			h.chat.mu.Lock()
			opened := h.chat.opened
			h.chat.mu.Unlock()
			if opened != 0 {
				t.Errorf("a privileged session opened the chat window (and its file picker) %d times", opened)
			}
			if n := len(ui.lives) + len(h.ui.live); n != 0 {
				t.Error("a privileged session showed the live notice or the end-session dialog")
			}
			if n := len(h.ui.notices); n != 0 {
				t.Errorf("a privileged session showed %d notices", n)
			}
			if ents, _ := os.ReadDir(h.cfg.Downloads); len(ents) != 0 {
				t.Errorf("a privileged session wrote to Downloads: %v", ents)
			}
			for s := range a.after { // until the agent's websocket closes
				if s.Type == protocol.SignalChat || s.Type == protocol.SignalFile {
					t.Errorf("a privileged session reported %+v", s)
				}
			}
		})
	}
}
