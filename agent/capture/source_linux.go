//go:build !s390x && !ppc64le

package capture

import (
	"fmt"
	"image"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xinerama"
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
	return p, nil
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
