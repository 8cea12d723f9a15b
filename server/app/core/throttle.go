package core

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/tetherdesk/tether/server/store"
)

// Throttle counts failures per key (an account, an address) within a
// sliding window, in the store: every server node counts the same ones.
// A store that does not answer blocks nothing and records nothing (the
// request it guards fails on the same store anyway), and is logged.
type Throttle struct {
	st     store.LimitStore
	name   string
	max    int
	window time.Duration
	now    func() time.Time
	log    *slog.Logger
}

// NewThrottle allows max failures per key per window; name sets the
// throttle's keys apart from others' in the store.
func NewThrottle(st store.LimitStore, name string, max int, window time.Duration, now func() time.Time, log *slog.Logger) *Throttle {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Throttle{st: st, name: name + "/", max: max, window: window, now: now, log: log}
}

// throttleKeys maps a key into the store's text, where NUL cannot go;
// character by character, so that prefixes stay prefixes.
var throttleKeys = strings.NewReplacer(`\`, `\\`, "\x00", `\0`)

func (t *Throttle) key(k string) string { return t.name + throttleKeys.Replace(k) }

func (t *Throttle) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

// Blocked reports whether key has used up its failures, and for how long.
func (t *Throttle) Blocked(key string) (bool, time.Duration) {
	ctx, cancel := t.ctx()
	defer cancel()
	full, retry, err := t.st.CheckLimits(ctx, []store.Limit{{Key: t.key(key), Max: t.max, Window: t.window}}, t.now())
	if err != nil {
		t.log.Error("checking a throttle", "throttle", t.name, "err", err)
		return false, 0
	}
	return full == 0, retry
}

// Failures is how many failures key has within the window.
func (t *Throttle) Failures(key string) int {
	ctx, cancel := t.ctx()
	defer cancel()
	n, err := t.st.CountLimit(ctx, t.key(key), t.now().Add(-t.window))
	if err != nil {
		t.log.Error("counting a throttle's failures", "throttle", t.name, "err", err)
		return 0
	}
	return n
}

// Fail records a failure for key.
func (t *Throttle) Fail(key string) {
	ctx, cancel := t.ctx()
	defer cancel()
	if err := t.st.AddLimitEvent(ctx, t.key(key), t.now()); err != nil {
		t.log.Error("recording a throttle's failure", "throttle", t.name, "err", err)
	}
}

// Reset forgets key's failures.
func (t *Throttle) Reset(key string) { t.clear(t.key(key), false) }

// ResetPrefix forgets the failures of every key starting with prefix.
func (t *Throttle) ResetPrefix(prefix string) { t.clear(t.key(prefix), true) }

func (t *Throttle) clear(key string, prefix bool) {
	ctx, cancel := t.ctx()
	defer cancel()
	if err := t.st.ClearLimits(ctx, key, prefix); err != nil {
		t.log.Error("resetting a throttle", "throttle", t.name, "err", err)
	}
}
