//go:build !windows

package desktop

import (
	"log/slog"

	"github.com/tetherdesk/tether/agent/session"
)

// NewChatWindow is the Tk window, or notices where wish is missing.
func NewChatWindow(cfg session.ChatWindowConfig) (session.ChatWindow, error) {
	return chatOrNotices(cfg, newTkChat), nil
}

// NewUI is what the end user sees of a session: zenity's dialogs.
func NewUI(log *slog.Logger) session.UI { return ZenityUI{Log: log} }

// newLiveBar is the session bar: a Tk window.
func newLiveBar(l session.LiveInfo, log *slog.Logger) (sessionBar, error) { return newTkBar(l, log) }
