package core_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/app/core"
	"github.com/tetherdesk/tether/server/store/sqlstore"
)

// TestThrottle: failures counted in the store block a key for the
// window; resets forget a key or every key under a prefix, keys with NUL
// separators included.
func TestThrottle(t *testing.T) {
	st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "tether.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	th := core.NewThrottle(st, "signin/pair", 3, time.Minute, clock, nil)
	// Another node's view of the same counts.
	other := core.NewThrottle(st, "signin/pair", 3, time.Minute, clock, nil)
	k := "alice\x00192.0.2.1"
	for range 3 {
		if b, _ := th.Blocked(k); b {
			t.Fatal("blocked too early")
		}
		th.Fail(k)
		now = now.Add(time.Second)
	}
	b, wait := other.Blocked(k)
	if !b || wait != time.Minute-3*time.Second {
		t.Fatalf("Blocked = %v, %v; want true, 57s", b, wait)
	}
	if n := other.Failures(k); n != 3 {
		t.Fatalf("Failures = %d, want 3", n)
	}
	if b, _ := th.Blocked("alice\x00192.0.2.2"); b {
		t.Fatal("another key blocked")
	}
	if b, _ := core.NewThrottle(st, "signin/ip", 3, time.Minute, clock, nil).Blocked(k); b {
		t.Fatal("another throttle's key blocked")
	}
	now = now.Add(61 * time.Second)
	if b, _ := th.Blocked(k); b {
		t.Fatal("still blocked after the window")
	}
	th.Fail(k)
	th.Fail("alice%\x00192.0.2.9") // a LIKE pattern would match this too
	th.ResetPrefix("alice\x00")
	if th.Failures(k) != 0 || th.Failures("alice%\x00192.0.2.9") != 1 {
		t.Fatalf("after ResetPrefix: %d and %d failures, want 0 and 1", th.Failures(k), th.Failures("alice%\x00192.0.2.9"))
	}
	th.Reset("alice%\x00192.0.2.9")
	if th.Failures("alice%\x00192.0.2.9") != 0 {
		t.Fatal("Reset kept failures")
	}
}
