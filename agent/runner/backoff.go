package runner

import (
	"math/rand/v2"
	"time"
)

// Backoff computes retry delays with "full jitter": the n-th delay is drawn
// uniformly from [0, min(Max, Initial·2ⁿ)]. Jitter spreads the retries of
// many agents after a server outage instead of having them return in waves.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	// Rand returns a value in [0, n); default math/rand/v2.Int64N.
	Rand func(n int64) int64

	attempt int
}

// Ceiling is the upper bound of the next delay.
func (b *Backoff) Ceiling() time.Duration {
	d := b.Initial
	for i := 0; i < b.attempt && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// Next returns the next delay and raises the ceiling.
func (b *Backoff) Next() time.Duration {
	c := b.Ceiling()
	if c < b.Max {
		b.attempt++
	}
	return time.Duration(randN(b.Rand, int64(c)+1))
}

// Reset starts over after a success.
func (b *Backoff) Reset() { b.attempt = 0 }

// Jitter returns d scaled by a random factor in [1-frac, 1+frac], for long
// fixed waits that should not line up across agents either.
func Jitter(d time.Duration, frac float64, rnd func(int64) int64) time.Duration {
	spread := int64(float64(d) * frac)
	if spread <= 0 {
		return d
	}
	return d - time.Duration(spread) + time.Duration(randN(rnd, 2*spread+1))
}

func randN(rnd func(int64) int64, n int64) int64 {
	if n <= 0 {
		return 0
	}
	if rnd == nil {
		rnd = rand.Int64N
	}
	return rnd(n)
}
