// Package presence keeps agents' signs of life in memory and writes them
// to the store in batches: a write per poll would dominate the store's
// load with many agents.
package presence

import (
	"context"
	"sync"
	"time"

	"github.com/tetherdesk/tether/server/store"
)

// Table keeps last-seen times in memory and writes them in batches: a
// write per poll would dominate the store's load with many agents.
type Table struct {
	mu     sync.Mutex
	last   map[string]time.Time
	dirty  map[string]time.Time
	held   map[string]int
	lastIP map[string]string
}

// New makes an empty table.
func New() *Table {
	return &Table{last: map[string]time.Time{}, dirty: map[string]time.Time{}, held: map[string]int{}, lastIP: map[string]string{}}
}

// Seen records a sign of life and reports whether the remote address
// differs from the one last seen in this process.
func (p *Table) Seen(id string, t time.Time, ip string) (ipChanged bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last[id], p.dirty[id] = t, t
	if ip != "" && p.lastIP[id] != ip {
		_, known := p.lastIP[id]
		p.lastIP[id] = ip
		return known
	}
	return false
}

// Gone records that an agent went away at since (its held poll ended
// without a sign of life).
func (p *Table) Gone(id string, since time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last[id], p.dirty[id] = since, since
}

// Hold counts a poll of the agent held (d = +1) or released (-1).
func (p *Table) Hold(id string, d int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held[id] += d; p.held[id] <= 0 {
		delete(p.held, id)
	}
}

// Holding reports whether a poll of the agent is held on this node.
func (p *Table) Holding(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held[id] > 0
}

// LastSeen is the last sign of life this node saw.
func (p *Table) LastSeen(id string) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.last[id]
	return t, ok
}

func (p *Table) drainDirty() map[string]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.dirty
	p.dirty = map[string]time.Time{}
	return d
}

func (p *Table) requeue(seen map[string]time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, t := range seen {
		if cur, ok := p.dirty[id]; !ok || t.After(cur) {
			p.dirty[id] = t
		}
	}
}

// Flush writes the signs of life seen since the last flush in one batch;
// on failure they wait for the next.
func (p *Table) Flush(ctx context.Context, st store.AgentStore) (int, error) {
	seen := p.drainDirty()
	if len(seen) == 0 {
		return 0, nil
	}
	if err := st.TouchAgents(ctx, seen); err != nil {
		p.requeue(seen)
		return len(seen), err
	}
	return len(seen), nil
}
