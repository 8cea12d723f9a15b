package hub

import (
	"testing"
	"time"
)

func TestNotifyWakesOnlyThatAgent(t *testing.T) {
	h := NewLocal()
	a, cancelA := h.Subscribe("a")
	defer cancelA()
	b, cancelB := h.Subscribe("b")
	defer cancelB()
	if got := h.Waiting(); got != 2 {
		t.Fatalf("waiting = %d, want 2", got)
	}
	h.Notify("a")
	select {
	case <-a:
	case <-time.After(5 * time.Second):
		t.Fatal("waiter a not woken")
	}
	select {
	case <-b:
		t.Fatal("waiter b woken by a's notify")
	default:
	}
	if got := h.Waiting(); got != 1 {
		t.Fatalf("waiting after notify = %d, want 1", got)
	}
}

func TestCancelRemovesWaiter(t *testing.T) {
	h := NewLocal()
	_, cancel := h.Subscribe("a")
	cancel()
	cancel() // a second cancel is harmless
	if got := h.Waiting(); got != 0 {
		t.Fatalf("waiting = %d, want 0", got)
	}
	h.Notify("a") // nobody waits: must not panic
}
