//go:build !s390x && !ppc64le

package capture

import (
	"errors"
	"fmt"
	"image"
	"log/slog"
	"os"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xinerama"
	"github.com/jezek/xgb/xproto"
)

// newSource returns the X11 source (MIT-SHM when the server shares memory
// with us, else GetImage over the socket), or the portable source when X11
// is unusable (no display, an exotic pixel format). A forced method never
// falls back.
func newSource(cfg Config) (Source, error) {
	m := cfg.Method
	switch m {
	case MethodX11SHM, MethodX11:
		return newX11(m)
	case MethodPortable:
		return newPortableX11()
	case MethodWLR:
		return newWLR()
	case MethodMutter, MethodPortal:
		s, err := newRD(cfg.RemoteDesktop)
		if err == nil && s.(interface{ Method() Method }).Method() != m {
			s.Close()
			return nil, fmt.Errorf("%w: %s: this desktop's session is another kind", ErrUnknownMethod, m)
		}
		return s, err
	}
	if os.Getenv("WAYLAND_DISPLAY") != "" {
		// A Wayland desktop: its X display, if any, is Xwayland's, which
		// shows only X clients' windows.
		return newWayland(cfg)
	}
	s, err := newX11(MethodAuto)
	if err == nil {
		return s, nil
	}
	if errors.Is(err, ErrNoDisplay) {
		return nil, err
	}
	slog.Default().With("component", "capture").Info("X11 capture unavailable, using the portable path", "reason", err)
	return newPortableX11()
}

// newPortableX11 returns the portable source with the pointer position.
func newPortableX11() (Source, error) {
	p, err := newPortable()
	if err != nil {
		return nil, err
	}
	c, err := xgb.NewConn()
	if err != nil {
		// The pointer position is a nicety; capture works without it.
		return p, nil
	}
	return &portableX11{Source: p, conn: c, root: xproto.Setup(c).DefaultScreen(c).Root}, nil
}

// portableX11 adds the pointer position to the portable source, so viewers
// can draw the endpoint's cursor.
type portableX11 struct {
	Source
	conn *xgb.Conn
	root xproto.Window
}

// Cursor reports where the pointer is on monitor, in monitor pixels; ok is
// false when it is on another monitor or cannot be read.
func (s *portableX11) Cursor(monitor int) (x, y int, ok bool) {
	mons, err := s.Monitors()
	if err != nil || monitor < 0 || monitor >= len(mons) {
		return 0, 0, false
	}
	r, err := xproto.QueryPointer(s.conn, s.root).Reply()
	if err != nil || !r.SameScreen {
		return 0, 0, false
	}
	m := mons[monitor]
	x, y = int(r.RootX)-m.X, int(r.RootY)-m.Y
	return x, y, x >= 0 && y >= 0 && x < m.W && y < m.H
}

// Method reports the capture path in use.
func (s *portableX11) Method() Method { return MethodPortable }

// Close closes the pointer connection and the source.
func (s *portableX11) Close() error {
	s.conn.Close()
	return s.Source.Close()
}

// virtualOrigin is where display 0 sits on the X root window:
// screenshot reports rectangles relative to display 0, input injection
// (XWarpPointer on the root) uses root coordinates.
func virtualOrigin() (image.Point, error) {
	c, err := xgb.NewConn()
	if err != nil {
		return image.Point{}, fmt.Errorf("connecting to X: %w", err)
	}
	defer c.Close()
	if err := xinerama.Init(c); err != nil {
		return image.Point{}, nil // no Xinerama: one screen at the root origin
	}
	r, err := xinerama.QueryScreens(c).Reply()
	if err != nil {
		return image.Point{}, fmt.Errorf("xinerama: %w", err)
	}
	if len(r.ScreenInfo) == 0 {
		return image.Point{}, nil
	}
	return image.Point{X: int(r.ScreenInfo[0].XOrg), Y: int(r.ScreenInfo[0].YOrg)}, nil
}
