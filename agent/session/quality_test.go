package session

import (
	"testing"
	"time"
)

func TestGovernor(t *testing.T) {
	t0 := time.Unix(0, 0)
	for _, tc := range []struct {
		name            string
		periods         int
		sent, stalled   int // per period
		want            int
		changedAtPeriod bool
	}{
		{"keeping up stays at the top", 3, 30, 0, qualityMax, false},
		{"held back lowers step by step", 2, 5, 20, qualityMax - 2*qualityStep, true},
		{"never below the floor", 20, 1, 30, qualityMin, false},
		{"a few stalls change nothing", 3, 30, 2, qualityMax, false},
		{"idle (nothing sent, nothing held) stays", 3, 0, 0, qualityMax, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGovernor(t0)
			now := t0
			var q int
			var changed bool
			for p := range tc.periods {
				for i := range max(tc.sent, tc.stalled) {
					now = t0.Add(time.Duration(p)*qualityPeriod + time.Duration(i+1)*time.Millisecond)
					q, changed = g.observe(now, i < tc.sent, i < tc.stalled)
				}
				now = t0.Add(time.Duration(p+1) * qualityPeriod)
				q, changed = g.observe(now, false, false)
			}
			if q != tc.want || changed != tc.changedAtPeriod {
				t.Fatalf("quality %d (changed %v), want %d (%v)", q, changed, tc.want, tc.changedAtPeriod)
			}
		})
	}
	// Recovery: held back, then keeping up, climbs back to the top.
	g := newGovernor(t0)
	now := t0
	step := func(sent, stalled bool) int {
		now = now.Add(qualityPeriod / 4)
		q, _ := g.observe(now, sent, stalled)
		return q
	}
	for range 40 {
		step(false, true)
	}
	if q := step(false, true); q != qualityMin {
		t.Fatalf("after 10 s held back: %d, want %d", q, qualityMin)
	}
	for range 40 {
		step(true, false)
	}
	if q := step(true, false); q != qualityMax {
		t.Fatalf("after 10 s keeping up: %d, want %d", q, qualityMax)
	}
}
