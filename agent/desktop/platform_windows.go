package desktop

import (
	"errors"

	"github.com/tetherdesk/tether/agent/session"
)

// NewChatWindow: notices only, until a native window exists.
func NewChatWindow(cfg session.ChatWindowConfig) (session.ChatWindow, error) {
	return newNoticeChat(cfg), nil
}

func NewClipboard() (session.Clipboard, error) {
	return nil, errors.New("clipboard sync is not implemented on Windows yet")
}

func NewOverlay() (session.Overlay, error) {
	return nil, errors.New("the guidance overlay is not implemented on Windows yet")
}
