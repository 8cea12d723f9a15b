package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/tetherdesk/tether/agent/actions"
	"github.com/tetherdesk/tether/agent/capture"
	"github.com/tetherdesk/tether/agent/config"
	"github.com/tetherdesk/tether/agent/desktop"
	"github.com/tetherdesk/tether/agent/encode"
	"github.com/tetherdesk/tether/agent/helper"
	"github.com/tetherdesk/tether/agent/input"
	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/agent/notify"
	"github.com/tetherdesk/tether/agent/remotedesktop"
	"github.com/tetherdesk/tether/agent/runner"
	"github.com/tetherdesk/tether/agent/session"
	"github.com/tetherdesk/tether/agent/state"
	"github.com/tetherdesk/tether/agent/supervisor"
	"github.com/tetherdesk/tether/agent/tray"
	"github.com/tetherdesk/tether/agent/update"
	"github.com/tetherdesk/tether/shared/policy"
	"github.com/tetherdesk/tether/shared/protocol"
	"github.com/tetherdesk/tether/shared/release"
	"github.com/tetherdesk/tether/shared/version"
)

// helperSocketName is the IPC socket's file name.
const helperSocketName = "helper.sock"

// maxSocketPath keeps the socket path under the ~104-byte limit of Unix
// socket addresses.
const maxSocketPath = 100

// helperSocket is where the service listens for its session helpers: a
// system runtime directory when the service runs as root (the state
// directory is private to root, and helpers run as the desktop user),
// otherwise the state directory (`run` mode), or a short temporary path
// when that would be too long for a socket address.
func helperSocket(stateDir string) string {
	if os.Geteuid() == 0 && systemSocketDir != "" {
		return filepath.Join(systemSocketDir, helperSocketName)
	}
	p := filepath.Join(stateDir, helperSocketName)
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if len(p) <= maxSocketPath {
		return p
	}
	dir, err := os.MkdirTemp("", "tether-agent-")
	if err != nil {
		return p
	}
	return filepath.Join(dir, helperSocketName)
}

// storedPolicy returns the screen-share policy the agent holds now.
func storedPolicy(stateDir string, log *slog.Logger) func() policy.ScreenShare {
	return func() policy.ScreenShare {
		st, err := state.Open(stateDir, log)
		if err != nil {
			log.Warn("reading the policy; using defaults", "component", "main", "error", err)
			return policy.Default()
		}
		p, err := st.LoadPolicy()
		if err != nil || p == nil {
			return policy.Default()
		}
		pol, err := policy.FromDoc(p.Doc)
		if err != nil {
			log.Warn("screen-share policy invalid; using defaults", "component", "main", "error", err)
			return policy.Default()
		}
		return pol
	}
}

// withScreenShare runs the runner with a supervisor that hands
// screenshare.start actions to session helpers; run mode uses the agent's
// own desktop, the service every desktop session of the machine.
func withScreenShare(ctx context.Context, cfg config.Config, rc runner.Config, log *slog.Logger, helperOut io.Writer, own bool) error {
	upd := newUpdater(cfg, log)
	if upd != nil {
		rc.Update = upd
	}
	for {
		loopCtx, cancel := context.WithCancel(ctx)
		readyc := make(chan update.Ready, 1)
		if upd != nil {
			go func() {
				select {
				case r := <-upd.Ready():
					readyc <- r
					cancel() // stop everything for the trial
				case <-loopCtx.Done():
				}
			}()
		}
		err := runAgent(loopCtx, cfg, rc, log, helperOut, own)
		cancel()
		select {
		case r := <-readyc:
			if upd.Trial(ctx, r, os.Args[1:], helperOut) == update.Confirmed {
				err := upd.Restart(os.Args[1:])
				log.Error("restarting into the update", "component", "main", "error", err)
				// Carrying on would run the old code over the new binary's
				// state: exit, and the service manager starts the new one.
				os.Exit(1)
			}
			// Rolled back: this binary carries on.
		default:
			return err
		}
	}
}

// newUpdater sets up the self-update; nil (and a log line) when it cannot.
func newUpdater(cfg config.Config, log *slog.Logger) *update.Updater {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		log.Warn("self-update off: cannot find this binary", "component", "main", "error", err)
		return nil
	}
	var key ed25519.PublicKey
	if release.PublicKey != "" {
		if key, err = release.ParsePublicKey(release.PublicKey); err != nil {
			log.Error("self-update off: the compiled-in release key is malformed", "component", "main", "error", err)
		}
	}
	upd, err := update.New(update.Config{Exe: exe, StateDir: cfg.StateDir, Version: version.Version,
		OS: runtime.GOOS, Arch: runtime.GOARCH, PublicKey: key, Logger: log})
	if err != nil {
		log.Warn("self-update off", "component", "main", "error", err)
		return nil
	}
	return upd
}

// runAgent runs the session supervisor and the runner until ctx ends or
// the runner stops.
func runAgent(ctx context.Context, cfg config.Config, rc runner.Config, log *slog.Logger, helperOut io.Writer, own bool) error {
	desktops := supervisor.SystemDesktops
	if own {
		desktops = supervisor.OwnDesktop(nil)
	}
	var scan time.Duration
	if f := os.Getenv(supervisor.DesktopsFileEnv); f != "" {
		// Development aid: desktops from a file a test can rewrite.
		log.Warn("taking desktop sessions from a file (development aid)", "component", "main", "file", f)
		desktops, scan = supervisor.DesktopsFile(f), supervisor.DesktopsFileScan
	}
	// The supervisor redeems the tray's connection codes with the runner's
	// credentials; the runner exists once the supervisor does.
	var (
		r   *runner.Runner
		mgr *notify.Manager
	)
	sup, err := supervisor.New(supervisor.Config{
		ScanInterval: scan,
		SocketPath:   helperSocket(cfg.StateDir),
		Server:       cfg.Server,
		Fingerprint:  cfg.Fingerprint,
		Proxy:        cfg.Proxy,
		Policy:       storedPolicy(cfg.StateDir, log),
		Desktops:     desktops,
		HelperOutput: helperOut,
		LogLevel:     cfg.LogLevel,
		LogFormat:    cfg.LogFormat,
		Logger:       log,
		RedeemCode: func(ctx context.Context, code string) (protocol.RedeemCodeResponse, error) {
			return r.RedeemCode(ctx, code)
		},
		NotifyResult: func(key, user string, res ipc.NotifyResult) {
			if mgr != nil {
				mgr.Result(key, user, res)
			}
		},
		HelpersChanged: func() {
			if mgr != nil {
				mgr.Kick()
			}
		},
	})
	if err != nil {
		return err
	}
	mgr, err = notify.Open(notify.Config{StateDir: cfg.StateDir, Display: sup, Logger: log,
		Wake: func() {
			if r != nil {
				r.Poke()
			}
		}})
	if err != nil {
		log.Warn("end-user notifications disabled", "component", "main", "error", err)
		mgr = nil
	} else {
		rc.Notifications = mgr
	}
	if rc.Handlers == nil {
		rc.Handlers = map[string]actions.Handler{}
	}
	ctx, cancel := context.WithCancel(ctx)
	tools := &serviceTools{ctx: ctx, sup: sup, cfg: cfg, policy: storedPolicy(cfg.StateDir, log), log: log.With("component", "tools")}
	defer tools.wait() // after cancel: the tools' sessions end with ctx
	defer cancel()
	rc.Handlers[protocol.ActionScreenShareStart] = tools.handle
	rc.ServerState = sup.SetServerState
	r, err = runner.New(rc)
	if err != nil {
		return usageError{err}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := sup.Run(ctx); err != nil {
			log.Warn("screen sharing disabled", "component", "main", "error", err)
		}
	}()
	if mgr != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mgr.Run(ctx)
		}()
	}
	err = r.Run(ctx)
	cancel()
	wg.Wait()
	return err
}

// cmdSession is the session helper: started by the service inside a
// desktop session, it takes sessions over IPC and runs them.
func cmdSession(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("session", stderr)
	socket := fs.String("ipc", "", "path of the agent service's IPC socket")
	desktopKey := fs.String("desktop", "", "desktop session key the service gave this helper")
	loginScreen := fs.Bool("login-screen", false, "the desktop is a login screen (the service says so): nobody there to consent to dialogs")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	format := fs.String("log-format", "text", "text or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *socket == "" {
		return usageError{errors.New("--ipc is required (the service starts the helper with it)")}
	}
	// The helper's live heap is mostly two copies of the screen (the
	// capture and the encoder's); the default GOGC would let garbage grow
	// to as much again. 25 keeps the heap within a quarter of them for a
	// GC every few seconds while streaming (make bench-screen).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(25)
	}
	log, err := newLogger(stderr, config.Config{LogLevel: *level, LogFormat: *format})
	if err != nil {
		return usageError{err}
	}
	// Packages that log through slog.Default (capture, the clipboard) log
	// at the helper's level and in its format.
	slog.SetDefault(log)
	log.Info("tether-agent session helper starting", "component", "main", "version", version.Version, "desktop", *desktopKey)
	dpiAware(log)
	// A Wayland desktop's remote-desktop session (GNOME's API, or the
	// portal), opened when a session first needs the screen or input and
	// shared by both.
	rd := remotedesktop.NewShared(func() (remotedesktop.Session, error) {
		return remotedesktop.Open(ctx, remotedesktop.PortalConfig{TokenFile: remotedesktop.TokenFile(os.Getenv)})
	})
	err = helper.Run(ctx, helper.Config{
		SocketPath: *socket,
		Desktop:    *desktopKey,
		Version:    version.Version,
		Logger:     log,
		// Root (LocalSystem), or a login screen whatever account draws it:
		// no window but the acceptance prompt.
		Privileged: session.RunningPrivileged() || *loginScreen,
		Deps: helper.Deps{
			TrayHost:    tray.NewSystrayHost(log),
			TrayDialogs: tray.NewDialogs(),
			UI:          desktop.NewUI(log.With("component", "ui")),
			NewSource: func() (session.FrameSource, error) {
				return capture.Open(capture.Config{Method: capture.Method(os.Getenv(capture.EnvMethod)), RemoteDesktop: rd})
			},
			NewEncoder:    func() session.FrameEncoder { return encode.New(encode.Config{}) },
			NoVideo:       os.Getenv(session.EnvVideo) == "off",
			NewInjector:   func() (session.Injector, error) { return input.Open(input.Config{RemoteDesktop: rd}) },
			NewChatWindow: desktop.NewChatWindow,
			NewClipboard:  desktop.NewClipboard,
			NewOverlay:    desktop.NewOverlay,
			NewNotification: func(n ipc.Notification, readOnly bool) (helper.NotificationWindow, error) {
				return desktop.NewNotificationWindow(n, readOnly, log.With("component", "notification"))
			},
		},
	})
	if err != nil {
		return fmt.Errorf("session helper: %w", err)
	}
	return nil
}
