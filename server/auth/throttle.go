package auth

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// AddrKey is the throttling key of a remote address: the address itself
// for IPv4, its /64 for IPv6 (one subscriber usually holds a whole /64, so
// per-address limits on single IPv6 addresses would not limit anyone).
func AddrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// Throttle limits failed attempts per key (an account name, an IP address)
// within a sliding window. It is in memory: a restart forgives, which is an
// acceptable trade for not writing on every failure.
type Throttle struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	now    func() time.Time
	fails  map[string][]time.Time
}

// NewThrottle allows max failures per key per window.
func NewThrottle(max int, window time.Duration, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{max: max, window: window, now: now, fails: map[string][]time.Time{}}
}

// Blocked reports whether key has used up its failures, and for how long.
func (t *Throttle) Blocked(key string) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.prune(key)
	if len(f) < t.max {
		return false, 0
	}
	return true, f[0].Add(t.window).Sub(t.now())
}

// Failures reports how many failures key has within the window.
func (t *Throttle) Failures(key string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.prune(key))
}

// Fail records a failure for key.
func (t *Throttle) Fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := append(t.prune(key), t.now())
	if len(f) > t.max {
		f = f[len(f)-t.max:]
	}
	t.fails[key] = f
	if len(t.fails) > 100_000 {
		t.sweep()
	}
}

// Reset forgets key's failures (after a success).
func (t *Throttle) Reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.fails, key)
}

// ResetPrefix forgets the failures of every key starting with prefix.
func (t *Throttle) ResetPrefix(prefix string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.fails {
		if strings.HasPrefix(k, prefix) {
			delete(t.fails, k)
		}
	}
}

func (t *Throttle) prune(key string) []time.Time {
	f := t.fails[key]
	cut := t.now().Add(-t.window)
	i := 0
	for i < len(f) && !f[i].After(cut) {
		i++
	}
	f = f[i:]
	if len(f) == 0 {
		delete(t.fails, key)
	} else {
		t.fails[key] = f
	}
	return f
}

// sweep drops stale keys so a spray of names cannot grow memory unbounded.
func (t *Throttle) sweep() {
	for k := range t.fails {
		t.prune(k)
	}
}
