package remotedesktop

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

// GNOME's remote-desktop API, on the user's session bus.
const (
	mutterRD       = "org.gnome.Mutter.RemoteDesktop"
	mutterRDPath   = "/org/gnome/Mutter/RemoteDesktop"
	mutterRDSess   = "org.gnome.Mutter.RemoteDesktop.Session"
	mutterSC       = "org.gnome.Mutter.ScreenCast"
	mutterSCPath   = "/org/gnome/Mutter/ScreenCast"
	mutterSCSess   = "org.gnome.Mutter.ScreenCast.Session"
	mutterSCStream = "org.gnome.Mutter.ScreenCast.Stream"
	mutterDC       = "org.gnome.Mutter.DisplayConfig"
	mutterDCPath   = "/org/gnome/Mutter/DisplayConfig"
)

// mutterStartTimeout bounds the wait for the streams after Start.
const mutterStartTimeout = 10 * time.Second

// cursorEmbedded asks for the pointer drawn into the frames.
const cursorEmbedded = uint32(1)

// mutterSession is a session of GNOME's API: no dialog, since it is the
// desktop's own API on the user's own bus (what gnome-remote-desktop and
// GNOME's screen sharing use).
type mutterSession struct {
	bus     *dbus.Conn
	rd      dbus.BusObject
	streams []Stream
	done    chan struct{}
	once    sync.Once
	signals chan *dbus.Signal
}

// OpenMutter starts a remote-desktop session with a screen-cast stream per
// logical monitor, on this process's session bus.
func OpenMutter(ctx context.Context) (Session, error) {
	bus, err := sessionBus()
	if err != nil {
		return nil, err
	}
	s := &mutterSession{bus: bus, done: make(chan struct{}), signals: make(chan *dbus.Signal, 16)}
	if err := s.start(ctx); err != nil {
		s.Close()
		return nil, err
	}
	go s.watch()
	return s, nil
}

// logicalMonitor is one of DisplayConfig.GetCurrentState's logical monitors.
type logicalMonitor struct {
	X, Y      int32
	Scale     float64
	Transform uint32
	Primary   bool
	Monitors  []struct{ Connector, Vendor, Product, Serial string }
	Props     map[string]dbus.Variant
}

func (s *mutterSession) start(ctx context.Context) error {
	var has bool
	if err := s.bus.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, mutterRD).Store(&has); err != nil || !has {
		return fmt.Errorf("%w: no %s on the session bus", ErrUnavailable, mutterRD)
	}
	// The layout: which connectors to record, where they are.
	var (
		serial   uint32
		monitors []struct {
			ID    struct{ Connector, Vendor, Product, Serial string }
			Modes []struct {
				ID                 string
				W, H               int32
				Refresh, Preferred float64
				Scales             []float64
				Props              map[string]dbus.Variant
			}
			Props map[string]dbus.Variant
		}
		logical []logicalMonitor
		props   map[string]dbus.Variant
	)
	dc := s.bus.Object(mutterDC, mutterDCPath)
	if err := dc.CallWithContext(ctx, mutterDC+".GetCurrentState", 0).Store(&serial, &monitors, &logical, &props); err != nil {
		return fmt.Errorf("remotedesktop: reading GNOME's monitor layout: %w", err)
	}
	if len(logical) == 0 {
		return fmt.Errorf("remotedesktop: GNOME reports no monitors")
	}
	// Primary first, then left to right, top to bottom.
	slices.SortStableFunc(logical, func(a, b logicalMonitor) int {
		switch {
		case a.Primary != b.Primary:
			if a.Primary {
				return -1
			}
			return 1
		case a.Y != b.Y:
			return int(a.Y - b.Y)
		}
		return int(a.X - b.X)
	})
	modeSize := func(connector string) (int, int) {
		for _, m := range monitors {
			if m.ID.Connector != connector {
				continue
			}
			for _, md := range m.Modes {
				if cur, ok := md.Props["is-current"]; ok {
					if b, _ := cur.Value().(bool); b {
						return int(md.W), int(md.H)
					}
				}
			}
		}
		return 0, 0
	}

	var rdPath dbus.ObjectPath
	if err := s.bus.Object(mutterRD, mutterRDPath).CallWithContext(ctx, mutterRD+".CreateSession", 0).Store(&rdPath); err != nil {
		return fmt.Errorf("remotedesktop: creating a GNOME remote-desktop session: %w", err)
	}
	s.rd = s.bus.Object(mutterRD, rdPath)
	id, err := s.rd.GetProperty(mutterRDSess + ".SessionId")
	if err != nil {
		return fmt.Errorf("remotedesktop: GNOME remote-desktop session id: %w", err)
	}
	sid, _ := id.Value().(string)
	var scPath dbus.ObjectPath
	if err := s.bus.Object(mutterSC, mutterSCPath).CallWithContext(ctx, mutterSC+".CreateSession", 0,
		map[string]dbus.Variant{"remote-desktop-session-id": dbus.MakeVariant(sid)}).Store(&scPath); err != nil {
		return fmt.Errorf("remotedesktop: creating a GNOME screen-cast session: %w", err)
	}
	sc := s.bus.Object(mutterSC, scPath)
	if err := s.bus.AddMatchSignal(dbus.WithMatchInterface(mutterRDSess), dbus.WithMatchMember("Closed"), dbus.WithMatchObjectPath(rdPath)); err != nil {
		return fmt.Errorf("remotedesktop: watching the session: %w", err)
	}
	added := make(chan *dbus.Signal, 16)
	s.bus.Signal(added)
	defer s.bus.RemoveSignal(added)
	for _, lm := range logical {
		if len(lm.Monitors) == 0 {
			continue
		}
		conn := lm.Monitors[0].Connector
		var path dbus.ObjectPath
		if err := sc.CallWithContext(ctx, mutterSCSess+".RecordMonitor", 0, conn,
			map[string]dbus.Variant{"cursor-mode": dbus.MakeVariant(cursorEmbedded)}).Store(&path); err != nil {
			return fmt.Errorf("remotedesktop: recording monitor %s: %w", conn, err)
		}
		if err := s.bus.AddMatchSignal(dbus.WithMatchInterface(mutterSCStream), dbus.WithMatchMember("PipeWireStreamAdded"), dbus.WithMatchObjectPath(path)); err != nil {
			return fmt.Errorf("remotedesktop: watching stream %s: %w", path, err)
		}
		w, h := modeSize(conn)
		if lm.Scale > 0 {
			w, h = int(float64(w)/lm.Scale+0.5), int(float64(h)/lm.Scale+0.5)
		}
		s.streams = append(s.streams, Stream{X: int(lm.X), Y: int(lm.Y), W: w, H: h, id: string(path)})
	}
	if len(s.streams) == 0 {
		return fmt.Errorf("remotedesktop: no monitor to record")
	}
	if err := s.rd.CallWithContext(ctx, mutterRDSess+".Start", 0).Err; err != nil {
		return fmt.Errorf("remotedesktop: starting the GNOME remote-desktop session: %w", err)
	}
	deadline := time.NewTimer(mutterStartTimeout)
	defer deadline.Stop()
	for waiting := len(s.streams); waiting > 0; {
		select {
		case sig, ok := <-added:
			if !ok {
				return errors.New("remotedesktop: the session bus closed")
			}
			if sig.Name != mutterSCStream+".PipeWireStreamAdded" || len(sig.Body) != 1 {
				continue
			}
			node, _ := sig.Body[0].(uint32)
			for i := range s.streams {
				if s.streams[i].id == string(sig.Path) && s.streams[i].Node == 0 {
					s.streams[i].Node = node
					waiting--
				}
			}
		case <-deadline.C:
			return fmt.Errorf("remotedesktop: GNOME started no PipeWire stream in %v", mutterStartTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return warmUp(s)
}

// watch closes done when GNOME closes the session (or the bus goes).
func (s *mutterSession) watch() {
	s.bus.Signal(s.signals)
	for sig := range s.signals {
		if sig.Name == mutterRDSess+".Closed" {
			break
		}
	}
	s.once.Do(func() { close(s.done) })
}

func (s *mutterSession) Kind() Kind            { return KindMutter }
func (s *mutterSession) Interactive() bool     { return true }
func (s *mutterSession) Streams() []Stream     { return slices.Clone(s.streams) }
func (s *mutterSession) PipeWireFD() int       { return -1 }
func (s *mutterSession) Done() <-chan struct{} { return s.done }

func (s *mutterSession) call(method string, args ...any) error {
	if err := s.rd.Call(mutterRDSess+"."+method, 0, args...).Err; err != nil {
		return fmt.Errorf("remotedesktop: %s: %w", method, err)
	}
	return nil
}

func (s *mutterSession) PointerMotionAbsolute(i int, x, y float64) error {
	if i < 0 || i >= len(s.streams) {
		return fmt.Errorf("remotedesktop: no stream %d", i)
	}
	return s.call("NotifyPointerMotionAbsolute", s.streams[i].id, x, y) // the stream path as a string
}

func (s *mutterSession) PointerMotionRelative(dx, dy float64) error {
	return s.call("NotifyPointerMotionRelative", dx, dy)
}

func (s *mutterSession) PointerButton(button int32, pressed bool) error {
	return s.call("NotifyPointerButton", button, pressed)
}

func (s *mutterSession) PointerAxisDiscrete(axis uint32, steps int32) error {
	return s.call("NotifyPointerAxisDiscrete", axis, steps)
}

func (s *mutterSession) KeyboardKeycode(code uint32, pressed bool) error {
	return s.call("NotifyKeyboardKeycode", code, pressed)
}

func (s *mutterSession) KeyboardKeysym(sym uint32, pressed bool) error {
	return s.call("NotifyKeyboardKeysym", sym, pressed)
}

func (s *mutterSession) Close() error {
	var err error
	if s.rd != nil {
		select {
		case <-s.done:
		default:
			if e := s.rd.Call(mutterRDSess+".Stop", 0).Err; e != nil && !errors.Is(e, dbus.ErrClosed) {
				err = fmt.Errorf("remotedesktop: stopping the session: %w", e)
			}
		}
	}
	s.once.Do(func() { close(s.done) })
	return errors.Join(err, s.bus.Close())
}
