//go:build !windows

package session

// defaultChatWindow is the Tk window, or notices where wish is missing.
func defaultChatWindow(cfg ChatWindowConfig) (ChatWindow, error) {
	w, err := newTkChat(cfg)
	if err != nil {
		if cfg.Logger != nil {
			cfg.Logger.Warn("chat window unavailable; technicians' lines become notices", "error", err)
		}
		return newNoticeChat(cfg), nil
	}
	return w, nil
}
