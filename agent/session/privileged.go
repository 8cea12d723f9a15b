package session

import (
	"context"
	"errors"
	"slices"

	"github.com/tetherdesk/tether/shared/protocol"
)

// The one rule for a helper that runs as root (LocalSystem on Windows), or
// on a login screen whatever account draws it, Config.Privileged: a
// technician may drive whatever the endpoint shows,
// and nothing a root process shows may lead into the file system or run
// anything. So such a session shows no window but the acceptance prompts
// (the session's, and a mode change's: questions with buttons, never a
// file chooser) — no chat window and so no "Send file…" picker, no
// notices, no end-session dialog — and offers neither chat nor file
// transfer, to or from the endpoint. The helper shows no tray icon or menu
// either (RunHelper). Viewers read why in the "mode" message's Notice.

// PrivilegedNotice is what viewers are told of a privileged session.
const PrivilegedNotice = "The endpoint shows its login screen (or its session helper runs with administrator rights): " +
	"chat and file transfer are off, and it shows no window but the acceptance prompt."

// ErrPrivileged refuses a window to a privileged session.
// ErrPrivileged is what a privileged helper answers where a window would
// open.
var ErrPrivileged = errors.New("the session helper runs with administrator rights: it opens no windows but the acceptance prompt")

// dialogFeatures are the features that need a window on the endpoint
// (chat: the chat window; files: the chat window's picker, the Downloads
// folder).
var dialogFeatures = []string{protocol.FeatureChat, protocol.FeatureFile}

// features is what mode offers in this session: features() of the policy,
// less dialogFeatures when privileged.
func (s *Session) features(mode protocol.Mode) []string {
	f := features(mode, s.cfg.Policy)
	if s.cfg.Privileged {
		f = slices.DeleteFunc(f, func(x string) bool { return slices.Contains(dialogFeatures, x) })
	}
	return f
}

// noFilesWhy says why files do not go through now.
func (s *Session) noFilesWhy() string {
	if s.cfg.Privileged {
		return "file transfer is off: " + PrivilegedNotice
	}
	return "file transfer is not allowed in this session's mode"
}

// applyPrivileged enforces the rule on a config (CheckAndSetDefaults).
func (c *Config) applyPrivileged() {
	if !c.Privileged {
		return
	}
	c.UI = promptOnlyUI{c.UI}
	c.NewChatWindow = func(ChatWindowConfig) (ChatWindow, error) { return nil, ErrPrivileged }
	c.OnLive = nil // the tray's controls: open chat
}

// promptOnlyUI is a privileged session's UI: the prompts, and nothing
// else. It is no Notifier: notices are not shown.
type promptOnlyUI struct{ ui UI }

// Ask implements UI: the acceptance prompt.
func (u promptOnlyUI) Ask(ctx context.Context, req AskRequest) (Answer, error) {
	return u.ui.Ask(ctx, req)
}

// AskMode implements ModeAsker: a mode change's acceptance prompt.
func (u promptOnlyUI) AskMode(ctx context.Context, req ModeRequest) (bool, error) {
	if ma, ok := u.ui.(ModeAsker); ok {
		return ma.AskMode(ctx, req)
	}
	return false, nil
}

// Live implements UI: no notice, no end-session dialog.
func (u promptOnlyUI) Live(ctx context.Context, _ LiveInfo) { <-ctx.Done() }
