package procs

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestWindowsSleeper is the process TestWindowsProcesses ends: it waits
// when started by it, and passes at once otherwise.
func TestWindowsSleeper(t *testing.T) {
	if os.Getenv("TETHER_PROCS_SLEEPER") == "" {
		return
	}
	time.Sleep(10 * time.Minute)
}

// TestWindowsProcesses lists the processes (the toolhelp snapshot, under
// Wine too) and ends a child with End.
func TestWindowsProcesses(t *testing.T) {
	ctx := context.Background()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWindowsSleeper$")
	cmd.Env = append(os.Environ(), "TETHER_PROCS_SLEEPER=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	l := NewLister()
	ps, err := l.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	self, ok := find(ps, os.Getpid())
	if !ok || !strings.HasSuffix(strings.ToLower(self.Name), ".exe") || self.RSS == 0 || self.Started == 0 {
		t.Fatalf("own process %+v (found %v) among %d", self, ok, len(ps))
	}
	child, ok := find(ps, cmd.Process.Pid)
	if !ok || child.PPID != int32(os.Getpid()) {
		t.Fatalf("the child %+v (found %v)", child, ok)
	}
	if err := End(ctx, child.PID, child.Started); err != nil {
		t.Fatalf("End: %v", err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the child still runs after End")
	}
}
