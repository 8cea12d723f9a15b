package tray

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/agent/tray/traytest"
	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/protocol"
)

// wait bounds every wait on a condition; it only matters when a test is
// about to fail.
const wait = 10 * time.Second

// fakeRedeemer answers codes from a table and records what it was sent.
type fakeRedeemer struct {
	mu      sync.Mutex
	sent    []string
	answers map[string]ipc.CodeResult
	hold    chan struct{} // when set, every answer waits for it
}

func (r *fakeRedeemer) redeem(ctx context.Context, code string) (ipc.CodeResult, error) {
	r.mu.Lock()
	r.sent = append(r.sent, code)
	hold := r.hold
	res, ok := r.answers[code]
	r.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ipc.CodeResult{}, ctx.Err()
		}
	}
	if !ok {
		return ipc.CodeResult{Outcome: ipc.CodeWrong}, nil
	}
	return res, nil
}

func (r *fakeRedeemer) codes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

// runTray runs a tray connected to the server until the test ends.
func runTray(t *testing.T, d Dialogs, r *fakeRedeemer, host Host) *Tray {
	t.Helper()
	return runTrayLog(t, d, r, host, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
}

func runTrayLog(t *testing.T, d Dialogs, r *fakeRedeemer, host Host, log *slog.Logger) *Tray {
	t.Helper()
	tr, err := New(Config{Dialogs: d, Redeem: r.redeem, Host: host, Version: "1.2.3", HostRetry: time.Millisecond,
		Logger: log,
		Now:    func() time.Time { return time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := tr.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(wait):
			t.Error("tray did not stop")
		}
	})
	select {
	case <-tr.started:
	case <-time.After(wait):
		t.Fatal("Run did not start")
	}
	tr.SetServer(ipc.ServerConnected, "https://tether.example")
	return tr
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitState waits until cond holds for the tray's state.
func waitState(t *testing.T, tr *Tray, what string, cond func(State) bool) State {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		ch := tr.Changed()
		if s := tr.State(); cond(s) {
			return s
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("waiting for %s; state %+v", what, tr.State())
		}
	}
}

func codeEntry(s State) Entry {
	for _, e := range Menu(s) {
		if e.ID == SlotCode {
			return e
		}
	}
	return Entry{}
}

var accepted = ipc.CodeResult{Outcome: ipc.CodeAccepted, SessionID: "s1", Technician: "brooke", Mode: protocol.ModeActive, Attended: true}

// TestCodeFlow: the connection-code dialog for each answer of the server,
// as the user sees it (dialogs in order) and as the server sees it (codes
// sent).
func TestCodeFlow(t *testing.T) {
	type step struct {
		expect string // the dialog call expected next (prefix)
		entry  string // typed into an entry ("" for none)
		retry  *bool  // answer to a retry
	}
	yes, no := true, false
	tests := []struct {
		name    string
		answers map[string]ipc.CodeResult
		steps   []step
		sent    []string
		notices []string
	}{
		{
			name:    "wrong, Try Again with the code formatted, right",
			answers: map[string]ipc.CodeResult{"123456789": accepted},
			steps: []step{
				{expect: "entry ", entry: "111 222 333"},
				{expect: "retry " + textWrong, retry: &yes},
				{expect: "entry 111-222-333", entry: "123-456-789"},
				{expect: "notify Code accepted: brooke will connect (Active (view and control)). Accept the request that appears to let them in."},
			},
			sent:    []string{"111222333", "123456789"},
			notices: []string{"Code accepted: brooke will connect (Active (view and control)). Accept the request that appears to let them in."},
		},
		{
			name: "wrong, Cancel",
			steps: []step{
				{expect: "entry ", entry: "111222333"},
				{expect: "retry " + textWrong, retry: &no},
			},
			sent: []string{"111222333"},
		},
		{
			name: "not nine digits: Try Again without asking the server",
			answers: map[string]ipc.CodeResult{
				"123456789": {Outcome: ipc.CodeAccepted, Technician: "brooke", Mode: protocol.ModeMonitor}},
			steps: []step{
				{expect: "entry ", entry: "12-34"},
				{expect: "retry " + textBadFormat, retry: &yes},
				{expect: "entry 12-34", entry: "123456789"},
				{expect: "notify Code accepted: brooke will connect (Monitor (view only))."},
			},
			sent:    []string{"123456789"},
			notices: []string{"Code accepted: brooke will connect (Monitor (view only))."},
		},
		{
			name:    "expired, Try Again starts empty",
			answers: map[string]ipc.CodeResult{"222222222": {Outcome: ipc.CodeExpired}},
			steps: []step{
				{expect: "entry ", entry: "222-222-222"},
				{expect: "retry " + textExpired, retry: &yes},
				{expect: "entry ", entry: traytest.CancelEntry},
			},
			sent: []string{"222222222"},
		},
		{
			name: "throttled: the server's message, no Try Again",
			answers: map[string]ipc.CodeResult{"333333333": {Outcome: ipc.CodeThrottled,
				Message: "too many wrong connection codes were entered on this computer; try again in 15 minute(s)"}},
			steps: []step{
				{expect: "entry ", entry: "333333333"},
				{expect: "message Too many wrong codes: too many wrong connection codes were entered on this computer; try again in 15 minute(s)."},
			},
			sent: []string{"333333333"},
		},
		{
			name:    "refused",
			answers: map[string]ipc.CodeResult{"444444444": {Outcome: ipc.CodeRefused, Message: "outside the technician's computer groups"}},
			steps: []step{
				{expect: "entry ", entry: "444444444"},
				{expect: "message The code cannot be used here: outside the technician's computer groups."},
			},
			sent: []string{"444444444"},
		},
		{
			name:    "server unreachable: Try Again",
			answers: map[string]ipc.CodeResult{"555555555": {Outcome: ipc.CodeFailed, Message: "the server could not be reached"}},
			steps: []step{
				{expect: "entry ", entry: "555555555"},
				{expect: "retry The code could not be checked: the server could not be reached.", retry: &no},
			},
			sent: []string{"555555555"},
		},
		{
			name:  "cancelled at once",
			steps: []step{{expect: "entry ", entry: traytest.CancelEntry}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := traytest.New(ErrCancelled)
			r := &fakeRedeemer{answers: tt.answers}
			tr := runTray(t, d, r, nil)
			if e := codeEntry(tr.State()); !e.Enabled {
				t.Fatalf("Enter Connection Code… not enabled while idle: %+v", e)
			}
			tr.Click(ActionCode)
			for i, st := range tt.steps {
				call := d.WaitCall(t, i+1, wait)
				if call != st.expect {
					t.Fatalf("dialog %d: %q, want %q", i+1, call, st.expect)
				}
				if i == 0 {
					if e := codeEntry(tr.State()); e.Enabled {
						t.Errorf("Enter Connection Code… enabled while its dialog is open")
					}
					tr.Click(ActionCode) // a second click opens nothing
				}
				switch {
				case st.entry != "":
					d.Entries <- st.entry
				case st.retry != nil:
					d.Retries <- *st.retry
				}
			}
			waitState(t, tr, "the dialog to close", func(s State) bool { return s.Code == CodeIdle })
			if got := d.Calls(); len(got) != len(tt.steps) {
				t.Errorf("dialogs %q, want %d", got, len(tt.steps))
			}
			if got := r.codes(); !slices.Equal(got, tt.sent) {
				t.Errorf("codes sent %q, want %q", got, tt.sent)
			}
			var notices []string
			for _, n := range tr.State().Notices {
				notices = append(notices, n.Text)
			}
			if !slices.Equal(notices, tt.notices) {
				t.Errorf("notices %q, want %q", notices, tt.notices)
			}
		})
	}
}

// TestCodeChecking: while the server is asked, the menu says so and the
// entry stays disabled.
func TestCodeChecking(t *testing.T) {
	d := traytest.New(ErrCancelled)
	r := &fakeRedeemer{answers: map[string]ipc.CodeResult{"123456789": accepted}, hold: make(chan struct{})}
	tr := runTray(t, d, r, nil)
	tr.Click(ActionCode)
	d.WaitCall(t, 1, wait)
	d.Entries <- "123456789"
	s := waitState(t, tr, "checking", func(s State) bool { return s.Code == CodeChecking })
	if e := codeEntry(s); e.Enabled || e.Label != "Checking Connection Code…" {
		t.Errorf("while checking: %+v", e)
	}
	close(r.hold)
	waitState(t, tr, "idle again", func(s State) bool { return s.Code == CodeIdle })
}

// fakeHost is a system tray that appears on the second look.
type fakeHost struct {
	mu      sync.Mutex
	looks   int
	started bool
	stopped bool
	click   func(string)
	views   []View
	changes testenv.Changes
}

func (h *fakeHost) Available(context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.looks++
	if h.looks < 2 {
		return fmt.Errorf("%w: no StatusNotifierWatcher", ErrNoHost)
	}
	return nil
}

func (h *fakeHost) Start(click func(string)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.started, h.click = true, click
	return nil
}

func (h *fakeHost) Show(v View) {
	h.mu.Lock()
	h.views = append(h.views, v)
	h.mu.Unlock()
	h.changes.Changed()
}

func (h *fakeHost) Stop() {
	h.mu.Lock()
	h.stopped = true
	h.mu.Unlock()
}

// waitView waits for a view the host showed that satisfies cond.
func (h *fakeHost) waitView(t *testing.T, what string, cond func(View) bool) View {
	t.Helper()
	var last *View
	ok := h.changes.Await(wait, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		last = nil
		if len(h.views) > 0 {
			last = &h.views[len(h.views)-1]
		}
		return last != nil && cond(*last)
	})
	if !ok {
		t.Fatalf("the host never showed %s; last %+v", what, last)
	}
	return *last
}

func entry(v View, id string) (Entry, bool) {
	i := slices.IndexFunc(v.Entries, func(e Entry) bool { return e.ID == id })
	if i < 0 {
		return Entry{}, false
	}
	return v.Entries[i], true
}

// TestSessionInTray: a session goes through the menu and the icon from
// request to its end; End Session is offered only where the policy allows
// it, and ends the session when clicked; the host that appears late shows
// the current menu; About names the version and server.
func TestSessionInTray(t *testing.T) {
	d := traytest.New(ErrCancelled)
	host := &fakeHost{}
	tr := runTray(t, d, &fakeRedeemer{}, host)
	host.waitView(t, "the idle icon", func(v View) bool { return v.Icon == IconIdle && v.Tooltip == "Tether: ready" })
	if !tr.Showing() {
		t.Error("Showing() false with the icon up")
	}

	for _, mayEnd := range []bool{false, true} {
		id := fmt.Sprint("s-", mayEnd)
		tr.SessionStarted(Session{ID: id, Technician: "brooke", Mode: protocol.ModeActive})
		tr.SessionState(id, protocol.SessionAwaitingAcceptance, "")
		v := host.waitView(t, "the request", func(v View) bool {
			e, ok := entry(v, "session.0")
			return ok && strings.Contains(e.Label, "waiting for your answer")
		})
		if _, ok := entry(v, "end.0"); ok || v.Icon != IconIdle {
			t.Errorf("a request not yet accepted shows End Session or the live icon: %+v", v)
		}
		ended := make(chan struct{}, 1)
		tr.SessionMode(id, protocol.ModeGuidance) // the user picked another mode on the prompt
		tr.SessionLive(id, mayEnd, func() { ended <- struct{}{} })
		var mode atomic.Value
		mode.Store(protocol.ModeGuidance)
		chats := make(chan struct{}, 1)
		tr.SessionControls(id, func() protocol.Mode { return mode.Load().(protocol.Mode) }, func() { chats <- struct{}{} })
		tr.SessionState(id, protocol.SessionActive, "")
		v = host.waitView(t, "the live session", func(v View) bool { return v.Icon == IconLive })
		if e, _ := entry(v, "session.0"); e.Label != "Live session: brooke — Guidance (view and point)" {
			t.Errorf("session line %q", e.Label)
		}
		// The technician switches the mode: the session's notice makes the
		// tray read it again.
		mode.Store(protocol.ModeMonitor)
		tr.RefreshMode(id)
		v = host.waitView(t, "the new mode", func(v View) bool {
			e, _ := entry(v, "session.0")
			return e.Label == "Live session: brooke — Monitor (view only)"
		})
		host.click(ActionChatPrefix + id)
		select {
		case <-chats:
		case <-time.After(wait):
			t.Fatal("Open Chat did not open the chat")
		}
		end, _ := entry(v, "end.0")
		if end.Enabled != mayEnd {
			t.Fatalf("End Session %+v with mayEnd %v", end, mayEnd)
		}
		host.click(ActionEndPrefix + id)
		if mayEnd {
			select {
			case <-ended:
			case <-time.After(wait):
				t.Fatal("End Session did not end the session")
			}
			tr.SessionState(id, protocol.SessionEnded, protocol.EndedByUser)
		} else {
			tr.SessionState(id, protocol.SessionEnded, protocol.EndedByTechnician)
			select {
			case <-ended:
				t.Error("End Session ended a session the policy says the user may not end")
			default:
			}
		}
		v = host.waitView(t, "the session gone", func(v View) bool { _, ok := entry(v, "session.0"); return !ok })
		if v.Icon != IconIdle {
			t.Errorf("icon after the end: %v", v.Icon)
		}
	}
	v := host.waitView(t, "the notices", func(v View) bool { _, ok := entry(v, "notice.3"); return ok })
	var notices []string
	for i := range 4 {
		e, _ := entry(v, fmt.Sprint("notice.", i))
		notices = append(notices, e.Label)
	}
	want := []string{"09:30  You ended the session with brooke.", "09:30  brooke is connected to your screen (Guidance (view and point)).",
		"09:30  brooke ended the session.", "09:30  brooke is connected to your screen (Guidance (view and point))."}
	if !slices.Equal(notices, want) {
		t.Errorf("notices %q, want %q", notices, want)
	}

	tr.SetServer(ipc.ServerDisconnected, "")
	host.waitView(t, "the disconnected icon", func(v View) bool { return v.Icon == IconDisconnected })
	host.click(ActionAbout)
	about := d.WaitCall(t, 1, wait)
	if !strings.Contains(about, "Version: 1.2.3") || !strings.Contains(about, "Server: https://tether.example") || !strings.Contains(about, "Not connected") {
		t.Errorf("About: %q", about)
	}
	// A dropped session (moved to another desktop) leaves without a notice.
	tr.SessionStarted(Session{ID: "s3", Technician: "casey"})
	tr.SessionGone("s3")
	if s := tr.State(); len(s.Sessions) != 0 || len(s.Notices) != 4 {
		t.Errorf("after a drop: %+v", s)
	}
}

// TestNoHost: without a tray host the tray keeps its model, says so once in
// the log (however often it looks again), and shows nothing.
func TestNoHost(t *testing.T) {
	host := &neverHost{looked: make(chan struct{}, 1)}
	logs := &countHandler{}
	tr := runTrayLog(t, traytest.New(ErrCancelled), &fakeRedeemer{}, host, slog.New(logs))
	for range 5 {
		select {
		case <-host.looked:
		case <-time.After(wait):
			t.Fatal("the tray stopped looking for a host")
		}
	}
	if tr.Showing() {
		t.Error("Showing() without a host")
	}
	if n := logs.count("no system tray host"); n != 1 {
		t.Errorf("logged the missing host %d times, want once", n)
	}
	if e := codeEntry(tr.State()); !e.Enabled {
		t.Errorf("the model without a host: %+v", e)
	}
}

type neverHost struct{ looked chan struct{} }

func (h *neverHost) Available(context.Context) error {
	h.looked <- struct{}{}
	return fmt.Errorf("%w: no session bus", ErrNoHost)
}

// countHandler counts log messages.
type countHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.msgs = append(h.msgs, r.Message)
	h.mu.Unlock()
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

func (h *countHandler) count(prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}
func (h *neverHost) Start(func(string)) error { return errors.New("never") }
func (h *neverHost) Show(View)                {}
func (h *neverHost) Stop()                    {}

// TestNoticeReopens: an end-user notification is listed once among the
// recent ones (shown again, it moves to the top), shows as a desktop
// notification, and its entry reopens it.
func TestNoticeReopens(t *testing.T) {
	d := traytest.New(ErrCancelled)
	opened := make(chan string, 2)
	tr, err := New(Config{Dialogs: d, Redeem: (&fakeRedeemer{}).redeem, OpenNotice: func(ref string) { opened <- ref },
		Now: func() time.Time { return time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = tr.Run(ctx) }()
	<-tr.started
	tr.NotifyRef("Restart tonight", "n1")
	tr.Notify("Session ended")
	tr.NotifyRef("Restart tonight", "n1")
	st := waitState(t, tr, "the notices", func(s State) bool { return len(s.Notices) == 2 })
	if st.Notices[0].Ref != "n1" || st.Notices[1].Text != "Session ended" {
		t.Fatalf("notices %+v", st.Notices)
	}
	tr.Click(ActionNoticePrefix + "n1")
	select {
	case ref := <-opened:
		if ref != "n1" {
			t.Fatalf("reopened %q", ref)
		}
	case <-time.After(wait):
		t.Fatal("the entry did not reopen the notification")
	}
	tr.Click(ActionNoticePrefix + "n9") // not in the menu: ignored
	select {
	case ref := <-opened:
		t.Fatalf("reopened %q, which the menu does not offer", ref)
	default:
	}
}
