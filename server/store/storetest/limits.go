package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/store"
)

func testLimits(t *testing.T, s store.Store) {
	ctx := context.Background()
	ep := store.Limit{Key: "code/endpoint/a1", Max: 3, Window: 15 * time.Minute}
	all := store.Limit{Key: "code/global", Max: 5, Window: time.Minute}
	reserve := func(at time.Time, ls ...store.Limit) (int, time.Duration) {
		t.Helper()
		full, retry, err := s.ReserveLimits(ctx, ls, at)
		noErr(t, "ReserveLimits", err)
		return full, retry
	}
	for i := range 3 {
		if full, _ := reserve(t0.Add(time.Duration(i)*time.Second), ep, all); full != -1 {
			t.Fatalf("reservation %d refused by limit %d", i+1, full)
		}
	}
	// The endpoint's limit is full: refused, nothing recorded, and it
	// frees when the first of its three events leaves the window.
	full, retry := reserve(t0.Add(10*time.Second), ep, all)
	if full != 0 || retry != 15*time.Minute-10*time.Second {
		t.Fatalf("the fourth: full %d retry %v; want 0 and %v", full, retry, 15*time.Minute-10*time.Second)
	}
	// Refunded (a right code): one more fits.
	noErr(t, "RefundLimits", s.RefundLimits(ctx, []string{ep.Key, all.Key}))
	if full, _ := reserve(t0.Add(11*time.Second), ep, all); full != -1 {
		t.Fatalf("after a refund: refused by limit %d", full)
	}
	// Another endpoint fills the global limit: the order of the limits
	// says which refused.
	other := store.Limit{Key: "code/endpoint/a2", Max: 3, Window: 15 * time.Minute}
	reserve(t0.Add(12*time.Second), other, all)
	reserve(t0.Add(13*time.Second), other, all)
	if full, retry := reserve(t0.Add(14*time.Second), other, all); full != 1 || retry != time.Minute-14*time.Second {
		t.Fatalf("the global limit: full %d retry %v; want 1 and %v", full, retry, time.Minute-14*time.Second)
	}
	// Out of the global window, the endpoint still holds its three.
	if full, _ := reserve(t0.Add(2*time.Minute), ep, all); full != 0 {
		t.Fatalf("two minutes on: full %d; want the endpoint's (0)", full)
	}
	n, err := s.PruneLimits(ctx, t0.Add(time.Hour))
	noErr(t, "PruneLimits", err)
	if n != 10 { // each admitted reservation records one per limit
		t.Errorf("pruned %d events, want 10", n)
	}
	if full, _ := reserve(t0.Add(time.Hour), ep, all); full != -1 {
		t.Fatalf("after pruning: refused by %d", full)
	}
}

// testLimitsConcurrent: many reservations at once admit exactly Max.
func testLimitsConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	l := []store.Limit{{Key: "code/endpoint/x", Max: 5, Window: 15 * time.Minute}, {Key: "code/global", Max: 1000, Window: time.Minute}}
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			full, _, err := s.ReserveLimits(ctx, l, t0)
			if err != nil {
				t.Error(err)
				return
			}
			if full == -1 {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != 5 {
		t.Fatalf("40 reservations at once admitted %d, want 5", n)
	}
}

// testExclusive: work under one name never overlaps; under another name
// it may.
func testExclusive(t *testing.T, s store.Store) {
	ctx := context.Background()
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			err := s.Exclusive(ctx, "test/one", func() error {
				n := inside.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(5 * time.Millisecond) // hold the lock while others try
				inside.Add(-1)
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if m := most.Load(); m != 1 {
		t.Fatalf("%d ran at once under one name, want 1", m)
	}
	// fn's error comes back, and the lock is free after it.
	if err := s.Exclusive(ctx, "test/one", func() error { return store.ErrConflict }); err != store.ErrConflict {
		t.Fatalf("Exclusive returned %v, want fn's error", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Exclusive(ctx, "test/one", func() error { return nil }) }()
	select {
	case err := <-done:
		noErr(t, "Exclusive after an error", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the lock stayed taken after fn failed")
	}
}
