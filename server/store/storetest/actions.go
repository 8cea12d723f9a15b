package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/protocol"
)

func testActionLifecycle(t *testing.T, s store.Store) {
	ctx := t.Context()
	agentA := mustAgent(t, s, store.DefaultGroup, "a")
	agentB := mustAgent(t, s, store.DefaultGroup, "b")

	create := func(agent string, created time.Time, payload string) store.Action {
		t.Helper()
		in := store.Action{AgentID: agent, Type: protocol.ActionEcho, CreatedBy: "tech", Created: created,
			State: protocol.ActionDone} // the store must ignore a caller's state
		if payload != "" {
			in.Payload = json.RawMessage(payload)
		}
		a, err := s.CreateAction(ctx, in)
		noErr(t, "create action", err)
		checkID(t, "action", a.ID)
		equal(t, "new action state", a.State, protocol.ActionQueued)
		if a.Delivered != nil || a.Completed != nil {
			t.Fatalf("new action %+v has delivery or completion times", a)
		}
		got, err := s.ActionByID(ctx, a.ID)
		noErr(t, "action by id", err)
		equal(t, "action by id", got, a)
		return a
	}
	// Created out of order: PendingActions sorts by Created.
	a2 := create(agentA.ID, t0.Add(2*time.Second), `{"n": 2}`)
	a1 := create(agentA.ID, t0.Add(time.Second), `{"n":1}`)
	a3 := create(agentA.ID, t0.Add(2*time.Second), "") // same time as a2, created after it
	b1 := create(agentB.ID, t0, `{}`)

	_, err := s.CreateAction(ctx, store.Action{AgentID: "nope", Type: protocol.ActionEcho})
	wantErr(t, "action for unknown agent", err, store.ErrNotFound)
	_, err = s.CreateAction(ctx, store.Action{AgentID: agentA.ID, Type: protocol.ActionEcho, Payload: json.RawMessage(`{"x":`)})
	if err == nil {
		t.Fatal("action with invalid payload accepted")
	}
	_, err = s.ActionByID(ctx, "nope")
	wantErr(t, "missing action", err, store.ErrNotFound)

	state := func(id string) store.Action {
		t.Helper()
		a, err := s.ActionByID(ctx, id)
		noErr(t, "action by id", err)
		return a
	}
	pending := func(agent string, now time.Time, want ...store.Action) []store.Action {
		t.Helper()
		got, err := s.PendingActions(ctx, agent, now)
		noErr(t, "pending", err)
		var gotIDs, wantIDs []string
		for _, a := range got {
			gotIDs = append(gotIDs, a.ID)
			equal(t, "pending action state", a.State, protocol.ActionDelivered)
			equal(t, "pending action as stored", a, state(a.ID))
		}
		for _, a := range want {
			wantIDs = append(wantIDs, a.ID)
		}
		equal(t, "pending ids", gotIDs, wantIDs)
		return got
	}

	t1 := t0.Add(time.Minute)
	got := pending(agentA.ID, t1, a1, a2, a3)
	for _, a := range got {
		sameTime(t, "delivered", *a.Delivered, t1)
	}
	equal(t, "payload kept byte for byte", string(got[1].Payload), `{"n": 2}`)
	if got[2].Payload != nil {
		t.Fatalf("nil payload came back as %q", got[2].Payload)
	}
	equal(t, "other agent untouched", state(b1.ID).State, protocol.ActionQueued)

	// Delivered but unacknowledged actions are offered again; the first
	// delivery time stays.
	got = pending(agentA.ID, t1.Add(time.Minute), a1, a2, a3)
	sameTime(t, "first delivery kept", *got[0].Delivered, t1)

	// Ack: other agents' ids and unknown ids are ignored.
	noErr(t, "ack", s.AckActions(ctx, agentA.ID, []string{a1.ID, b1.ID, "nope"}))
	noErr(t, "ack nothing", s.AckActions(ctx, agentA.ID, nil))
	equal(t, "a1 acked", state(a1.ID).State, protocol.ActionAcked)
	equal(t, "b1 not acked by a", state(b1.ID).State, protocol.ActionQueued)
	pending(agentA.ID, t1, a2, a3)

	// Complete: done with output, failed with error; other agents ignored.
	t3 := t0.Add(time.Hour)
	noErr(t, "complete", s.CompleteActions(ctx, agentA.ID, []store.ActionResult{
		{ID: a1.ID, OK: true, Output: json.RawMessage(`{"echo":1}`)},
		{ID: a2.ID, OK: false, Error: "boom"},
		{ID: b1.ID, OK: true},
		{ID: "nope", OK: true},
	}, t3))
	noErr(t, "complete nothing", s.CompleteActions(ctx, agentA.ID, nil, t3))
	d1 := state(a1.ID)
	equal(t, "a1 done", d1.State, protocol.ActionDone)
	equal(t, "a1 output", string(d1.Output), `{"echo":1}`)
	equal(t, "a1 error", d1.Error, "")
	sameTime(t, "a1 completed", *d1.Completed, t3)
	sameTime(t, "a1 delivered", *d1.Delivered, t1)
	d2 := state(a2.ID)
	equal(t, "a2 failed", d2.State, protocol.ActionFailed)
	equal(t, "a2 error", d2.Error, "boom")
	if d2.Output != nil {
		t.Fatalf("a2 output = %q, want none", d2.Output)
	}
	equal(t, "b1 untouched by a", state(b1.ID), b1)

	// Repeats change nothing: not a second completion, not an ack.
	noErr(t, "complete again", s.CompleteActions(ctx, agentA.ID, []store.ActionResult{
		{ID: a1.ID, OK: false, Error: "late"}, {ID: a2.ID, OK: true},
	}, t3.Add(time.Hour)))
	noErr(t, "ack finished", s.AckActions(ctx, agentA.ID, []string{a1.ID, a2.ID}))
	equal(t, "a1 unchanged", state(a1.ID), d1)
	equal(t, "a2 unchanged", state(a2.ID), d2)

	// Completing a queued action directly also records a delivery time.
	noErr(t, "complete b1", s.CompleteActions(ctx, agentB.ID, []store.ActionResult{{ID: b1.ID, OK: true}}, t3))
	fb := state(b1.ID)
	equal(t, "b1 done", fb.State, protocol.ActionDone)
	if fb.Delivered == nil || fb.Completed == nil {
		t.Fatalf("b1 = %+v, want delivered and completed times", fb)
	}

	pending(agentA.ID, t3, a3)
	noErr(t, "ack a3", s.AckActions(ctx, agentA.ID, []string{a3.ID}))
	pending(agentA.ID, t3)
	pending(agentB.ID, t3)
}

// testActionsConcurrent queues actions from many goroutines while others
// poll, as happens when technicians act on agents that are polling.
func testActionsConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const agents, producers, perProducer, pollers = 4, 3, 15, 2
	var ids [agents]string
	for i := range agents {
		ids[i] = mustAgent(t, s, store.DefaultGroup, fmt.Sprintf("conc-%d", i)).ID
	}

	var (
		mu      sync.Mutex
		created = map[string][]string{} // agent -> action ids
		errs    = make(chan error, agents*(producers+pollers))
		prodWG  sync.WaitGroup
		pollWG  sync.WaitGroup
		stop    = make(chan struct{})
	)
	for _, agent := range ids {
		for p := range producers {
			prodWG.Go(func() {
				for i := range perProducer {
					a, err := s.CreateAction(ctx, store.Action{AgentID: agent, Type: protocol.ActionEcho,
						Payload: json.RawMessage(fmt.Sprintf(`{"p":%d,"i":%d}`, p, i))})
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					created[agent] = append(created[agent], a.ID)
					mu.Unlock()
				}
			})
		}
		for range pollers {
			pollWG.Go(func() {
				for {
					got, err := s.PendingActions(ctx, agent, time.Now())
					if err != nil {
						errs <- err
						return
					}
					for _, a := range got {
						if a.AgentID != agent || a.State != protocol.ActionDelivered || a.Delivered == nil {
							errs <- fmt.Errorf("poll of %s returned %+v", agent, a)
							return
						}
						// A read racing the writers sees the delivery.
						stored, err := s.ActionByID(ctx, a.ID)
						if err != nil {
							errs <- err
							return
						}
						if stored.State == protocol.ActionQueued || stored.Delivered == nil {
							errs <- fmt.Errorf("delivered action reads back as %+v", stored)
							return
						}
					}
					select {
					case <-stop:
						return
					default:
					}
				}
			})
		}
	}
	prodWG.Wait()
	close(stop)
	pollWG.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	for _, agent := range ids {
		got, err := s.PendingActions(ctx, agent, time.Now())
		noErr(t, "final poll", err)
		var gotIDs []string
		for i, a := range got {
			gotIDs = append(gotIDs, a.ID)
			if i > 0 && a.Created.Before(got[i-1].Created) {
				t.Fatalf("pending actions not oldest first at %d: %s before %s", i, got[i-1].Created, a.Created)
			}
		}
		want := created[agent]
		slices.Sort(want)
		slices.Sort(gotIDs)
		equal(t, "every queued action is pending for "+agent, gotIDs, want)
		noErr(t, "ack all", s.AckActions(ctx, agent, gotIDs))
		left, err := s.PendingActions(ctx, agent, time.Now())
		noErr(t, "poll after ack", err)
		equal(t, "nothing pending after ack", len(left), 0)
	}
}
