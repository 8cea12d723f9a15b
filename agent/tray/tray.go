package tray

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/shared/protocol"
)

// View is what a Host shows.
type View struct {
	Icon    Icon
	Tooltip string
	Entries []Entry
}

// ErrNoHost says the desktop has no system tray to show the icon in.
var ErrNoHost = errors.New("no system tray host on this desktop")

// Host shows the icon and menu. The real one is the system tray; tests use
// a fake.
type Host interface {
	// Available reports whether a system tray can show the icon now: nil,
	// or an error wrapping ErrNoHost that says why not. It must not block
	// for long.
	Available(ctx context.Context) error
	// Start shows the icon, once, after Available said yes. click is
	// called with the Action of an entry the user clicked, from any
	// goroutine.
	Start(click func(action string)) error
	// Show replaces what the icon and menu show.
	Show(v View)
	// Stop removes the icon.
	Stop()
}

// ErrCancelled is what Dialogs return when the user cancels.
var ErrCancelled = errors.New("cancelled by the user")

// Dialogs are the tray's dialogs; NewDialogs gives the real ones.
type Dialogs interface {
	// EnterCode asks for a connection code, with prefill in the field; it
	// returns the text as typed, or ErrCancelled.
	EnterCode(ctx context.Context, prefill string) (string, error)
	// Retry shows a problem with Try Again and Cancel: true for Try Again,
	// false (and a nil error) for Cancel.
	Retry(ctx context.Context, text string) (bool, error)
	// Message shows text with an OK button; warn picks a warning icon.
	Message(ctx context.Context, text string, warn bool) error
	// Notify shows a passing notification.
	Notify(ctx context.Context, text string) error
}

// Redeemer sends a code (9 digits) to the service and returns its answer.
type Redeemer func(ctx context.Context, code string) (ipc.CodeResult, error)

// DefaultHostRetry is how often a missing tray host is looked for again
// (a panel may start after the helper).
const DefaultHostRetry = 30 * time.Second

// Config configures a Tray.
type Config struct {
	// Host shows the icon; nil keeps the model only (no icon).
	Host Host
	// Dialogs are required.
	Dialogs Dialogs
	// Redeem is required.
	Redeem  Redeemer
	Version string
	Logger  *slog.Logger
	Now     func() time.Time
	// HostRetry: see DefaultHostRetry.
	HostRetry time.Duration
	// OpenNotice reopens the end-user notification a Recent Notifications
	// entry names; nil lists them only.
	OpenNotice func(ref string)
}

// CheckAndSetDefaults validates the config and fills in defaults.
func (c *Config) CheckAndSetDefaults() error {
	if c.Dialogs == nil || c.Redeem == nil {
		return errors.New("tray: Dialogs and Redeem are required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.HostRetry <= 0 {
		c.HostRetry = DefaultHostRetry
	}
	return nil
}

// Tray keeps the state the menu shows, runs the menu's actions and keeps
// the host showing the current menu. Its methods are safe for concurrent
// use; they do nothing visible until Run.
type Tray struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	st      State
	ends    map[string]func() // session id → how to end it
	ctl     map[string]controls
	changed chan struct{}   // closed and replaced on every change
	ctx     context.Context // Run's; nil before Run
	started chan struct{}   // closed when Run has set ctx
	wg      sync.WaitGroup  // goroutines Run waits for
	showing bool            // the host's icon is up
	about   bool            // the About dialog is open

	renderMu sync.Mutex // orders Show calls
}

// New checks cfg.
func New(cfg Config) (*Tray, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	return &Tray{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "tray"),
		st:      State{Version: cfg.Version},
		ends:    map[string]func(){},
		ctl:     map[string]controls{},
		changed: make(chan struct{}),
		started: make(chan struct{}),
	}, nil
}

// Run shows the icon where the desktop has a system tray (looking again
// every HostRetry while it has none) and runs the menu's actions until ctx
// ends; then it closes its dialogs, removes the icon and returns.
func (t *Tray) Run(ctx context.Context) error {
	t.mu.Lock()
	if t.ctx != nil {
		t.mu.Unlock()
		return errors.New("tray: Run called twice")
	}
	t.ctx = ctx
	close(t.started)
	if t.cfg.Host != nil {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			t.hostLoop(ctx)
		}()
	}
	t.mu.Unlock()
	<-ctx.Done()
	t.wg.Wait()
	t.mu.Lock()
	showing := t.showing
	t.showing = false
	t.mu.Unlock()
	if showing {
		t.cfg.Host.Stop()
	}
	return nil
}

// hostLoop starts the real icon once a tray host is there. The first miss
// is logged; the helper goes on without an icon (prompts and notices do
// not need one).
func (t *Tray) hostLoop(ctx context.Context) {
	logged := false
	for {
		err := t.cfg.Host.Available(ctx)
		if err == nil {
			break
		}
		if !logged {
			t.log.Info("no system tray host on this desktop; the tray icon is not shown (prompts and notices still are)", "reason", err)
			logged = true
		}
		timer := time.NewTimer(t.cfg.HostRetry)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
	if err := t.cfg.Host.Start(t.Click); err != nil {
		t.log.Warn("cannot show the tray icon", "error", err)
		return
	}
	t.mu.Lock()
	t.showing = ctx.Err() == nil
	t.mu.Unlock()
	t.log.Info("tray icon shown")
	t.render()
}

// Showing reports whether the real icon is up.
func (t *Tray) Showing() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.showing
}

// State returns a copy of the state.
func (t *Tray) State() State {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.snapshotLocked()
}

func (t *Tray) snapshotLocked() State {
	s := t.st
	s.Sessions = slices.Clone(s.Sessions)
	s.Notices = slices.Clone(s.Notices)
	return s
}

// Menu is the menu for the current state.
func (t *Tray) Menu() []Entry { return Menu(t.State()) }

// Changed returns a channel closed at the next change of state.
func (t *Tray) Changed() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.changed
}

// update changes the state and shows it.
func (t *Tray) update(fn func(s *State)) {
	t.mu.Lock()
	fn(&t.st)
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
	t.render()
}

func (t *Tray) render() {
	t.renderMu.Lock()
	defer t.renderMu.Unlock()
	t.mu.Lock()
	if !t.showing {
		t.mu.Unlock()
		return
	}
	s := t.snapshotLocked()
	t.mu.Unlock()
	t.cfg.Host.Show(View{Icon: IconFor(s), Tooltip: Tooltip(s), Entries: Menu(s)})
}

// SetServer records how the service reaches the server (ipc.Server*).
func (t *Tray) SetServer(state, url string) {
	t.update(func(s *State) {
		s.Server = state
		if url != "" {
			s.ServerURL = url
		}
	})
}

// SessionStarted records a session the service handed to the helper.
func (t *Tray) SessionStarted(ss Session) {
	if ss.State == "" {
		ss.State = protocol.SessionRequested
	}
	t.update(func(s *State) {
		if i := slices.IndexFunc(s.Sessions, func(x Session) bool { return x.ID == ss.ID }); i >= 0 {
			s.Sessions[i] = ss
			return
		}
		s.Sessions = append(s.Sessions, ss)
	})
}

// SessionState records a session's state change; an ended session leaves
// the menu with a notice saying why.
func (t *Tray) SessionState(id string, state protocol.SessionState, reason protocol.Reason) {
	var notice string
	t.update(func(s *State) {
		i := slices.IndexFunc(s.Sessions, func(x Session) bool { return x.ID == id })
		if i < 0 {
			return
		}
		if state != protocol.SessionEnded {
			s.Sessions[i].State = state
			return
		}
		notice = endNotice(s.Sessions[i].Technician, reason)
		s.Sessions = slices.Delete(s.Sessions, i, i+1)
	})
	if state == protocol.SessionEnded {
		t.forget(id)
		if notice != "" {
			t.Notify(notice)
		}
	}
}

func endNotice(tech string, reason protocol.Reason) string {
	switch reason {
	case protocol.EndedByUser:
		return "You ended the session with " + tech + "."
	case protocol.EndedByTechnician:
		return tech + " ended the session."
	case protocol.EndedDeclined:
		return "You declined " + tech + "'s request."
	case protocol.EndedAcceptTimeout:
		return tech + "'s request expired without an answer."
	case protocol.EndedCodeExpired:
		return "The connection code expired."
	default:
		return "The session with " + tech + " ended."
	}
}

// SessionLive records that a session is live: the user can end it with
// end where mayEnd. It comes from the session's UI.Live.
func (t *Tray) SessionLive(id string, mayEnd bool, end func()) {
	t.mu.Lock()
	t.ends[id] = end
	t.mu.Unlock()
	var tech string
	var mode protocol.Mode
	t.update(func(s *State) {
		i := slices.IndexFunc(s.Sessions, func(x Session) bool { return x.ID == id })
		if i < 0 {
			return
		}
		ss := &s.Sessions[i]
		ss.MayEnd, ss.Endable = mayEnd, end != nil
		if !ss.Live() {
			// A session taken over from another desktop reports no state
			// again: being live says it is at least connecting.
			ss.State = protocol.SessionConnecting
		}
		tech, mode = ss.Technician, ss.Mode
	})
	if tech != "" {
		t.Notify(fmt.Sprintf("%s is connected to your screen (%s).", tech, ModeName(mode)))
	}
}

// controls are what a live session lets the tray do.
type controls struct {
	mode     func() protocol.Mode
	openChat func()
}

// SessionControls records what a live session offers the tray: its
// current mode and its chat window (either may be nil).
func (t *Tray) SessionControls(id string, mode func() protocol.Mode, openChat func()) {
	t.mu.Lock()
	t.ctl[id] = controls{mode: mode, openChat: openChat}
	t.mu.Unlock()
	t.update(func(s *State) {
		if i := slices.IndexFunc(s.Sessions, func(x Session) bool { return x.ID == id }); i >= 0 {
			s.Sessions[i].Chat = openChat != nil
		}
	})
	// Not from here: the session may hold its own lock while it tells us,
	// and mode takes it.
	t.goRun(func() { t.RefreshMode(id) })
}

// RefreshMode reads a session's mode again from its controls (after a
// notice that it changed).
func (t *Tray) RefreshMode(id string) {
	t.mu.Lock()
	mode := t.ctl[id].mode
	t.mu.Unlock()
	if mode == nil {
		return
	}
	// Asked outside t.mu: the session takes its own lock.
	if m := mode(); m != "" {
		t.SessionMode(id, m)
	}
}

// SessionMode records a session's new mode.
func (t *Tray) SessionMode(id string, mode protocol.Mode) {
	t.update(func(s *State) {
		if i := slices.IndexFunc(s.Sessions, func(x Session) bool { return x.ID == id }); i >= 0 {
			s.Sessions[i].Mode = mode
		}
	})
}

// SessionGone forgets a session without a notice (it moved to another
// desktop's helper).
func (t *Tray) SessionGone(id string) {
	t.forget(id)
	t.update(func(s *State) {
		s.Sessions = slices.DeleteFunc(s.Sessions, func(x Session) bool { return x.ID == id })
	})
}

func (t *Tray) forget(id string) {
	t.mu.Lock()
	delete(t.ends, id)
	delete(t.ctl, id)
	t.mu.Unlock()
}

// Notify adds a line to the recent notifications (it shows nothing by
// itself: whoever calls it shows its own notice).
func (t *Tray) Notify(text string) { t.addNotice(Notice{At: t.cfg.Now(), Text: text}) }

// NotifyRef lists an end-user notification among the recent ones (once:
// shown again, it moves to the top) and shows it as a desktop
// notification too; its entry reopens it.
func (t *Tray) NotifyRef(text, ref string) {
	t.update(func(s *State) {
		s.Notices = slices.DeleteFunc(s.Notices, func(n Notice) bool { return n.Ref == ref })
	})
	t.addNotice(Notice{At: t.cfg.Now(), Text: text, Ref: ref})
	t.mu.Lock()
	ctx := t.ctx
	t.mu.Unlock()
	if ctx != nil {
		t.goRun(func() {
			if err := t.cfg.Dialogs.Notify(ctx, text); err != nil && ctx.Err() == nil {
				t.log.Debug("desktop notification not shown", "error", err)
			}
		})
	}
}

func (t *Tray) addNotice(n Notice) {
	t.update(func(s *State) {
		s.Notices = append([]Notice{n}, s.Notices...)
		if len(s.Notices) > MaxNotices {
			s.Notices = s.Notices[:MaxNotices]
		}
	})
}

// announce records a notice and shows it as a notification.
func (t *Tray) announce(ctx context.Context, text string) {
	t.Notify(text)
	t.goRun(func() {
		if err := t.cfg.Dialogs.Notify(ctx, text); err != nil && ctx.Err() == nil {
			t.log.Debug("notification not shown", "error", err)
		}
	})
}

// goRun runs fn in a goroutine Run waits for; false once Run has ended or
// before it started.
func (t *Tray) goRun(fn func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx == nil || t.ctx.Err() != nil {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		fn()
	}()
	return true
}

// Click runs the action of a clicked entry. A click on an entry the
// current menu does not offer, or offers disabled, is ignored: the model
// decides, not whatever the host showed a moment ago.
func (t *Tray) Click(action string) {
	t.mu.Lock()
	ctx := t.ctx
	offered := slices.ContainsFunc(Menu(t.st), func(e Entry) bool { return e.Action == action && e.Enabled })
	t.mu.Unlock()
	if ctx == nil || !offered {
		t.log.Debug("ignoring a click on an entry not offered now", "action", action)
		return
	}
	switch {
	case action == ActionCode:
		t.enterCode(ctx)
	case action == ActionAbout:
		t.showAbout(ctx)
	case strings.HasPrefix(action, ActionChatPrefix):
		t.mu.Lock()
		open := t.ctl[strings.TrimPrefix(action, ActionChatPrefix)].openChat
		t.mu.Unlock()
		if open != nil {
			open()
		}
	case strings.HasPrefix(action, ActionNoticePrefix):
		if open := t.cfg.OpenNotice; open != nil {
			open(strings.TrimPrefix(action, ActionNoticePrefix))
		}
	case strings.HasPrefix(action, ActionEndPrefix):
		id := strings.TrimPrefix(action, ActionEndPrefix)
		t.mu.Lock()
		end := t.ends[id]
		t.mu.Unlock()
		if end != nil {
			t.log.Info("the user ended the session from the tray", "session_id", id)
			end()
		}
	}
}

// Open runs the code entry as a click on the menu would, for a request
// from outside the menu (the desktop entry, on desktops with no tray
// icon), and says why it cannot when it cannot ("" when it opened).
func (t *Tray) Open(action string) string {
	if action != ActionCode {
		return "unknown dialog " + action
	}
	st := t.State()
	switch {
	case st.Code == CodeEntering || st.Code == CodeChecking:
		return "A connection code is being entered already."
	case st.Server != ipc.ServerConnected:
		return "This computer cannot reach the support server now; try again in a moment."
	case busy(st):
		return "A support session is under way already."
	}
	t.Click(action)
	return ""
}

// enterCode starts the connection-code dialog, unless it is open.
func (t *Tray) enterCode(ctx context.Context) {
	t.mu.Lock()
	if t.st.Code != CodeIdle {
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	t.update(func(s *State) { s.Code = CodeEntering })
	if !t.goRun(func() { t.codeFlow(ctx) }) {
		t.update(func(s *State) { s.Code = CodeIdle })
	}
}

// User-facing texts of the code dialog; they match `tether-agent code`.
const (
	textBadFormat = "A connection code has 9 digits, like 123-456-789. Check what you typed and try again."
	textWrong     = "That code is not valid. Check the digits and try again, or ask your technician for a new code."
	textExpired   = "That code has expired. Ask your technician for a new code, then try again."
)

// codeFlow is the dialog: the entry, the server's answer, Try Again or
// Cancel, until the code is accepted or the user gives up.
func (t *Tray) codeFlow(ctx context.Context) {
	defer t.update(func(s *State) { s.Code = CodeIdle })
	d := t.cfg.Dialogs
	prefill := ""
	retry := func(text string) bool {
		again, err := d.Retry(ctx, text)
		if err != nil && ctx.Err() == nil {
			t.log.Warn("cannot show the connection-code dialog", "error", err)
		}
		return err == nil && again
	}
	for ctx.Err() == nil {
		t.update(func(s *State) { s.Code = CodeEntering })
		typed, err := d.EnterCode(ctx, prefill)
		switch {
		case errors.Is(err, ErrCancelled) || ctx.Err() != nil:
			return
		case err != nil:
			t.log.Warn("cannot show the connection-code entry", "error", err)
			return
		}
		digits, err := protocol.ParseCode(typed)
		if err != nil {
			t.log.Info("connection code not sent: not 9 digits", "typed_chars", len(typed))
			prefill = typed
			if !retry(textBadFormat) {
				return
			}
			continue
		}
		t.update(func(s *State) { s.Code = CodeChecking })
		res, err := t.cfg.Redeem(ctx, digits)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			t.log.Warn("the service did not answer the connection code", "error", err)
			res = ipc.CodeResult{Outcome: ipc.CodeFailed, Message: "the agent service did not answer"}
		}
		t.log.Info("connection code answered", "outcome", res.Outcome)
		// What follows is a dialog again (or nothing).
		t.update(func(s *State) { s.Code = CodeEntering })
		switch res.Outcome {
		case ipc.CodeAccepted:
			text := fmt.Sprintf("Code accepted: %s will connect (%s).", res.Technician, ModeName(res.Mode))
			if res.Attended {
				text += " Accept the request that appears to let them in."
			}
			t.announce(ctx, text)
			return
		case ipc.CodeWrong:
			prefill = protocol.FormatCode(digits) // the user may fix one digit
			if !retry(textWrong) {
				return
			}
		case ipc.CodeExpired:
			prefill = ""
			if !retry(textExpired) {
				return
			}
		case ipc.CodeThrottled:
			t.message(ctx, "Too many wrong codes: "+res.Message+".")
			return
		case ipc.CodeRefused:
			t.message(ctx, "The code cannot be used here: "+res.Message+".")
			return
		default:
			prefill = protocol.FormatCode(digits)
			if !retry("The code could not be checked: " + res.Message + ".") {
				return
			}
		}
	}
}

func (t *Tray) message(ctx context.Context, text string) {
	if err := t.cfg.Dialogs.Message(ctx, text, true); err != nil && ctx.Err() == nil {
		t.log.Warn("cannot show a message", "error", err)
	}
}

// AboutText is what About shows.
func AboutText(s State) string {
	server := s.ServerURL
	if server == "" {
		server = "(not known yet)"
	}
	version := s.Version
	if version == "" {
		version = "(unknown)"
	}
	return fmt.Sprintf("Tether remote support agent\n\nVersion: %s\nServer: %s\nStatus: %s",
		version, server, strings.TrimSuffix(statusLabel(s.Server), "…"))
}

func (t *Tray) showAbout(ctx context.Context) {
	t.mu.Lock()
	if t.about {
		t.mu.Unlock()
		return
	}
	t.about = true
	text := AboutText(t.st)
	t.mu.Unlock()
	closed := func() {
		t.mu.Lock()
		t.about = false
		t.mu.Unlock()
	}
	started := t.goRun(func() {
		defer closed()
		if err := t.cfg.Dialogs.Message(ctx, text, false); err != nil && ctx.Err() == nil {
			t.log.Warn("cannot show About", "error", err)
		}
	})
	if !started {
		closed()
	}
}
