package main

import (
	"io"
	"log/slog"
	"strings"

	"github.com/kardianos/service"

	"github.com/tetherdesk/tether/agent/config"
)

// newLogger builds the slog logger described by log_level and log_format.
func newLogger(w io.Writer, cfg config.Config) (*slog.Logger, error) {
	return newLoggerOpts(w, cfg, nil)
}

func newLoggerOpts(w io.Writer, cfg config.Config, replace func([]string, slog.Attr) slog.Attr) (*slog.Logger, error) {
	level, err := config.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: replace}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// systemLogWriter forwards each log record (one Write per record, as slog's
// handlers do) to the service manager's log at the record's level. It is
// used where the service's stderr goes nowhere (Windows: Event Log).
type systemLogWriter struct{ l service.Logger }

func (w systemLogWriter) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	var err error
	switch {
	case strings.HasPrefix(line, "level=ERROR"), strings.HasPrefix(line, `{"level":"ERROR"`):
		err = w.l.Error(line)
	case strings.HasPrefix(line, "level=WARN"), strings.HasPrefix(line, `{"level":"WARN"`):
		err = w.l.Warning(line)
	default:
		err = w.l.Info(line)
	}
	return len(p), err
}

// dropTime removes the timestamp, which the system log adds itself, and
// puts the level first for systemLogWriter.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
