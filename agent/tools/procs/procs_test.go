package procs

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tetherdesk/tether/shared/protocol"
)

func find(ps []protocol.ProcessInfo, pid int) (protocol.ProcessInfo, bool) {
	for _, p := range ps {
		if int(p.PID) == pid {
			return p, true
		}
	}
	return protocol.ProcessInfo{}, false
}

// TestListAndEnd: a process the test starts is listed with its command
// line, user and memory; ending it with another start time is refused;
// ending it for real leaves it gone; the agent's own process and the
// first one are never ended.
func TestListAndEnd(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("sleep is a Unix program; the Windows run is in the Wine tests")
	}
	ctx := context.Background()
	cmd := exec.Command("sleep", "600")
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
	p, ok := find(ps, cmd.Process.Pid)
	if !ok {
		t.Fatalf("sleep (pid %d) not listed among %d processes", cmd.Process.Pid, len(ps))
	}
	if p.Name != "sleep" || p.Command != "sleep 600" || p.User == "" || p.RSS == 0 || p.Started == 0 || p.PPID != int32(os.Getpid()) {
		t.Fatalf("listed %+v", p)
	}
	self, ok := find(ps, os.Getpid())
	if !ok || self.CPU < 0 {
		t.Fatalf("own process %+v", self)
	}
	if _, err := l.List(ctx); err != nil { // the second listing's CPU is since the first
		t.Fatal(err)
	}

	if err := End(ctx, int32(os.Getpid()), 0); err != ErrProtected {
		t.Fatalf("ending the agent itself: %v", err)
	}
	if err := End(ctx, 1, 0); err != ErrProtected {
		t.Fatalf("ending pid 1: %v", err)
	}
	if err := End(ctx, p.PID, p.Started+1); err != ErrGone {
		t.Fatalf("ending with another start time: %v, want ErrGone", err)
	}
	if err := End(ctx, p.PID, p.Started); err != nil {
		t.Fatalf("End: %v", err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("sleep still runs after End")
	}
	ps, _ = l.List(ctx)
	if _, ok := find(ps, cmd.Process.Pid); ok {
		t.Fatal("the ended process is still listed")
	}
}

func TestCut(t *testing.T) {
	s := strings.Repeat("é", 10) // 2 bytes each
	got := cut(s, 5)
	if !utf8.ValidString(got) || got != "éé…" {
		t.Fatalf("cut = %q", got)
	}
	if cut("short", 10) != "short" {
		t.Fatal("a short line was cut")
	}
}
