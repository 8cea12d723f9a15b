// Package notify keeps the end-user notifications the server hands the
// agent: it journals each one (a file per notification, written before
// anything is reported), shows it on the target desktops through their
// helpers when due, honours postponements across restarts, expires it,
// and queues every event for the server with a sequence number that
// survives restarts, so the server folds each event exactly once.
package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetherdesk/tether/agent/internal/atomicfile"
	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Dir is the state directory's subdirectory for notifications.
const Dir = "notifications"

// Desk is a desktop with a helper that can show notifications.
type Desk struct {
	Key    string
	User   string
	Active bool
}

// Display reaches the desktops' helpers (the supervisor).
type Display interface {
	// Desks lists the desktops whose helpers are connected, login
	// screens excluded.
	Desks() []Desk
	// Show sends a notification to one desktop's helper.
	Show(key string, n ipc.Notification) error
	// Close takes it down there.
	Close(key, id string)
}

// Config configures a Manager.
type Config struct {
	StateDir string
	Display  Display
	// Wake is called when events wait for the server (the runner cuts a
	// held poll short to send them).
	Wake   func()
	Logger *slog.Logger
	Now    func() time.Time
	// Tick is how often due, postponed and expired notifications are
	// looked at (1 s).
	Tick time.Duration
	// Keep is how long a finished notification's record is kept (7 days):
	// the server may hand it again meanwhile and must not get it shown twice.
	Keep time.Duration
	// MaxOutbox bounds the events waiting for the server (oldest dropped).
	MaxOutbox int
}

// Record states.
const (
	stateDue       = "due"       // to show (again) now
	statePostponed = "postponed" // until NextShow
	stateDone      = "done"      // answered, dismissed, expired or failed
)

// record is one notification's journal entry.
type record struct {
	N         protocol.AgentNotification `json:"n"`
	Received  time.Time                  `json:"received"`
	State     string                     `json:"state"`
	Postpones int                        `json:"postpones,omitempty"`
	NextShow  time.Time                  `json:"next_show,omitzero"`
	Outcome   string                     `json:"outcome,omitempty"`
	Finished  time.Time                  `json:"finished,omitzero"`

	showing  map[string]bool // desktops showing it now
	shown    bool            // "shown" reported for this showing
	failures int             // windows that failed, in a row
}

// maxFailures is how many windows may fail in a row before the
// notification is reported failed (a crash is tried again; no display at
// all is not tried for ever).
const maxFailures = 3

type outbox struct {
	NextSeq int64                        `json:"next_seq"`
	Events  []protocol.NotificationEvent `json:"events"`
}

// Manager keeps the notifications. Its methods are safe for concurrent use.
type Manager struct {
	cfg  Config
	dir  string
	log  *slog.Logger
	kick chan struct{}

	mu   sync.Mutex
	recs map[string]*record
	out  outbox
}

// Open loads the journal from the state directory.
func Open(cfg Config) (*Manager, error) {
	if cfg.StateDir == "" || cfg.Display == nil {
		return nil, errors.New("notify: StateDir and Display are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Wake == nil {
		cfg.Wake = func() {}
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.Keep <= 0 {
		cfg.Keep = 7 * 24 * time.Hour
	}
	if cfg.MaxOutbox <= 0 {
		cfg.MaxOutbox = 2000
	}
	m := &Manager{cfg: cfg, dir: filepath.Join(cfg.StateDir, Dir), log: cfg.Logger.With("component", "notify"),
		kick: make(chan struct{}, 1), recs: map[string]*record{}}
	if err := atomicfile.MkdirPrivate(m.dir); err != nil {
		return nil, fmt.Errorf("notification journal: %w", err)
	}
	des, err := os.ReadDir(m.dir)
	if err != nil {
		return nil, fmt.Errorf("notification journal: %w", err)
	}
	for _, de := range des {
		name := de.Name()
		if de.IsDir() || !strings.HasPrefix(name, "n-") || !strings.HasSuffix(name, ".json") {
			continue
		}
		var r record
		if err := readJSON(filepath.Join(m.dir, name), &r); err != nil || r.N.ID == "" || fileOf(r.N.ID) != name {
			m.log.Warn("skipping unreadable notification record", "file", name, "error", err)
			continue
		}
		if r.State != stateDone && r.State != statePostponed {
			r.State = stateDue // whatever was on screen when the agent stopped shows again
		}
		m.recs[r.N.ID] = &r
	}
	// Sequence numbers must never go back, even with a lost outbox (the
	// server ignores an event whose number it has seen): a new outbox
	// starts from the clock in microseconds, past any count before it.
	err = readJSON(filepath.Join(m.dir, "outbox.json"), &m.out)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		m.log.Warn("notification events lost: unreadable outbox", "error", err)
	}
	if err != nil || m.out.NextSeq < 1 {
		m.out = outbox{NextSeq: max(1, cfg.Now().UnixMicro())}
	}
	return m, nil
}

func fileOf(id string) string {
	h := sha256.Sum256([]byte(id))
	return "n-" + hex.EncodeToString(h[:12]) + ".json"
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (m *Manager) writeJSON(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(m.dir, name), append(b, '\n'), 0o600)
}

// saveLocked journals r.
func (m *Manager) saveLocked(r *record) {
	if err := m.writeJSON(fileOf(r.N.ID), r); err != nil {
		m.log.Error("journaling a notification", "notification", r.N.ID, "error", err)
	}
}

// eventLocked queues an event for the server and journals the outbox.
func (m *Manager) eventLocked(r *record, kind string, mod func(*protocol.NotificationEvent)) {
	e := protocol.NotificationEvent{ID: r.N.ID, Version: r.N.Version, Seq: m.out.NextSeq, Kind: kind, At: m.cfg.Now().UTC()}
	if mod != nil {
		mod(&e)
	}
	m.out.NextSeq++
	m.out.Events = append(m.out.Events, e)
	if over := len(m.out.Events) - m.cfg.MaxOutbox; over > 0 {
		m.log.Warn("notification events dropped: the server has not been reached for long", "events", over)
		m.out.Events = slices.Delete(m.out.Events, 0, over)
	}
	if err := m.writeJSON("outbox.json", m.out); err != nil {
		m.log.Error("journaling notification events", "error", err)
	}
	m.log.Info("notification event", "notification", r.N.ID, "kind", kind, "seq", e.Seq, "value", e.Value)
}

// Receive takes what a poll handed: new notifications are journaled,
// reported delivered and shown when due; one already held is reported
// delivered again (the server had not heard), never shown twice.
func (m *Manager) Receive(ns []protocol.AgentNotification) {
	if len(ns) == 0 {
		return
	}
	m.mu.Lock()
	for _, n := range ns {
		r := m.recs[n.ID]
		if r != nil && r.N.Version >= n.Version {
			if !m.queuedLocked(n.ID, n.Version, protocol.NotifyEventDelivered) {
				m.eventLocked(r, protocol.NotifyEventDelivered, nil)
			}
			continue
		}
		if r != nil {
			m.closeAllLocked(r)
		}
		r = &record{N: n, Received: m.cfg.Now().UTC(), State: stateDue}
		m.recs[n.ID] = r
		m.saveLocked(r)
		m.eventLocked(r, protocol.NotifyEventDelivered, nil)
	}
	m.mu.Unlock()
	m.cfg.Wake()
	m.Kick()
}

// Withdraw takes down notifications the sender cancelled and says so
// (once per withdrawal the server sends: it asks until it hears).
func (m *Manager) Withdraw(ids []string) {
	if len(ids) == 0 {
		return
	}
	now := m.cfg.Now().UTC()
	m.mu.Lock()
	for _, id := range ids {
		r := m.recs[id]
		if r == nil {
			// Not held (a lost journal): acknowledged all the same.
			r = &record{N: protocol.AgentNotification{ID: id, Version: 1}, State: stateDone}
		}
		if m.queuedLocked(id, r.N.Version, protocol.NotifyEventCancelled) {
			continue
		}
		m.eventLocked(r, protocol.NotifyEventCancelled, nil)
		if r.State != stateDone {
			m.closeAllLocked(r)
			m.finishLocked(r, protocol.NotifyEventCancelled, now)
		}
	}
	m.mu.Unlock()
	m.cfg.Wake()
}

func (m *Manager) queuedLocked(id string, version int, kind string) bool {
	return slices.ContainsFunc(m.out.Events, func(e protocol.NotificationEvent) bool {
		return e.ID == id && e.Version == version && e.Kind == kind
	})
}

// Outbox is the events to send with the next poll, oldest first.
func (m *Manager) Outbox() []protocol.NotificationEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.out.Events[:min(len(m.out.Events), 500)])
}

// Sent drops events a poll the server answered carried.
func (m *Manager) Sent(evs []protocol.NotificationEvent) {
	if len(evs) == 0 {
		return
	}
	last := evs[len(evs)-1].Seq
	m.mu.Lock()
	defer m.mu.Unlock()
	m.out.Events = slices.DeleteFunc(m.out.Events, func(e protocol.NotificationEvent) bool { return e.Seq <= last })
	if err := m.writeJSON("outbox.json", m.out); err != nil {
		m.log.Error("journaling notification events", "error", err)
	}
}

// Kick makes the manager look at once (a helper came or went).
func (m *Manager) Kick() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run shows, re-shows and expires notifications until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.Tick)
	defer t.Stop()
	for {
		m.tick()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.kick:
		}
	}
}

// view is n as a helper shows it now: the postpone choice only while
// postpones are left and before the deadline (a postponement never
// reaches past it: Result brings it back at the deadline).
func (m *Manager) view(r *record, now time.Time) ipc.Notification {
	v := ipc.Notification{ID: r.N.ID, Version: r.N.Version, Title: r.N.Title, Message: r.N.Message, Severity: r.N.Severity,
		Buttons: r.N.Buttons, Branding: r.N.Branding, Received: r.Received}
	if d := r.N.Deferral; d != nil && r.Postpones < d.MaxPostpones && (d.Deadline == nil || now.Before(*d.Deadline)) {
		v.Postpone = slices.Clone(d.IntervalsS)
		v.PostponesLeft = d.MaxPostpones - r.Postpones
	}
	return v
}

// targets picks the desktops a notification goes to: the active one for
// the console user (the first if none is marked), every one for all.
func targets(desks []Desk, audience string) []Desk {
	if audience == protocol.AudienceAll || len(desks) <= 1 {
		return desks
	}
	for _, d := range desks {
		if d.Active {
			return []Desk{d}
		}
	}
	return desks[:1]
}

func (m *Manager) tick() {
	now := m.cfg.Now().UTC()
	// The desktops are asked for only while something is still to show.
	m.mu.Lock()
	open := false
	for _, r := range m.recs {
		open = open || r.State != stateDone
	}
	m.mu.Unlock()
	var desks []Desk
	if open {
		desks = m.cfg.Display.Desks()
	}
	live := map[string]bool{}
	for _, d := range desks {
		live[d.Key] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	woke := false
	for id, r := range m.recs {
		if r.State == stateDone {
			if now.Sub(r.Finished) > m.cfg.Keep && now.After(r.N.Expires) {
				_ = os.Remove(filepath.Join(m.dir, fileOf(id)))
				delete(m.recs, id)
			}
			continue
		}
		for k := range r.showing {
			if !live[k] {
				delete(r.showing, k) // its helper is gone, and its window with it
			}
		}
		if !now.Before(r.N.Expires) {
			m.closeAllLocked(r)
			m.eventLocked(r, protocol.NotifyEventExpired, func(e *protocol.NotificationEvent) { e.Error = "expired before an answer" })
			m.finishLocked(r, protocol.NotifyEventExpired, now)
			woke = true
			continue
		}
		if r.State == statePostponed && !now.Before(r.NextShow) {
			r.State, r.shown = stateDue, false
			m.saveLocked(r)
		}
		if r.State != stateDue {
			continue
		}
		for _, d := range targets(desks, r.N.Audience) {
			if r.showing[d.Key] {
				continue
			}
			if err := m.cfg.Display.Show(d.Key, m.view(r, now)); err != nil {
				m.log.Warn("showing a notification", "notification", id, "desktop", d.Key, "error", err)
				continue
			}
			if r.showing == nil {
				r.showing = map[string]bool{}
			}
			r.showing[d.Key] = true
		}
	}
	if woke {
		go m.cfg.Wake()
	}
}

func (m *Manager) closeAllLocked(r *record) {
	for k := range r.showing {
		m.cfg.Display.Close(k, r.N.ID)
	}
	r.showing = nil
}

func (m *Manager) finishLocked(r *record, outcome string, now time.Time) {
	r.State, r.Outcome, r.Finished = stateDone, outcome, now
	m.saveLocked(r)
}

// Result takes what the user did on desktop key (the helper's report).
func (m *Manager) Result(key, user string, res ipc.NotifyResult) {
	now := m.cfg.Now().UTC()
	m.mu.Lock()
	r := m.recs[res.ID]
	// Only a desktop it is on may answer for it: another user's helper
	// cannot dismiss what the console user is being asked.
	if r == nil || r.N.Version != res.Version || r.State != stateDue || !r.showing[key] {
		m.mu.Unlock()
		m.log.Debug("notification result for nothing on screen", "notification", res.ID, "kind", res.Kind, "desktop", key)
		if res.Kind != protocol.NotifyEventShown {
			return
		}
		m.cfg.Display.Close(key, res.ID)
		return
	}
	withUser := func(e *protocol.NotificationEvent) { e.User = user }
	switch res.Kind {
	case protocol.NotifyEventShown:
		r.failures = 0
		if !r.shown {
			r.shown = true
			m.eventLocked(r, protocol.NotifyEventShown, withUser)
		}
	case protocol.NotifyEventPressed:
		if !slices.ContainsFunc(r.N.Buttons, func(b protocol.NotificationButton) bool { return b.Value == res.Value }) {
			m.mu.Unlock()
			m.log.Warn("notification result names no button", "notification", res.ID, "value", res.Value)
			return
		}
		m.closeAllLocked(r)
		m.eventLocked(r, protocol.NotifyEventPressed, func(e *protocol.NotificationEvent) { e.Value, e.User = res.Value, user })
		m.finishLocked(r, "pressed:"+res.Value, now)
	case protocol.NotifyEventPostponed:
		v := m.view(r, now)
		if !slices.Contains(v.Postpone, res.IntervalS) {
			m.mu.Unlock()
			m.log.Warn("notification postponed by an interval not offered", "notification", res.ID, "interval_s", res.IntervalS)
			return
		}
		m.closeAllLocked(r)
		r.Postpones++
		r.State, r.shown = statePostponed, false
		r.NextShow = now.Add(time.Duration(res.IntervalS) * time.Second)
		if d := r.N.Deferral.Deadline; d != nil && r.NextShow.After(*d) {
			r.NextShow = *d
		}
		m.saveLocked(r)
		m.eventLocked(r, protocol.NotifyEventPostponed, func(e *protocol.NotificationEvent) {
			e.IntervalS, e.Count, e.User = res.IntervalS, r.Postpones, user
		})
	case protocol.NotifyEventDismissed:
		m.closeAllLocked(r)
		m.eventLocked(r, protocol.NotifyEventDismissed, withUser)
		m.finishLocked(r, protocol.NotifyEventDismissed, now)
	case protocol.NotifyEventFailed:
		delete(r.showing, key)
		r.failures++
		if len(r.showing) == 0 && r.failures >= maxFailures {
			m.eventLocked(r, protocol.NotifyEventFailed, func(e *protocol.NotificationEvent) { e.Error, e.User = res.Error, user })
			m.finishLocked(r, protocol.NotifyEventFailed, now)
		}
	default:
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	m.cfg.Wake()
	m.Kick()
}
