package testenv

import (
	"log/slog"
	"os"
)

// Logger discards what a test's component logs, unless the environment
// variable env is set: then it writes every level to stderr.
func Logger(env string) *slog.Logger {
	if os.Getenv(env) != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
