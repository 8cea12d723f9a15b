//go:build testclock

package main

import (
	"log/slog"
	"os"
	"strings"
	"time"
)

// serverClock is, in a testclock build only, a clock a test drives: the
// file named by TETHER_TEST_CLOCK holds a duration ("-90m", "36h5s")
// added to the real time, read again at every look. Release builds have
// no such thing (clock_real.go).
func serverClock(log *slog.Logger) func() time.Time {
	path := os.Getenv("TETHER_TEST_CLOCK")
	if path == "" {
		return time.Now
	}
	log.Warn("the server's clock is driven by a test (testclock build)", "file", path)
	return func() time.Time {
		now := time.Now()
		b, err := os.ReadFile(path)
		if err != nil {
			return now
		}
		d, err := time.ParseDuration(strings.TrimSpace(string(b)))
		if err != nil {
			return now
		}
		return now.Add(d)
	}
}
