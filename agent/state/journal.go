package state

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetherdesk/tether/agent/internal/atomicfile"
	"github.com/tetherdesk/tether/shared/protocol"
)

// DefaultJournalSize is how many actions the journal remembers. Older
// entries that were reported are forgotten; an action the server re-offers
// after that many newer ones would run again, which the server never does
// for an action whose result it has.
const DefaultJournalSize = 1000

// Entry is the journal's record of one action.
type Entry struct {
	ID       string                 `json:"id"`
	Type     string                 `json:"type"`
	Started  time.Time              `json:"started"`
	Finished time.Time              `json:"finished,omitzero"`
	Result   *protocol.ActionResult `json:"result,omitempty"`
	// Reported is set once a poll carrying the result was answered 200.
	Reported bool `json:"reported,omitempty"`
}

// Done reports whether the action has a final result.
func (e Entry) Done() bool { return e.Result != nil }

// Journal records which actions were started and how they ended, one file
// per action so that each step is a single small atomic write. It is what
// makes "at most once per id" hold across crashes: an action is journaled as
// started before it runs.
type Journal struct {
	dir string
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*Entry
}

// OpenJournal loads the journal in the state directory. max <= 0 means
// DefaultJournalSize. Unreadable entries are skipped with a warning: they
// cannot be attributed to an action id anyway.
func (s *Store) OpenJournal(max int) (*Journal, error) {
	if max <= 0 {
		max = DefaultJournalSize
	}
	dir := filepath.Join(s.dir, ActionsDir)
	if err := atomicfile.MkdirPrivate(dir); err != nil {
		return nil, fmt.Errorf("opening action journal: %w", err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading action journal: %w", err)
	}
	j := &Journal{dir: dir, max: max, now: time.Now, entries: make(map[string]*Entry, len(des))}
	for _, de := range des {
		name := de.Name()
		if de.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		var e Entry
		if err := readJSON(filepath.Join(dir, name), &e); err != nil || e.ID == "" || entryFile(e.ID) != name {
			s.log.Warn("skipping unreadable action journal entry", "file", name, "error", err)
			continue
		}
		j.entries[e.ID] = &e
	}
	return j, nil
}

// Get returns the entry for id.
func (j *Journal) Get(id string) (Entry, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e, ok := j.entries[id]
	if !ok {
		return Entry{}, false
	}
	return *e, true
}

// Len returns the number of entries.
func (j *Journal) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.entries)
}

// Start durably records that action id is about to run. It fails if id is
// already journaled: the caller must then not run it.
func (j *Journal) Start(id, typ string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.entries[id]; ok {
		return fmt.Errorf("action %q already journaled", id)
	}
	e := &Entry{ID: id, Type: typ, Started: j.now().UTC()}
	if err := j.write(e); err != nil {
		return err
	}
	j.entries[id] = e
	j.prune()
	return nil
}

// Finish records the final result of a started action.
func (j *Journal) Finish(id string, res protocol.ActionResult) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	old, ok := j.entries[id]
	if !ok {
		return fmt.Errorf("action %q not journaled", id)
	}
	e := *old
	e.Finished = j.now().UTC()
	e.Result = &res
	if err := j.write(&e); err != nil {
		return err
	}
	j.entries[id] = &e
	return nil
}

// MarkReported records that the server has the results of ids. Unknown or
// unfinished ids are ignored. It tries every id and returns the first error.
func (j *Journal) MarkReported(ids ...string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var first error
	for _, id := range ids {
		old, ok := j.entries[id]
		if !ok || !old.Done() || old.Reported {
			continue
		}
		e := *old
		e.Reported = true
		if err := j.write(&e); err != nil {
			first = cmp.Or(first, err)
			continue
		}
		j.entries[id] = &e
	}
	return first
}

// Unfinished returns started actions without a result, oldest first.
func (j *Journal) Unfinished() []Entry {
	return j.filter(func(e *Entry) bool { return !e.Done() })
}

// Unreported returns finished actions whose result the server may not have,
// oldest first.
func (j *Journal) Unreported() []Entry {
	return j.filter(func(e *Entry) bool { return e.Done() && !e.Reported })
}

func (j *Journal) filter(keep func(*Entry) bool) []Entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []Entry
	for _, e := range j.entries {
		if keep(e) {
			out = append(out, *e)
		}
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return cmp.Or(a.Started.Compare(b.Started), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// prune forgets the oldest reported entries beyond max. Unreported or
// unfinished ones are kept whatever the count: forgetting them would lose a
// result or allow a second run.
func (j *Journal) prune() {
	excess := len(j.entries) - j.max
	if excess <= 0 {
		return
	}
	var old []*Entry
	for _, e := range j.entries {
		if e.Reported {
			old = append(old, e)
		}
	}
	slices.SortFunc(old, func(a, b *Entry) int { return a.Started.Compare(b.Started) })
	for _, e := range old[:min(excess, len(old))] {
		// A failed remove leaves a file that is re-read on the next start;
		// harmless, so it is not worth failing Start for.
		if err := os.Remove(filepath.Join(j.dir, entryFile(e.ID))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		delete(j.entries, e.ID)
	}
}

func (j *Journal) write(e *Entry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding journal entry for action %q: %w", e.ID, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(j.dir, entryFile(e.ID)), data, 0o600); err != nil {
		return fmt.Errorf("journaling action %q: %w", e.ID, err)
	}
	return nil
}

// entryFile names an action's file by a hash of its id: ids come from the
// server and must not be trusted as path components.
func entryFile(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16]) + ".json"
}
