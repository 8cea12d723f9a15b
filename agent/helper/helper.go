// Package helper is the session helper process: it runs on the end user's
// desktop, connects to the agent service over IPC, shows the tray and runs
// the screen-sharing sessions the service hands it (agent/session) with
// the desktop's devices (agent/desktop).
package helper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/agent/tray"
	"github.com/tetherdesk/tether/shared/policy"
	"github.com/tetherdesk/tether/shared/protocol"

	"github.com/tetherdesk/tether/agent/session"
)

// Deps are what a session uses from the desktop: the user interface,
// capture, encoding, input, and the chat window, clipboard and Guidance
// overlay (agent/desktop's; nil: that feature is unavailable). The helper
// process wires the real ones.
type Deps struct {
	UI            session.UI
	NewSource     func() (session.FrameSource, error)
	NewEncoder    func() session.FrameEncoder
	NewInjector   func() (session.Injector, error)
	NewChatWindow func(session.ChatWindowConfig) (session.ChatWindow, error)
	NewClipboard  func() (session.Clipboard, error)
	NewOverlay    func() (session.Overlay, error)
	SettingEngine *webrtc.SettingEngine
	// NoVideo keeps moving pictures on the tile path (session.EnvVideo).
	NoVideo bool
	// TrayHost shows the tray icon (tray.NewSystrayHost); nil shows none,
	// while the tray's state and dialogs still work.
	TrayHost tray.Host
	// TrayDialogs are the tray's dialogs; nil: tray.NewDialogs().
	TrayDialogs tray.Dialogs
	// NewNotification shows an end-user notification; nil: none shows
	// (the service is told they failed).
	NewNotification func(n ipc.Notification, readOnly bool) (NotificationWindow, error)
}

// Config configures the helper process.
type Config struct {
	// SocketPath is the service's IPC socket.
	SocketPath string
	// Desktop is the key the service gave this helper's desktop session.
	Desktop string
	Deps    Deps
	// Version is what the tray's About shows.
	Version string
	Logger  *slog.Logger
	// RunSession runs one session (default session.Run); tests replace it.
	RunSession func(context.Context, session.Config) (protocol.Reason, error)
	// Privileged: this helper runs as root (LocalSystem on Windows), or on
	// a login screen; the process sets it from RunningPrivileged and the
	// service's --login-screen. Its sessions show no window
	// but the acceptance prompts and offer no chat or file transfer, and
	// it shows no tray icon, menu or tray dialog (privileged.go).
	Privileged bool
}

func (c Config) runSession(ctx context.Context, sc session.Config) (protocol.Reason, error) {
	if c.RunSession != nil {
		return c.RunSession(ctx, sc)
	}
	return session.Run(ctx, sc)
}

// codeAnswerWait bounds how long the tray waits for the service's answer
// to a connection code; the service gives the server 30 s.
const codeAnswerWait = 45 * time.Second

// running is one session the helper runs.
type running struct{ cancel context.CancelCauseFunc }

// Run connects to the service, says it is ready and runs the
// sessions the service hands over until ctx ends or the service goes away.
// Sessions run concurrently; each ends when the server, the user or the
// service ends it. The tray lives here too: it shows the server state the
// service reports, the sessions, and sends the connection codes the user
// types to the service, which alone can redeem them.
func Run(ctx context.Context, cfg Config) error {
	if cfg.SocketPath == "" {
		return errors.New("session helper: no IPC socket path")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	log := cfg.Logger.With("component", "helper")
	conn, err := ipc.Dial(ctx, cfg.SocketPath)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Send(ipc.Msg{Type: ipc.TypeReady, Desktop: cfg.Desktop, PID: os.Getpid()}); err != nil {
		return err
	}
	log.Info("session helper ready", "desktop", cfg.Desktop, "privileged", cfg.Privileged)
	if cfg.Privileged {
		log.Warn("the session helper runs with administrator rights: no tray, no chat, no file transfer, no window but the acceptance prompt")
	}

	hctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() { // unblocks Recv when ctx ends
		<-hctx.Done()
		conn.Close()
	}()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		sessions = map[string]*running{}
		codes    = &codeWaiters{waiting: map[string]chan ipc.CodeResult{}}
		// One gate for all of this desktop's sessions: see consentGate.
		gate        = &consentGate{}
		newInjector = cfg.Deps.NewInjector
	)
	if newInjector != nil {
		newInjector = gate.injector(newInjector)
	}
	host, dialogs := cfg.Deps.TrayHost, cfg.Deps.TrayDialogs
	if dialogs == nil {
		dialogs = tray.NewDialogs()
	}
	if cfg.Privileged {
		// The tray keeps the sessions' state for the helper; it shows
		// nothing: no icon, no menu, no dialog.
		host, dialogs = nil, noDialogs{}
	}
	ns := &notices{newWin: cfg.Deps.NewNotification, send: conn.Send, log: log, ops: make(chan func(), 64),
		open: map[string]NotificationWindow{}, last: map[string]ipc.Notification{}}
	if cfg.Privileged {
		// A root helper or a login screen: nobody's desktop to tell.
		ns.newWin = nil
	}
	tr, err := tray.New(tray.Config{Host: host, Dialogs: dialogs, Version: cfg.Version, Logger: cfg.Logger,
		Redeem:     func(ctx context.Context, code string) (ipc.CodeResult, error) { return codes.redeem(ctx, conn, code) },
		OpenNotice: func(id string) { ns.do(func() { ns.reopen(id) }) }})
	if err != nil {
		return err
	}
	ns.tray, ns.ctx = tr, hctx
	go ns.run(hctx)
	tools := &serviceTools{ctx: hctx, ui: cfg.Deps.UI, gate: gate, send: conn.Send, privileged: cfg.Privileged, log: log}
	defer tools.wg.Wait()
	defer ns.closeAll()
	trayDone := make(chan struct{})
	go func() {
		defer close(trayDone)
		_ = tr.Run(hctx)
	}()
	if !cfg.Privileged {
		go func() {
			if err := serveLauncher(hctx, launcherPath(), tr, log); err != nil {
				log.Warn("the desktop entry cannot reach this helper", "error", err)
			}
		}()
	}
	defer func() {
		mu.Lock()
		for _, r := range sessions {
			r.cancel(session.EndError{Reason: protocol.EndedError})
		}
		mu.Unlock()
		wg.Wait()
		cancel(nil)
		<-trayDone
	}()
	for {
		m, err := conn.Recv()
		switch {
		case hctx.Err() != nil:
			return nil
		case errors.Is(err, ipc.ErrMalformed):
			log.Warn("ignoring malformed message from the service", "error", err)
			continue
		case err != nil:
			return fmt.Errorf("connection to the service lost: %w", err)
		}
		switch m.Type {
		case ipc.TypeStatus:
			tr.SetServer(m.ServerState, m.Server)
		case ipc.TypeNotify:
			n := *m.Notification
			ns.do(func() { ns.show(n) })
		case ipc.TypeNotifyClose:
			id := m.NotifyID
			ns.do(func() { ns.closeWin(id) })
		case ipc.TypeCodeResult:
			codes.answer(m.ReqID, *m.CodeResult)
		case ipc.TypeToolAsk:
			tools.ask(m)
		case ipc.TypeToolLive:
			tools.live(m)
		case ipc.TypeStart:
			id := m.Start.SessionID
			mu.Lock()
			_, busy := sessions[id]
			mu.Unlock()
			if busy {
				log.Warn("session already running", "session_id", id)
				continue
			}
			pol := policy.Default()
			if m.Policy != nil {
				pol = *m.Policy
			}
			mode := m.Start.Mode
			if mode == "" && m.Start.Tool == "" {
				mode, _ = pol.StartMode("")
			}
			tr.SessionStarted(tray.Session{ID: id, Technician: m.Start.Technician, Mode: mode,
				MayEnd: m.Start.UserMayEnd && pol.UserMayEnd})
			var proxy *url.URL
			if m.Proxy != "" {
				p, perr := url.Parse(m.Proxy)
				if perr != nil {
					log.Error("bad proxy from the service; connecting directly", "err", perr)
				}
				proxy = p
			}
			scfg := session.Config{
				Proxy: proxy,
				Start: *m.Start, Server: m.Server, Fingerprint: m.Fingerprint, Policy: pol, Resume: m.Resume,
				OutageLimit: time.Duration(pol.OutageLimitS) * time.Second,
				Privileged:  cfg.Privileged,
				Tools:       helperTools(cfg.Privileged),
				UI:          &trayUI{UI: cfg.Deps.UI, tray: tr, id: id, gate: gate},
				NewSource:   cfg.Deps.NewSource, NewEncoder: cfg.Deps.NewEncoder,
				NewInjector: newInjector, SettingEngine: cfg.Deps.SettingEngine, NoVideo: cfg.Deps.NoVideo,
				NewChatWindow: cfg.Deps.NewChatWindow, NewClipboard: cfg.Deps.NewClipboard, NewOverlay: cfg.Deps.NewOverlay,
				Logger: cfg.Logger,
				SecureAttention: secureAttention(func() error {
					return conn.Send(ipc.Msg{Type: ipc.TypeSAS, SessionID: id})
				}),
				Report: func(state protocol.SessionState, reason protocol.Reason, errText string) {
					tr.SessionState(id, state, reason)
					err := conn.Send(ipc.Msg{Type: ipc.TypeState, SessionID: id, State: state, Reason: reason, Error: errText})
					if err != nil && hctx.Err() == nil {
						log.Debug("reporting state to the service", "error", err)
					}
				},
				OnLive: func(lc session.LiveControls) { tr.SessionControls(id, lc.Mode, lc.OpenChat) },
			}
			sctx, scancel := context.WithCancelCause(hctx)
			run := &running{cancel: scancel}
			mu.Lock()
			sessions[id] = run
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer scancel(nil)
				reason, err := cfg.runSession(sctx, scfg)
				if err != nil && sctx.Err() == nil {
					log.Warn("session failed", "session_id", id, "reason", reason, "error", err)
				}
				mu.Lock()
				if sessions[id] == run {
					delete(sessions, id)
					// Gone without an ended report (it failed to start):
					// it must not stay in the menu.
					tr.SessionGone(id)
				}
				idle := len(sessions) == 0
				mu.Unlock()
				if idle {
					// The session's frame buffers are garbage now; give
					// them back to the system rather than keep them until
					// the runtime gets round to it: an idle helper stays
					// small.
					debug.FreeOSMemory()
				}
			}()
		case ipc.TypeEnd:
			tools.end(m.SessionID)
			mu.Lock()
			r := sessions[m.SessionID]
			mu.Unlock()
			if r != nil {
				r.cancel(session.EndError{Reason: session.EndReason(m.Reason)})
			}
		case ipc.TypeDrop:
			mu.Lock()
			r := sessions[m.SessionID]
			delete(sessions, m.SessionID) // it may come back later, as a new start
			mu.Unlock()
			if r != nil {
				log.Info("dropping session: another desktop's helper takes it over", "session_id", m.SessionID)
				tr.SessionGone(m.SessionID)
				r.cancel(session.ErrDropped)
			}
			// Confirmed: the service may stop this helper now without
			// the session ending with it.
			if err := conn.Send(ipc.Msg{Type: ipc.TypeState, SessionID: m.SessionID, State: ipc.StateDropped}); err != nil {
				log.Debug("confirming a drop to the service", "error", err)
			}
		}
	}
}

// codeWaiters matches the service's answers to the codes the tray sent.
type codeWaiters struct {
	seq     atomic.Uint64
	mu      sync.Mutex
	waiting map[string]chan ipc.CodeResult
}

// redeem sends code to the service and waits for its answer.
func (w *codeWaiters) redeem(ctx context.Context, conn *ipc.Conn, code string) (ipc.CodeResult, error) {
	id := strconv.FormatUint(w.seq.Add(1), 10)
	ch := make(chan ipc.CodeResult, 1)
	w.mu.Lock()
	w.waiting[id] = ch
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.waiting, id)
		w.mu.Unlock()
	}()
	if err := conn.Send(ipc.Msg{Type: ipc.TypeCode, ReqID: id, Code: code}); err != nil {
		return ipc.CodeResult{}, fmt.Errorf("sending the connection code to the agent service: %w", err)
	}
	t := time.NewTimer(codeAnswerWait)
	defer t.Stop()
	select {
	case res := <-ch:
		return res, nil
	case <-ctx.Done():
		return ipc.CodeResult{}, ctx.Err()
	case <-t.C:
		return ipc.CodeResult{}, fmt.Errorf("the agent service did not answer the connection code within %s", codeAnswerWait)
	}
}

// answer hands the service's answer to whoever waits for it; an answer
// nobody waits for any more is dropped.
func (w *codeWaiters) answer(id string, res ipc.CodeResult) {
	w.mu.Lock()
	ch := w.waiting[id]
	w.mu.Unlock()
	if ch != nil {
		select {
		case ch <- res:
		default:
		}
	}
}

// trayUI is a session's UI as the helper passes it on: the session's own
// UI, with what the tray needs to know taken on the way (the mode the user
// picked, how to end the session, notices). Optional UI interfaces the
// session looks for are passed through explicitly, since embedding the UI
// interface hides them.
type trayUI struct {
	session.UI
	tray *tray.Tray
	id   string
	gate *consentGate
}

// Ask implements session.UI.
func (u *trayUI) Ask(ctx context.Context, req session.AskRequest) (session.Answer, error) {
	defer u.gate.hold()()
	ans, err := u.UI.Ask(ctx, req)
	if err == nil && ans.Accepted && ans.Mode != "" {
		u.tray.SessionMode(u.id, ans.Mode)
	}
	return ans, err
}

// Live implements session.UI. The tray offers End Session as well; where
// it is up, a UI without a session bar need not ask again and again.
func (u *trayUI) Live(ctx context.Context, l session.LiveInfo) {
	u.tray.SessionLive(u.id, l.MayEnd, l.End)
	l.EndInTray = u.tray.Showing()
	u.UI.Live(ctx, l)
}

// AskMode implements session.ModeAsker where the session's UI does;
// without it the answer is no, as for a UI that cannot ask.
func (u *trayUI) AskMode(ctx context.Context, req session.ModeRequest) (bool, error) {
	defer u.gate.hold()()
	if ma, ok := u.UI.(session.ModeAsker); ok {
		return ma.AskMode(ctx, req)
	}
	return false, nil
}

// Notice implements session.Notifier: the tray keeps it among the recent
// notifications (and reads the mode again: a notice may say it changed).
func (u *trayUI) Notice(ctx context.Context, text string) {
	u.tray.Notify(text)
	u.tray.RefreshMode(u.id)
	if n, ok := u.UI.(session.Notifier); ok {
		n.Notice(ctx, text)
	}
}

// noDialogs are a privileged helper's tray dialogs: none.
type noDialogs struct{}

func (noDialogs) EnterCode(context.Context, string) (string, error) { return "", session.ErrPrivileged }
func (noDialogs) Retry(context.Context, string) (bool, error)       { return false, session.ErrPrivileged }
func (noDialogs) Message(context.Context, string, bool) error       { return session.ErrPrivileged }
func (noDialogs) Notify(context.Context, string) error              { return session.ErrPrivileged }

// helperTools are the support tools a helper opens: a shell and the
// files as its user. A privileged helper (root, or a login screen's
// account) opens none: its rights would be no user's.
func helperTools(privileged bool) []string {
	if privileged {
		return nil
	}
	return []string{protocol.ToolTerminal, protocol.ToolFiles}
}
