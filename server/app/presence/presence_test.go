package presence

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/store"
)

// touches is the one AgentStore method a flush uses.
type touches struct {
	store.AgentStore
	fail  bool
	wrote []map[string]time.Time
}

func (t *touches) TouchAgents(_ context.Context, seen map[string]time.Time) error {
	if t.fail {
		return errors.New("disk full")
	}
	t.wrote = append(t.wrote, seen)
	return nil
}

// TestFlush: signs of life go out in one batch, the newest per agent; a
// failed write keeps them for the next flush; nothing new writes nothing.
func TestFlush(t *testing.T) {
	p := New()
	t0 := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	p.Seen("a", t0, "10.0.0.1")
	if changed := p.Seen("a", t0.Add(time.Second), "10.0.0.2"); !changed {
		t.Error("a new address was not reported")
	}
	p.Seen("b", t0, "")
	st := &touches{fail: true}
	if n, err := p.Flush(context.Background(), st); err == nil || n != 2 {
		t.Fatalf("failed flush: %d, %v", n, err)
	}
	p.Seen("a", t0.Add(2*time.Second), "10.0.0.2")
	st.fail = false
	if _, err := p.Flush(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	if len(st.wrote) != 1 || len(st.wrote[0]) != 2 || !st.wrote[0]["a"].Equal(t0.Add(2*time.Second)) {
		t.Fatalf("wrote %v", st.wrote)
	}
	if n, _ := p.Flush(context.Background(), st); n != 0 || len(st.wrote) != 1 {
		t.Errorf("an empty flush wrote %d", n)
	}
	p.Hold("a", +1)
	if !p.Holding("a") {
		t.Error("held poll not seen")
	}
	p.Hold("a", -1)
	if p.Holding("a") {
		t.Error("released poll still held")
	}
	if last, ok := p.LastSeen("a"); !ok || !last.Equal(t0.Add(2*time.Second)) {
		t.Errorf("last seen %v %v", last, ok)
	}
}
