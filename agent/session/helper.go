package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/shared/policy"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Deps are what a session uses from the desktop: the user interface,
// capture, encoding and input. The helper process wires the real ones.
type Deps struct {
	UI            UI
	NewSource     func() (FrameSource, error)
	NewEncoder    func() FrameEncoder
	NewInjector   func() (Injector, error)
	SettingEngine *webrtc.SettingEngine
}

// HelperConfig configures the helper process logic.
type HelperConfig struct {
	// SocketPath is the service's IPC socket.
	SocketPath string
	// Desktop is the key the service gave this helper's desktop session.
	Desktop string
	Deps    Deps
	Logger  *slog.Logger
}

// running is one session the helper runs.
type running struct{ cancel context.CancelCauseFunc }

// RunHelper connects to the service, says it is ready and runs the
// sessions the service hands over until ctx ends or the service goes away.
// Sessions run concurrently; each ends when the server, the user or the
// service ends it.
func RunHelper(ctx context.Context, cfg HelperConfig) error {
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
	log.Info("session helper ready", "desktop", cfg.Desktop)

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
	)
	defer func() {
		mu.Lock()
		for _, r := range sessions {
			r.cancel(EndError{Reason: protocol.EndedError})
		}
		mu.Unlock()
		wg.Wait()
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
			scfg := Config{
				Start: *m.Start, Server: m.Server, Fingerprint: m.Fingerprint, Policy: pol, Resume: m.Resume,
				UI: cfg.Deps.UI, NewSource: cfg.Deps.NewSource, NewEncoder: cfg.Deps.NewEncoder,
				NewInjector: cfg.Deps.NewInjector, SettingEngine: cfg.Deps.SettingEngine,
				Logger: cfg.Logger,
				SecureAttention: secureAttention(func() error {
					return conn.Send(ipc.Msg{Type: ipc.TypeSAS, SessionID: id})
				}),
				Report: func(state, reason, errText string) {
					err := conn.Send(ipc.Msg{Type: ipc.TypeState, SessionID: id, State: state, Reason: reason, Error: errText})
					if err != nil && hctx.Err() == nil {
						log.Debug("reporting state to the service", "error", err)
					}
				},
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
				reason, err := Run(sctx, scfg)
				if err != nil && sctx.Err() == nil {
					log.Warn("session failed", "session_id", id, "reason", reason, "error", err)
				}
				mu.Lock()
				if sessions[id] == run {
					delete(sessions, id)
				}
				mu.Unlock()
			}()
		case ipc.TypeEnd:
			mu.Lock()
			r := sessions[m.SessionID]
			mu.Unlock()
			if r != nil {
				r.cancel(EndError{Reason: endReason(m.Reason)})
			}
		case ipc.TypeDrop:
			mu.Lock()
			r := sessions[m.SessionID]
			delete(sessions, m.SessionID) // it may come back later, as a new start
			mu.Unlock()
			if r != nil {
				log.Info("dropping session: another desktop's helper takes it over", "session_id", m.SessionID)
				r.cancel(ErrDropped)
			}
		}
	}
}
