package session

import "time"

// Adaptive quality: while viewers cannot keep up (frames wait on their
// acks), lossy parts get cheaper step by step: lower JPEG quality, then
// half resolution; once viewers keep up again, better, step by step.
// Text-like parts stay lossless throughout.
var qualityLadder = []imageQuality{
	{q: 70}, {q: 60}, {q: 50}, {q: 40}, {q: 30},
	{q: 60, half: true}, {q: 40, half: true},
}

const qualityPeriod = time.Second

// imageQuality is one step of the ladder.
type imageQuality struct {
	q    int  // JPEG quality
	half bool // photo-like parts at half resolution
}

// governor decides the image quality of one monitor's encoder from how
// often, over the last period, a frame was held back because a viewer had
// not drawn the previous ones.
type governor struct {
	level          int // index into qualityLadder
	stalls, frames int
	since          time.Time
}

func newGovernor(now time.Time) *governor { return &governor{since: now} }

// observe records one pass of the stream loop (a frame was sent, and/or a
// viewer was held back) and returns the quality to use and whether it
// changed.
func (g *governor) observe(now time.Time, sent, stalled bool) (imageQuality, bool) {
	if sent {
		g.frames++
	}
	if stalled {
		g.stalls++
	}
	if now.Sub(g.since) < qualityPeriod {
		return qualityLadder[g.level], false
	}
	old := g.level
	switch {
	case g.stalls > g.frames && g.stalls > 2:
		g.level = min(len(qualityLadder)-1, g.level+1)
	case g.stalls == 0:
		g.level = max(0, g.level-1)
	}
	g.stalls, g.frames, g.since = 0, 0, now
	return qualityLadder[g.level], g.level != old
}
