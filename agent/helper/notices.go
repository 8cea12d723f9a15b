package helper

import (
	"context"
	"log/slog"
	"sync"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/agent/tray"
	"github.com/tetherdesk/tether/shared/protocol"
)

// NotificationWindow is an end-user notification on screen
// (desktop.NewNotificationWindow).
type NotificationWindow interface {
	Results() <-chan ipc.NotifyResult
	Done() <-chan struct{}
	Close() error
}

// notices shows the end-user notifications the service sends, tells it
// what the user did, and reopens them (read-only) from the tray.
type notices struct {
	newWin func(n ipc.Notification, readOnly bool) (NotificationWindow, error)
	send   func(ipc.Msg) error
	tray   *tray.Tray
	log    *slog.Logger

	// ops runs the service's requests in order (a close never overtakes
	// the show it closes), off the IPC reader.
	ops chan func()
	ctx context.Context // run's

	mu   sync.Mutex
	open map[string]NotificationWindow
	last map[string]ipc.Notification // for reopening
	wg   sync.WaitGroup
}

// do queues op; run runs the queue until ctx ends.
func (ns *notices) do(op func()) {
	select {
	case ns.ops <- op:
	case <-ns.ctx.Done():
	}
}

func (ns *notices) run(ctx context.Context) {
	for {
		select {
		case op := <-ns.ops:
			op()
		case <-ctx.Done():
			return
		}
	}
}

// maxKept bounds the notifications kept for reopening (the tray lists
// fewer).
const maxKept = 20

// show puts n up, replacing a window for the same notification.
func (ns *notices) show(n ipc.Notification) {
	if ns.newWin == nil {
		ns.report(ipc.NotifyResult{ID: n.ID, Version: n.Version, Kind: protocol.NotifyEventFailed, Error: "this desktop cannot show notifications"})
		return
	}
	ns.closeWin(n.ID)
	w, err := ns.newWin(n, false)
	if err != nil {
		ns.log.Warn("cannot show a notification", "notification", n.ID, "error", err)
		ns.report(ipc.NotifyResult{ID: n.ID, Version: n.Version, Kind: protocol.NotifyEventFailed, Error: err.Error()})
		return
	}
	ns.mu.Lock()
	ns.open[n.ID] = w
	if _, ok := ns.last[n.ID]; !ok && len(ns.last) >= maxKept {
		for k := range ns.last {
			if ns.open[k] == nil {
				delete(ns.last, k)
				break
			}
		}
	}
	ns.last[n.ID] = n
	ns.mu.Unlock()
	if ns.tray != nil {
		ns.tray.NotifyRef(n.Title, n.ID)
	}
	ns.watch(n.ID, w, true)
}

// watch forwards w's results (when report) until it is gone. A window
// that goes without an answer, and not on the service's word (it
// crashed, wish was killed), is reported failed: the service shows the
// notification again rather than think it is still on screen.
func (ns *notices) watch(id string, w NotificationWindow, report bool) {
	ns.wg.Add(1)
	go func() {
		defer ns.wg.Done()
		n := ns.lastOf(id)
		answered := false
		for r := range w.Results() {
			if report {
				ns.report(r)
			}
			if r.Kind != protocol.NotifyEventShown {
				answered = true
				_ = w.Close()
			}
		}
		<-w.Done()
		ns.mu.Lock()
		ours := ns.open[id] == w
		if ours {
			delete(ns.open, id)
		}
		ns.mu.Unlock()
		if report && ours && !answered && ns.ctx.Err() == nil {
			ns.report(ipc.NotifyResult{ID: id, Version: n.Version, Kind: protocol.NotifyEventFailed, Error: "the notification window closed without an answer"})
		}
	}()
}

func (ns *notices) lastOf(id string) ipc.Notification {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.last[id]
}

func (ns *notices) report(r ipc.NotifyResult) {
	if err := ns.send(ipc.Msg{Type: ipc.TypeNotifyResult, NotifyResult: &r}); err != nil {
		ns.log.Warn("reporting a notification result to the service", "notification", r.ID, "kind", r.Kind, "error", err)
	}
}

func (ns *notices) closeWin(id string) {
	ns.mu.Lock()
	w := ns.open[id]
	delete(ns.open, id)
	ns.mu.Unlock()
	if w != nil {
		_ = w.Close()
	}
}

// reopen shows a notification again from the tray, to read: what the
// user answers counts only on the window the service put up.
func (ns *notices) reopen(id string) {
	ns.mu.Lock()
	n, ok := ns.last[id]
	_, up := ns.open[id]
	ns.mu.Unlock()
	if !ok || up || ns.newWin == nil {
		return
	}
	w, err := ns.newWin(n, true)
	if err != nil {
		ns.log.Warn("cannot reopen a notification", "notification", id, "error", err)
		return
	}
	ns.mu.Lock()
	ns.open[id] = w
	ns.mu.Unlock()
	ns.watch(id, w, false)
}

// closeAll takes every window down and waits for their watchers.
func (ns *notices) closeAll() {
	ns.mu.Lock()
	ws := make([]NotificationWindow, 0, len(ns.open))
	for _, w := range ns.open {
		ws = append(ws, w)
	}
	ns.mu.Unlock()
	for _, w := range ws {
		_ = w.Close()
	}
	ns.wg.Wait()
}
