// Package traytest has a scripted stand-in for the tray's dialogs, for the
// tests of the tray and of the session helper that hosts it.
package traytest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
)

// CancelEntry, sent on Entries, cancels the code entry.
const CancelEntry = "\x00cancel"

// Dialogs implements tray.Dialogs: it records every call ("entry
// <prefill>", "retry <text>", "message <text>", "notify <text>") and
// answers with what the test sends on Entries and Retries.
type Dialogs struct {
	Entries chan string // what the user types; CancelEntry cancels
	Retries chan bool   // Try Again (true) or Cancel
	// Cancelled is returned by EnterCode for CancelEntry (tray.ErrCancelled).
	Cancelled error

	mu      sync.Mutex
	calls   []string
	changes testenv.Changes
}

// New returns Dialogs whose cancelled entry returns cancelled.
func New(cancelled error) *Dialogs {
	return &Dialogs{Entries: make(chan string), Retries: make(chan bool), Cancelled: cancelled}
}

func (d *Dialogs) record(call string) {
	d.mu.Lock()
	d.calls = append(d.calls, call)
	d.mu.Unlock()
	d.changes.Changed()
}

// EnterCode implements tray.Dialogs.
func (d *Dialogs) EnterCode(ctx context.Context, prefill string) (string, error) {
	d.record("entry " + prefill)
	select {
	case s := <-d.Entries:
		if s == CancelEntry {
			return "", d.Cancelled
		}
		return s, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Retry implements tray.Dialogs.
func (d *Dialogs) Retry(ctx context.Context, text string) (bool, error) {
	d.record("retry " + text)
	select {
	case b := <-d.Retries:
		return b, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// Message implements tray.Dialogs.
func (d *Dialogs) Message(_ context.Context, text string, _ bool) error {
	d.record("message " + text)
	return nil
}

// Notify implements tray.Dialogs.
func (d *Dialogs) Notify(_ context.Context, text string) error {
	d.record("notify " + text)
	return nil
}

// WaitCall waits up to timeout until the n-th call (from 1) was made and
// returns it.
func (d *Dialogs) WaitCall(t testing.TB, n int, timeout time.Duration) string {
	t.Helper()
	var calls []string
	if !d.changes.Await(timeout, func() bool {
		calls = d.Calls()
		return len(calls) >= n
	}) {
		t.Fatalf("dialog call %d never came; calls so far: %q", n, calls)
	}
	return calls[n-1]
}

// Calls returns every call so far.
func (d *Dialogs) Calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}
