package runner

import (
	"log/slog"
	"sync"
	"time"

	"github.com/tetherdesk/tether/agent/state"
)

const maxStatusError = 500

// statusReporter keeps status.json current without rewriting it on every
// poll: a change is written at once if the last write is older than the
// interval, otherwise by a timer when the interval has passed.
type statusReporter struct {
	store    *state.Store
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger

	mu        sync.Mutex
	st        state.Status
	lastWrite time.Time
	timer     *time.Timer
	dirty     bool
	closed    bool
	timers    sync.WaitGroup
}

// newStatusReporter starts from the previous status file, if any, so that
// the last successful poll and last error survive a restart.
func newStatusReporter(store *state.Store, interval time.Duration, now func() time.Time, log *slog.Logger) *statusReporter {
	st, _ := state.ReadStatus(store.Dir())
	return &statusReporter{store: store, interval: interval, now: now, log: log, st: st}
}

func (s *statusReporter) update(fn func(*state.Status)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	fn(&s.st)
	s.dirty = true
	since := s.now().Sub(s.lastWrite)
	if since >= s.interval {
		s.flushLocked()
		return
	}
	if s.timer == nil {
		s.timers.Add(1)
		s.timer = time.AfterFunc(s.interval-since, s.timerFlush)
	}
}

func (s *statusReporter) pollOK() {
	s.update(func(st *state.Status) { st.LastPollOK = s.now().UTC() })
}

func (s *statusReporter) failed(err error) {
	msg := err.Error()
	if len(msg) > maxStatusError {
		msg = msg[:maxStatusError] + "…"
	}
	s.update(func(st *state.Status) {
		st.LastError = msg
		st.LastErrorAt = s.now().UTC()
	})
}

func (s *statusReporter) timerFlush() {
	defer s.timers.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timer = nil
	if !s.closed && s.dirty {
		s.flushLocked()
	}
}

// close writes any pending change and waits for a timer in flight.
func (s *statusReporter) close() {
	s.mu.Lock()
	s.closed = true
	if s.timer != nil && s.timer.Stop() {
		s.timers.Done()
	}
	s.timer = nil
	if s.dirty {
		s.flushLocked()
	}
	s.mu.Unlock()
	s.timers.Wait()
}

func (s *statusReporter) flushLocked() {
	s.st.Updated = s.now().UTC()
	if err := s.store.WriteStatus(s.st); err != nil {
		// Status is informational; the agent's work goes on without it.
		s.log.Warn("writing status file", "error", err)
	}
	s.lastWrite = s.now()
	s.dirty = false
}
