package runner

import (
	"testing"
	"time"
)

func TestBackoffCeilings(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		rand func(int64) int64
		want []time.Duration
	}{
		{"top of range", func(n int64) int64 { return n - 1 },
			[]time.Duration{500 * ms, 1000 * ms, 2000 * ms, 4000 * ms, 8000 * ms, 16000 * ms, 32000 * ms, 60000 * ms, 60000 * ms}},
		{"bottom of range", func(int64) int64 { return 0 },
			[]time.Duration{0, 0, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Backoff{Initial: DefaultBackoffInitial, Max: DefaultBackoffMax, Rand: tt.rand}
			for i, want := range tt.want {
				if got := b.Next(); got != want {
					t.Errorf("delay %d = %v, want %v", i, got, want)
				}
			}
			b.Reset()
			if c := b.Ceiling(); c != DefaultBackoffInitial {
				t.Errorf("ceiling after reset = %v, want %v", c, DefaultBackoffInitial)
			}
		})
	}
}

func TestBackoffJitterWithinBounds(t *testing.T) {
	b := Backoff{Initial: DefaultBackoffInitial, Max: DefaultBackoffMax} // real randomness
	for attempt := range 12 {
		ceiling := b.Ceiling()
		seen := map[time.Duration]bool{}
		for range 200 {
			probe := b // same attempt each draw
			d := probe.Next()
			if d < 0 || d > ceiling {
				t.Fatalf("attempt %d: delay %v outside [0, %v]", attempt, d, ceiling)
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Errorf("attempt %d: only %d distinct delays in 200 draws; not jittered", attempt, len(seen))
		}
		b.Next()
	}
	if c := b.Ceiling(); c != DefaultBackoffMax {
		t.Errorf("ceiling = %v, want cap %v", c, DefaultBackoffMax)
	}
}

func TestJitter(t *testing.T) {
	d := 5 * time.Minute
	lo, hi := d*8/10, d*12/10
	for _, r := range []func(int64) int64{
		func(int64) int64 { return 0 },
		func(n int64) int64 { return n - 1 },
		nil,
	} {
		for range 100 {
			if got := Jitter(d, 0.2, r); got < lo || got > hi {
				t.Fatalf("Jitter = %v, want within [%v, %v]", got, lo, hi)
			}
		}
	}
}
