package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/config"
)

func TestProgramStopCancelsAndWaits(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	finished := false
	prg := &program{ctx: ctx, cancel: cancel, done: make(chan struct{}), log: slog.New(slog.DiscardHandler)}
	prg.body = func(ctx context.Context) {
		<-ctx.Done()
		finished = true
	}
	if err := prg.Start(nil); err != nil {
		t.Fatal(err)
	}
	if err := prg.Stop(nil); err != nil {
		t.Fatal(err)
	}
	if !finished { // Stop returned only after the body did (done is closed after)
		t.Error("Stop returned before the service logic finished")
	}
}

func TestServiceLoopKeepsGoingOnConfigErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines := make(chan string, 10)
	load := func() (config.Config, error) {
		return config.Config{}, usageError{errors.New("server not set")}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		serviceLoop(ctx, slog.New(slog.NewTextHandler(chanWriter(lines), nil)), load)
	}()
	select {
	case l := <-lines:
		if !strings.Contains(l, "server not set") || !strings.Contains(l, "retry_in=") {
			t.Errorf("logged %q, want the config error and the retry delay", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("config error never logged")
	}
	// Now it sits in its restart pause; a stop must end it promptly.
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("serviceLoop ignored cancellation")
	}
}

// chanWriter sends each write (one log record) to a channel.
type chanWriter chan string

func (c chanWriter) Write(p []byte) (int, error) {
	c <- string(p)
	return len(p), nil
}

// fakeSysLog records which level each line went to.
type fakeSysLog struct{ lines []string }

func (f *fakeSysLog) Error(v ...interface{}) error   { return f.add("E", v...) }
func (f *fakeSysLog) Warning(v ...interface{}) error { return f.add("W", v...) }
func (f *fakeSysLog) Info(v ...interface{}) error    { return f.add("I", v...) }
func (f *fakeSysLog) Errorf(s string, a ...interface{}) error {
	return f.add("E", fmt.Sprintf(s, a...))
}
func (f *fakeSysLog) Warningf(s string, a ...interface{}) error {
	return f.add("W", fmt.Sprintf(s, a...))
}
func (f *fakeSysLog) Infof(s string, a ...interface{}) error { return f.add("I", fmt.Sprintf(s, a...)) }
func (f *fakeSysLog) add(level string, v ...interface{}) error {
	f.lines = append(f.lines, level+" "+fmt.Sprint(v...))
	return nil
}

func TestSystemLogWriterLevels(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			sl := &fakeSysLog{}
			log, err := newLoggerOpts(systemLogWriter{sl}, config.Config{LogLevel: "debug", LogFormat: format}, dropTime)
			if err != nil {
				t.Fatal(err)
			}
			log.Debug("d")
			log.Info("i", "note", "level=ERROR inside a value")
			log.Warn("w")
			log.Error("e")
			want := "DIWE"
			got := ""
			for _, l := range sl.lines {
				got += l[:1]
				if strings.Contains(l, "time") {
					t.Errorf("timestamp not dropped: %s", l)
				}
			}
			if got != strings.ReplaceAll(want, "D", "I") {
				t.Errorf("levels = %s, want IIWE; lines:\n%s", got, strings.Join(sl.lines, "\n"))
			}
		})
	}
}
