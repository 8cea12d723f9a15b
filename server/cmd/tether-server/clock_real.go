//go:build !testclock

package main

import (
	"log/slog"
	"time"
)

// serverClock is the real clock (a testclock build lets a test drive it).
func serverClock(*slog.Logger) func() time.Time { return time.Now }
