package desktop

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/ncruces/zenity"

	"github.com/tetherdesk/tether/shared/protocol"

	"github.com/tetherdesk/tether/agent/session"
)

// chatOrNotices is the window open makes, or notices where it fails (wish
// missing, a desktop the helper may not draw on).
func chatOrNotices[W session.ChatWindow](cfg session.ChatWindowConfig, open func(session.ChatWindowConfig) (W, error)) session.ChatWindow {
	w, err := open(cfg)
	if err != nil {
		if cfg.Logger != nil {
			cfg.Logger.Warn("chat window unavailable; technicians' lines become notices", "error", err)
		}
		return newNoticeChat(cfg)
	}
	return w
}

// noticeChat is the chat window where no real one can be shown: each
// technician's line becomes a desktop notice; the end user cannot answer.
type noticeChat struct {
	log    *slog.Logger
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func newNoticeChat(cfg session.ChatWindowConfig) *noticeChat {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &noticeChat{log: log}
}

func (n *noticeChat) Add(l protocol.ChatLine) {
	if l.Role != protocol.ChatTechnician {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := zenity.Notify(l.From+": "+l.Text, zenity.Title(DialogTitle), zenity.InfoIcon, zenity.Context(ctx)); err != nil {
			n.log.Debug("chat notice not shown", "error", err)
		}
	}()
}

func (n *noticeChat) Status(string, string) {}
func (n *noticeChat) AllowFiles(bool)       {}
func (n *noticeChat) Raise()                {}

func (n *noticeChat) Close() error {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.wg.Wait()
	return nil
}
