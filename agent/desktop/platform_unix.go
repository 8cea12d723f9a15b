//go:build !windows

package desktop

import "github.com/tetherdesk/tether/agent/session"

// NewChatWindow is the Tk window, or notices where wish is missing.
func NewChatWindow(cfg session.ChatWindowConfig) (session.ChatWindow, error) {
	w, err := newTkChat(cfg)
	if err != nil {
		if cfg.Logger != nil {
			cfg.Logger.Warn("chat window unavailable; technicians' lines become notices", "error", err)
		}
		return newNoticeChat(cfg), nil
	}
	return w, nil
}
