package remotedesktop

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

// The desktop portal, on the user's session bus.
const (
	portalDest    = "org.freedesktop.portal.Desktop"
	portalPath    = "/org/freedesktop/portal/desktop"
	portalRD      = "org.freedesktop.portal.RemoteDesktop"
	portalSC      = "org.freedesktop.portal.ScreenCast"
	portalRequest = "org.freedesktop.portal.Request"
	portalSessIF  = "org.freedesktop.portal.Session"
)

// Portal device types, source types and persist modes.
const (
	portalKeyboard   = uint32(1)
	portalPointer    = uint32(2)
	portalMonitor    = uint32(1)
	portalCursorEmbd = uint32(2)
	portalPersist    = uint32(2) // until the user revokes it
)

// PortalConfig says how OpenPortal asks.
type PortalConfig struct {
	// TokenFile keeps the portal's restore token: once the end user
	// allowed a session (and chose to remember it, where the desktop asks),
	// later sessions start without the dialog. Empty: always ask.
	TokenFile string
	// Answer bounds the wait for the end user's answer in the dialog.
	Answer time.Duration
}

// portalSession is a session of the portal's RemoteDesktop with screen
// casting: the desktop shows its own dialog (which monitors, allow remote
// control), unless a restore token from an earlier allowed session lets
// it start without one.
type portalSession struct {
	bus     *dbus.Conn
	handle  dbus.ObjectPath
	streams []Stream
	devices uint32 // what the end user allowed to be driven
	fd      int
	done    chan struct{}
	once    sync.Once
}

// ErrDeclined means the end user refused the portal's dialog.
var ErrDeclined = errors.New("remotedesktop: the end user declined screen sharing in the desktop's dialog")

// OpenPortal starts a remote-desktop session through the desktop portal.
func OpenPortal(ctx context.Context, cfg PortalConfig) (Session, error) {
	if cfg.Answer <= 0 {
		cfg.Answer = 2 * time.Minute
	}
	bus, err := sessionBus()
	if err != nil {
		return nil, err
	}
	s := &portalSession{bus: bus, fd: -1, done: make(chan struct{})}
	if err := s.start(ctx, cfg); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func token() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "tether" + hex.EncodeToString(b)
}

// request calls a portal method that answers through a Request object's
// Response signal, and returns the results. The signal is subscribed to
// before the call, at the path the portal will use.
func (s *portalSession) request(ctx context.Context, wait time.Duration, iface, method string, opts map[string]dbus.Variant, args ...any) (map[string]dbus.Variant, error) {
	tok := token()
	opts["handle_token"] = dbus.MakeVariant(tok)
	sender := strings.ReplaceAll(strings.TrimPrefix(s.bus.Names()[0], ":"), ".", "_")
	path := dbus.ObjectPath(portalPath + "/request/" + sender + "/" + tok)
	if err := s.bus.AddMatchSignal(dbus.WithMatchObjectPath(path), dbus.WithMatchInterface(portalRequest), dbus.WithMatchMember("Response")); err != nil {
		return nil, fmt.Errorf("remotedesktop: %s: %w", method, err)
	}
	defer s.bus.RemoveMatchSignal(dbus.WithMatchObjectPath(path), dbus.WithMatchInterface(portalRequest), dbus.WithMatchMember("Response"))
	ch := make(chan *dbus.Signal, 4)
	s.bus.Signal(ch)
	defer s.bus.RemoveSignal(ch)
	var got dbus.ObjectPath
	if err := s.bus.Object(portalDest, portalPath).CallWithContext(ctx, iface+"."+method, 0, append(args, opts)...).Store(&got); err != nil {
		return nil, fmt.Errorf("remotedesktop: portal %s: %w", method, err)
	}
	if got != path {
		// An older portal that chose its own path.
		path = got
		s.bus.AddMatchSignal(dbus.WithMatchObjectPath(path), dbus.WithMatchInterface(portalRequest), dbus.WithMatchMember("Response")) //nolint:errcheck // best effort
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case sig, ok := <-ch:
			if !ok {
				return nil, fmt.Errorf("remotedesktop: portal %s: the session bus closed", method)
			}
			if sig.Path != path || sig.Name != portalRequest+".Response" || len(sig.Body) != 2 {
				continue
			}
			code, _ := sig.Body[0].(uint32)
			results, _ := sig.Body[1].(map[string]dbus.Variant)
			switch code {
			case 0:
				return results, nil
			case 1:
				return nil, ErrDeclined
			default:
				return nil, fmt.Errorf("remotedesktop: portal %s failed", method)
			}
		case <-t.C:
			s.bus.Object(portalDest, path).Call(portalRequest+".Close", 0) //nolint:errcheck // the dialog goes away
			return nil, fmt.Errorf("remotedesktop: no answer to the portal's %s in %v", method, wait)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *portalSession) start(ctx context.Context, cfg PortalConfig) error {
	res, err := s.request(ctx, 10*time.Second, portalRD, "CreateSession",
		map[string]dbus.Variant{"session_handle_token": dbus.MakeVariant(token())})
	if err != nil {
		if errors.Is(err, ErrDeclined) {
			return err
		}
		return fmt.Errorf("%w (%v)", ErrUnavailable, err)
	}
	h, _ := res["session_handle"].Value().(string)
	if h == "" {
		if p, ok := res["session_handle"].Value().(dbus.ObjectPath); ok {
			h = string(p)
		}
	}
	if h == "" {
		return errors.New("remotedesktop: the portal made no session")
	}
	s.handle = dbus.ObjectPath(h)
	if err := s.bus.AddMatchSignal(dbus.WithMatchObjectPath(s.handle), dbus.WithMatchInterface(portalSessIF), dbus.WithMatchMember("Closed")); err == nil {
		go s.watch()
	}
	devOpts := map[string]dbus.Variant{
		"types":        dbus.MakeVariant(portalKeyboard | portalPointer),
		"persist_mode": dbus.MakeVariant(portalPersist),
	}
	// RemoteDesktop sessions can be remembered from version 2 of the
	// portal's interface (newer than Debian 12's xdg-desktop-portal
	// 1.16); before that the dialog comes at every session.
	if v, err := s.bus.Object(portalDest, portalPath).GetProperty(portalRD + ".version"); err == nil {
		if n, _ := v.Value().(uint32); n < 2 {
			slog.Info("the desktop's portal cannot remember the end user's answer: its dialog comes at every session", "remote_desktop_version", n)
		}
	}
	if cfg.TokenFile != "" {
		if b, err := os.ReadFile(cfg.TokenFile); err == nil && len(b) > 0 {
			devOpts["restore_token"] = dbus.MakeVariant(strings.TrimSpace(string(b)))
		}
	}
	if _, err := s.request(ctx, 10*time.Second, portalRD, "SelectDevices", devOpts, s.handle); err != nil {
		return err
	}
	if _, err := s.request(ctx, 10*time.Second, portalSC, "SelectSources", map[string]dbus.Variant{
		"types":       dbus.MakeVariant(portalMonitor),
		"multiple":    dbus.MakeVariant(true),
		"cursor_mode": dbus.MakeVariant(portalCursorEmbd),
	}, s.handle); err != nil {
		return err
	}
	// Here the desktop asks the end user, unless the token stands.
	res, err = s.request(ctx, cfg.Answer, portalRD, "Start", map[string]dbus.Variant{}, s.handle, "")
	if err != nil {
		return err
	}
	s.devices, _ = res["devices"].Value().(uint32)
	if tok, _ := res["restore_token"].Value().(string); tok != "" && cfg.TokenFile != "" {
		if err := writeToken(cfg.TokenFile, tok); err != nil {
			return err
		}
	}
	type stream struct {
		Node  uint32
		Props map[string]dbus.Variant
	}
	var streams []stream
	if v, ok := res["streams"]; ok {
		if err := dbus.Store([]any{v.Value()}, &streams); err != nil {
			return fmt.Errorf("remotedesktop: the portal's streams: %w", err)
		}
	}
	if len(streams) == 0 {
		return errors.New("remotedesktop: the portal shares no monitor")
	}
	for _, st := range streams {
		out := Stream{Node: st.Node, id: fmt.Sprint(st.Node)}
		if p, ok := st.Props["position"]; ok {
			var xy struct{ X, Y int32 }
			if dbus.Store([]any{p.Value()}, &xy) == nil {
				out.X, out.Y = int(xy.X), int(xy.Y)
			}
		}
		if p, ok := st.Props["size"]; ok {
			var wh struct{ W, H int32 }
			if dbus.Store([]any{p.Value()}, &wh) == nil {
				out.W, out.H = int(wh.W), int(wh.H)
			}
		}
		s.streams = append(s.streams, out)
	}
	// Left to right, top to bottom; the portal says nothing of primary.
	slices.SortStableFunc(s.streams, func(a, b Stream) int {
		if a.Y != b.Y {
			return a.Y - b.Y
		}
		return a.X - b.X
	})
	var fd dbus.UnixFD
	if err := s.bus.Object(portalDest, portalPath).CallWithContext(ctx, portalSC+".OpenPipeWireRemote", 0, s.handle,
		map[string]dbus.Variant{}).Store(&fd); err != nil {
		return fmt.Errorf("remotedesktop: opening the portal's PipeWire remote: %w", err)
	}
	s.fd = int(fd)
	if s.Interactive() {
		return warmUp(s)
	}
	return nil // the end user shares the screen without remote interaction
}

// writeToken keeps the restore token for the user alone.
func writeToken(path, tok string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("remotedesktop: keeping the restore token: %w", err)
	}
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return fmt.Errorf("remotedesktop: keeping the restore token: %w", err)
	}
	return nil
}

func (s *portalSession) watch() {
	ch := make(chan *dbus.Signal, 4)
	s.bus.Signal(ch)
	for sig := range ch {
		if sig.Path == s.handle && sig.Name == portalSessIF+".Closed" {
			break
		}
	}
	s.once.Do(func() { close(s.done) })
}

func (s *portalSession) Kind() Kind            { return KindPortal }
func (s *portalSession) Streams() []Stream     { return slices.Clone(s.streams) }
func (s *portalSession) PipeWireFD() int       { return s.fd }
func (s *portalSession) Done() <-chan struct{} { return s.done }
func (s *portalSession) Interactive() bool {
	return s.devices&(portalKeyboard|portalPointer) == portalKeyboard|portalPointer
}

func (s *portalSession) call(method string, args ...any) error {
	all := append([]any{s.handle, map[string]dbus.Variant{}}, args...)
	if err := s.bus.Object(portalDest, portalPath).Call(portalRD+"."+method, 0, all...).Err; err != nil {
		return fmt.Errorf("remotedesktop: %s: %w", method, err)
	}
	return nil
}

func (s *portalSession) PointerMotionAbsolute(i int, x, y float64) error {
	if i < 0 || i >= len(s.streams) {
		return fmt.Errorf("remotedesktop: no stream %d", i)
	}
	return s.call("NotifyPointerMotionAbsolute", s.streams[i].Node, x, y)
}

func (s *portalSession) PointerMotionRelative(dx, dy float64) error {
	return s.call("NotifyPointerMotion", dx, dy)
}

func (s *portalSession) PointerButton(button int32, pressed bool) error {
	return s.call("NotifyPointerButton", button, state(pressed))
}

func (s *portalSession) PointerAxisDiscrete(axis uint32, steps int32) error {
	return s.call("NotifyPointerAxisDiscrete", axis, steps)
}

func (s *portalSession) KeyboardKeycode(code uint32, pressed bool) error {
	return s.call("NotifyKeyboardKeycode", int32(code), state(pressed))
}

func (s *portalSession) KeyboardKeysym(sym uint32, pressed bool) error {
	return s.call("NotifyKeyboardKeysym", int32(sym), state(pressed))
}

func state(pressed bool) uint32 {
	if pressed {
		return 1
	}
	return 0
}

func (s *portalSession) Close() error {
	if s.handle != "" {
		select {
		case <-s.done:
		default:
			s.bus.Object(portalDest, s.handle).Call(portalSessIF+".Close", 0) //nolint:errcheck // the session may be gone
		}
	}
	s.once.Do(func() { close(s.done) })
	if s.fd >= 0 {
		os.NewFile(uintptr(s.fd), "pipewire").Close()
		s.fd = -1
	}
	return s.bus.Close()
}
