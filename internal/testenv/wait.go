package testenv

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// pollEvery is how often Poll asks its condition.
const pollEvery = 20 * time.Millisecond

// Poll asks cond until it holds, and returns nil; or, once timeout has
// passed or ctx has ended, an error carrying cond's last error. cond is
// asked once more at the deadline, so a slow start is not lost to a tick.
func Poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if ok, err := cond(); ok {
				return nil
			} else if err != nil {
				last = err
			}
			if last != nil {
				return fmt.Errorf("timed out after %s; last error: %w", timeout, last)
			}
			return fmt.Errorf("timed out after %s", timeout)
		case <-tick.C:
		}
	}
}

// Eventually is Poll for a test: it fails t, naming what it waited for.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	if err := Poll(context.Background(), timeout, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// Until adapts a condition without an error for Poll and Eventually.
func Until(cond func() bool) func() (bool, error) {
	return func() (bool, error) { return cond(), nil }
}

// Changes wakes those waiting on state that a test double changes, so that
// they re-check it at once instead of polling. The zero value is ready.
type Changes struct {
	mu sync.Mutex
	ch chan struct{}
}

// Changed wakes every waiter.
func (c *Changes) Changed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch != nil {
		close(c.ch)
	}
	c.ch = make(chan struct{})
}

func (c *Changes) next() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}

// Await checks cond now and after every change until it holds (true) or
// timeout passes (false).
func (c *Changes) Await(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		ch := c.next() // before cond, so that no change is missed
		if cond() {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

// Setenv sets each "K=V" of env for the rest of t (t.Setenv).
func Setenv(t testing.TB, env []string) {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}
