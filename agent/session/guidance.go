package session

import (
	"image"
	"sync"

	"github.com/tetherdesk/tether/shared/protocol"
)

// maxMarkPoints bounds one guidance stroke.
const maxMarkPoints = 512

// guidance draws the technician's pointer and marks over the end user's
// screen in Guidance mode. Only the control holder guides, or any viewer
// while nobody holds control. Nothing here injects input.
type guidance struct {
	s *Session

	mu     sync.Mutex
	ov     Overlay
	failed bool
	closed bool
}

func newGuidance(s *Session) *guidance { return &guidance{s: s} }

// target returns the monitor v watches when v may guide now.
func (g *guidance) target(v *viewer) (protocol.Monitor, bool) {
	s := g.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mode != protocol.ModeGuidance || (s.holder != "" && s.holder != v.id) {
		return protocol.Monitor{}, false
	}
	if v.monitor < 0 || v.monitor >= len(s.monitors) {
		return protocol.Monitor{}, false
	}
	return s.monitors[v.monitor], true
}

func (g *guidance) overlay() Overlay {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ov != nil || g.failed || g.closed {
		return g.ov
	}
	ov, err := g.s.cfg.NewOverlay()
	if err != nil {
		g.failed = true
		g.s.log.Warn("guidance overlay unavailable", "error", err)
		return nil
	}
	g.ov = ov
	return ov
}

func (g *guidance) pointer(v *viewer, x, y int) {
	mon, ok := g.target(v)
	if !ok {
		return
	}
	show := x >= 0 && y >= 0 && x < mon.W && y < mon.H
	if ov := g.overlay(); ov != nil {
		if err := ov.Pointer(mon, x, y, show); err != nil {
			g.s.log.Debug("drawing the pointer", "error", err)
		}
	}
}

func (g *guidance) mark(v *viewer, flat []int) {
	mon, ok := g.target(v)
	if !ok || len(flat) < 2 || len(flat)%2 != 0 || len(flat) > 2*maxMarkPoints {
		return
	}
	pts := make([]image.Point, 0, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		pts = append(pts, image.Pt(clamp(flat[i], 0, mon.W-1), clamp(flat[i+1], 0, mon.H-1)))
	}
	if ov := g.overlay(); ov != nil {
		if err := ov.Mark(mon, pts); err != nil {
			g.s.log.Debug("drawing a mark", "error", err)
		}
	}
}

func clamp(v, lo, hi int) int { return max(lo, min(v, hi)) }

// modeChanged closes the overlay when the session leaves Guidance.
func (g *guidance) modeChanged(mode protocol.Mode) {
	if mode != protocol.ModeGuidance {
		g.closeOverlay()
	}
}

func (g *guidance) closeOverlay() {
	g.mu.Lock()
	ov := g.ov
	g.ov = nil
	g.mu.Unlock()
	if ov != nil {
		if err := ov.Close(); err != nil {
			g.s.log.Debug("closing the overlay", "error", err)
		}
	}
}

func (g *guidance) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.closeOverlay()
}
