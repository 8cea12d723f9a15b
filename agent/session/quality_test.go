package session

import (
	"testing"
	"time"
)

func TestGovernor(t *testing.T) {
	t0 := time.Unix(0, 0)
	top, bottom := qualityLadder[0], qualityLadder[len(qualityLadder)-1]
	for _, tc := range []struct {
		name          string
		periods       int
		sent, stalled int // per period
		want          imageQuality
		changed       bool
	}{
		{"keeping up stays at the top", 3, 30, 0, top, false},
		{"held back lowers step by step", 2, 5, 20, qualityLadder[2], true},
		{"then half resolution", 6, 5, 20, qualityLadder[6], true},
		{"never below the bottom", 20, 1, 30, bottom, false},
		{"a few stalls change nothing", 3, 30, 2, top, false},
		{"idle (nothing sent, nothing held) stays", 3, 0, 0, top, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGovernor(t0)
			var q imageQuality
			var changed bool
			for p := range tc.periods {
				for i := range max(tc.sent, tc.stalled) {
					now := t0.Add(time.Duration(p)*qualityPeriod + time.Duration(i+1)*time.Millisecond)
					q, changed = g.observe(now, i < tc.sent, i < tc.stalled)
				}
				q, changed = g.observe(t0.Add(time.Duration(p+1)*qualityPeriod), false, false)
			}
			if q != tc.want || changed != tc.changed {
				t.Fatalf("quality %+v (changed %v), want %+v (%v)", q, changed, tc.want, tc.changed)
			}
		})
	}
	// Recovery: held back, then keeping up, climbs back to the top.
	g := newGovernor(t0)
	now := t0
	step := func(sent, stalled bool) imageQuality {
		now = now.Add(qualityPeriod / 4)
		q, _ := g.observe(now, sent, stalled)
		return q
	}
	for range 40 {
		step(false, true)
	}
	if q := step(false, true); q != bottom {
		t.Fatalf("after 10 s held back: %+v, want %+v", q, bottom)
	}
	for range 40 {
		step(true, false)
	}
	if q := step(true, false); q != top {
		t.Fatalf("after 10 s keeping up: %+v, want %+v", q, top)
	}
}
