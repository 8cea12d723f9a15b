package session

import "time"

// Adaptive quality: while viewers cannot keep up (frames wait on their
// acks), lossy tiles get cheaper; once they keep up again, better.
const (
	qualityMax    = 70 // encode.DefaultJPEGQuality
	qualityMin    = 30
	qualityStep   = 10
	qualityPeriod = time.Second
)

// governor decides the JPEG quality of one monitor's encoder from how
// often, over the last period, a frame was held back because a viewer had
// not drawn the previous ones.
type governor struct {
	q              int
	stalls, frames int
	since          time.Time
}

func newGovernor(now time.Time) *governor { return &governor{q: qualityMax, since: now} }

// observe records one pass of the stream loop (a frame was sent, and/or a
// viewer was held back) and returns the quality to use and whether it
// changed.
func (g *governor) observe(now time.Time, sent, stalled bool) (int, bool) {
	if sent {
		g.frames++
	}
	if stalled {
		g.stalls++
	}
	if now.Sub(g.since) < qualityPeriod {
		return g.q, false
	}
	old := g.q
	switch {
	case g.stalls > g.frames && g.stalls > 2:
		g.q = max(qualityMin, g.q-qualityStep)
	case g.stalls == 0:
		g.q = min(qualityMax, g.q+qualityStep)
	}
	g.stalls, g.frames, g.since = 0, 0, now
	return g.q, g.q != old
}
