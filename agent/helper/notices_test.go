package helper

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/shared/protocol"
)

// fakeNotice is a notification window a test drives.
type fakeNotice struct {
	n        ipc.Notification
	readOnly bool
	res      chan ipc.NotifyResult
	done     chan struct{}
	once     sync.Once
}

func (w *fakeNotice) Results() <-chan ipc.NotifyResult { return w.res }
func (w *fakeNotice) Done() <-chan struct{}            { return w.done }
func (w *fakeNotice) Close() error {
	w.once.Do(func() { close(w.res); close(w.done) })
	return nil
}

// TestNotices: what the user does reaches the service; the service's
// close takes the window down; a reopened one is read-only and reports
// nothing; a window that cannot open says failed.
func TestNotices(t *testing.T) {
	wins := make(chan *fakeNotice, 8)
	sent := make(chan ipc.NotifyResult, 8)
	fail := false
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := &notices{ctx: ctx, ops: make(chan func(), 8), log: testLogger(t),
		open: map[string]NotificationWindow{}, last: map[string]ipc.Notification{},
		send: func(m ipc.Msg) error { sent <- *m.NotifyResult; return nil },
		newWin: func(n ipc.Notification, readOnly bool) (NotificationWindow, error) {
			if fail {
				return nil, errors.New("no display")
			}
			w := &fakeNotice{n: n, readOnly: readOnly, res: make(chan ipc.NotifyResult, 4), done: make(chan struct{})}
			wins <- w
			return w, nil
		}}
	go ns.run(ctx)
	defer ns.closeAll()
	next := func() *fakeNotice {
		t.Helper()
		select {
		case w := <-wins:
			return w
		case <-time.After(wait):
			t.Fatal("no window")
			return nil
		}
	}
	report := func() ipc.NotifyResult {
		t.Helper()
		select {
		case r := <-sent:
			return r
		case <-time.After(wait):
			t.Fatal("nothing reported")
			return ipc.NotifyResult{}
		}
	}
	n1 := ipc.Notification{ID: "n1", Version: 1, Title: "Restart", Buttons: []protocol.NotificationButton{{Label: "OK", Value: "ok"}}}
	ns.do(func() { ns.show(n1) })
	w := next()
	if w.readOnly || w.n.ID != "n1" {
		t.Fatalf("window %+v", w)
	}
	w.res <- ipc.NotifyResult{ID: "n1", Version: 1, Kind: protocol.NotifyEventShown}
	w.res <- ipc.NotifyResult{ID: "n1", Version: 1, Kind: protocol.NotifyEventPressed, Value: "ok"}
	if r := report(); r.Kind != protocol.NotifyEventShown {
		t.Fatalf("first report %+v", r)
	}
	if r := report(); r.Kind != protocol.NotifyEventPressed || r.Value != "ok" {
		t.Fatalf("second report %+v", r)
	}
	<-w.done // an answered window goes

	// Reopened from the tray: read-only, its results are not reported.
	ns.reopen("n1")
	ro := next()
	if !ro.readOnly {
		t.Fatal("a reopened notification is not read-only")
	}
	ro.res <- ipc.NotifyResult{ID: "n1", Version: 1, Kind: protocol.NotifyEventDismissed}
	<-ro.done
	select {
	case r := <-sent:
		t.Fatalf("a read-only window reported %+v", r)
	default:
	}
	ns.reopen("unknown") // nothing to reopen: nothing happens

	// The service takes one down.
	ns.do(func() { ns.show(ipc.Notification{ID: "n2", Version: 1}) })
	w2 := next()
	ns.do(func() { ns.closeWin("n2") })
	select {
	case <-w2.done:
	case <-time.After(wait):
		t.Fatal("the service's close did not take the window down")
	}

	// A window that dies without an answer (wish killed) is reported
	// failed, so the service shows it again.
	ns.do(func() { ns.show(ipc.Notification{ID: "n4", Version: 3}) })
	w4 := next()
	w4.Close()
	if r := report(); r.Kind != protocol.NotifyEventFailed || r.ID != "n4" || r.Version != 3 {
		t.Fatalf("a window gone without an answer: %+v", r)
	}

	fail = true
	ns.do(func() { ns.show(ipc.Notification{ID: "n3", Version: 2}) })
	if r := report(); r.Kind != protocol.NotifyEventFailed || r.ID != "n3" || r.Version != 2 || r.Error != "no display" {
		t.Fatalf("failed report %+v", r)
	}
}
