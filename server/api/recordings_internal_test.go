package api

import "testing"

// TestRangeFromStart: which Range headers read a recording from its first
// byte (and are audited).
func TestRangeFromStart(t *testing.T) {
	for _, tc := range []struct {
		rng  string
		want bool
	}{
		{"", true},
		{"bytes=0-", true},
		{"bytes=0-99", true},
		{" bytes=0-99, 200-300", true},
		{"bytes=00-", true},
		{"bytes=1-", false},
		{"bytes=1000-1999", false},
		{"bytes=-500", false},
		{"bytes=200-300, 0-10", false},
		{"items=0-5", false},     // not bytes: 416, nothing sent
		{"bytes=garbage", false}, // malformed: 416
		{"bytes=x-5", false},
		{"bytes=0-x", false},
	} {
		if got := rangeFromStart(tc.rng); got != tc.want {
			t.Errorf("rangeFromStart(%q) = %v, want %v", tc.rng, got, tc.want)
		}
	}
}
