package desktop

import (
	"log/slog"

	"github.com/tetherdesk/tether/agent/session"
)

// NewChatWindow is the Win32 chat window, or notices where none can be made.
func NewChatWindow(cfg session.ChatWindowConfig) (session.ChatWindow, error) {
	return chatOrNotices(cfg, newWinChat), nil
}

// NewClipboard is the Windows text clipboard, with a change listener.
func NewClipboard() (session.Clipboard, error) { return newWinClipboard() }

// NewOverlay is the Guidance overlay: layered, click-through, topmost
// windows.
func NewOverlay() (session.Overlay, error) { return newWinOverlay() }

// NewUI is what the end user sees of a session: Win32 dialogs.
func NewUI(log *slog.Logger) session.UI { return WinUI{ZenityUI{Log: log}} }

// newLiveBar is the session bar: a Win32 tool window.
func newLiveBar(l session.LiveInfo, log *slog.Logger) (sessionBar, error) { return newWinBar(l, log) }
