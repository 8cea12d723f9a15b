//go:build !s390x && !ppc64le

package capture

import (
	"fmt"
	"image"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xinerama"
	"github.com/jezek/xgb/xproto"
)

// newSource returns the portable source. Issue 4 adds the X11 shared-memory
// fast path here (one connection, one reused segment and image, XDamage
// for change hints) behind the same Source interface, falling back to the
// portable path when MIT-SHM is unavailable.
func newSource() (Source, error) {
	p, err := newPortable()
	if err != nil {
		return nil, err
	}
	c, err := xgb.NewConn()
	if err != nil {
		// The pointer position is a nicety; capture works without it.
		return p, nil
	}
	return &x11Source{Source: p, conn: c, root: xproto.Setup(c).DefaultScreen(c).Root}, nil
}

// x11Source adds the pointer position to a source, so viewers can draw the
// endpoint's cursor.
type x11Source struct {
	Source
	conn *xgb.Conn
	root xproto.Window
}

// Cursor reports where the pointer is on monitor, in monitor pixels; ok is
// false when it is on another monitor or cannot be read.
func (s *x11Source) Cursor(monitor int) (x, y int, ok bool) {
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

// Close closes the pointer connection and the source.
func (s *x11Source) Close() error {
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
