package session

import "errors"

// defaultChatWindow: notices only, until a native window exists.
func defaultChatWindow(cfg ChatWindowConfig) (ChatWindow, error) { return newNoticeChat(cfg), nil }

func defaultClipboard() (Clipboard, error) {
	return nil, errors.New("clipboard sync is not implemented on Windows yet")
}

func defaultOverlay() (Overlay, error) {
	return nil, errors.New("the guidance overlay is not implemented on Windows yet")
}
