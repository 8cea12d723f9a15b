//go:build linux

package terminal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// reader collects a terminal's output as it comes.
type reader struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	more chan struct{}
	eof  chan struct{}
}

func collect(t *Term) *reader {
	r := &reader{more: make(chan struct{}, 1), eof: make(chan struct{})}
	go func() {
		defer close(r.eof)
		b := make([]byte, 32<<10)
		for {
			n, err := t.Read(b)
			r.mu.Lock()
			r.buf.Write(b[:n])
			r.mu.Unlock()
			select {
			case r.more <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return r
}

// waitFor waits until the output contains s (after from), or fails.
func (r *reader) waitFor(tb testing.TB, from int, s string) string {
	tb.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		out := r.buf.String()
		r.mu.Unlock()
		if strings.Contains(out[from:], s) {
			return out[from:]
		}
		select {
		case <-r.more:
		case <-r.eof:
			r.mu.Lock()
			out = r.buf.String()
			r.mu.Unlock()
			if strings.Contains(out[from:], s) {
				return out[from:]
			}
			tb.Fatalf("the shell ended without printing %q; output:\n%s", s, out)
		case <-deadline:
			tb.Fatalf("no %q within 10 s; output:\n%s", s, out)
		}
	}
}

func (r *reader) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Len()
}

func shell(t testing.TB, cfg Config) (*Term, *reader) {
	t.Helper()
	if cfg.Shell == nil {
		cfg.Shell = []string{"/bin/sh"}
	}
	cfg.Env = []string{"PATH=/usr/bin:/bin", "TERM=xterm", "PS1=$ ", "HOME=" + os.TempDir()}
	term, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { term.Close() })
	return term, collect(term)
}

func TestShellAnswers(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	term, out := shell(t, Config{Cols: 90, Rows: 20})
	fmt.Fprintf(term, "id -un; tty; stty size; echo do''ne\n")
	got := out.waitFor(t, 0, "done")
	if !strings.Contains(got, me.Username) || !strings.Contains(got, "/dev/pts/") || !strings.Contains(got, "20 90") {
		t.Errorf("want %s, a /dev/pts/ tty and 20 90 in:\n%s", me.Username, got)
	}
	// Resize: the shell sees the new size.
	if err := term.Resize(132, 40); err != nil {
		t.Fatal(err)
	}
	from := out.len()
	fmt.Fprintf(term, "stty size; echo siz''ed\n")
	if got := out.waitFor(t, from, "sized"); !strings.Contains(got, "40 132") {
		t.Errorf("after a resize to 132x40:\n%s", got)
	}
	for _, bad := range [][2]int{{0, 10}, {80, 0}, {MaxCols + 1, 24}, {80, MaxRows + 1}} {
		if err := term.Resize(bad[0], bad[1]); err == nil {
			t.Errorf("Resize(%d, %d) was taken", bad[0], bad[1])
		}
	}
	// The shell's own end: its exit code, then EOF.
	fmt.Fprintf(term, "exit 3\n")
	select {
	case <-term.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the shell did not end")
	}
	if c := term.ExitCode(); c != 3 {
		t.Errorf("exit code %d, want 3", c)
	}
	select {
	case <-out.eof:
	case <-time.After(10 * time.Second):
		t.Fatal("no EOF after the shell ended")
	}
	if !bytes.Contains(term.Transcript().Bytes(), []byte("sized")) {
		t.Errorf("the transcript lacks the output:\n%s", term.Transcript().Bytes())
	}
}

// TestCloseEndsWhatTheShellStarted: a program the shell left running goes
// with it.
func TestCloseEndsWhatTheShellStarted(t *testing.T) {
	term, out := shell(t, Config{})
	fmt.Fprintf(term, "sleep 600 & echo pid=$!; echo start''ed\n")
	got := out.waitFor(t, 0, "started")
	// The echo of the command line says pid=$!; the answer has digits.
	m := regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("no pid in %q", got)
	}
	pid, _ := strconv.Atoi(m[1])
	if err := term.Close(); err != nil {
		t.Logf("Close: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := syscall.Kill(pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			break
		}
		// A zombie waiting for its reaper counts as gone too.
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); bytes.Contains(b, []byte(") Z ")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sleep %d still runs after Close", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-term.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed after Close")
	}
}

func TestStartFails(t *testing.T) {
	if _, err := Start(Config{Shell: []string{"/nonexistent/shell"}}); err == nil {
		t.Error("a missing shell started")
	}
	if _, err := Start(Config{Shell: []string{"/bin/sh"}, Cols: 5000, Rows: 10}); err == nil {
		t.Error("a 5000-column terminal started")
	}
}

func TestTranscript(t *testing.T) {
	for _, tc := range []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{"fits", 16, []string{"abc", "def"}, "abcdef"},
		{"exactly full", 8, []string{"abcd", "efgh"}, "abcdefgh"},
		{"middle left out", 8, []string{"abcd", "efgh", "ijkl"}, "abcd\r\n[… 4 bytes not kept …]\r\nijkl"},
		{"one big write", 8, []string{"abcdefghijklmnop"}, "abcd\r\n[… 8 bytes not kept …]\r\nmnop"},
		{"ring wraps", 8, []string{"abcd", "ef", "gh", "ij", "k"}, "abcd\r\n[… 3 bytes not kept …]\r\nhijk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTranscript(tc.max)
			total := 0
			for _, w := range tc.writes {
				tr.Write([]byte(w))
				total += len(w)
			}
			if got := string(tr.Bytes()); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if tr.Total() != int64(total) {
				t.Errorf("total %d, want %d", tr.Total(), total)
			}
		})
	}
}

// BenchmarkBurst reads 1 MB of output from the shell: the terminal's
// throughput before any transport.
func BenchmarkBurst(b *testing.B) {
	term, err := Start(Config{Shell: []string{"/bin/sh"}, Env: []string{"PATH=/usr/bin:/bin", "PS1="}})
	if err != nil {
		b.Fatal(err)
	}
	defer term.Close()
	buf := make([]byte, 64<<10)
	const size = 1 << 20
	b.SetBytes(size)
	for i := 0; b.Loop(); i++ {
		// stty raw: no newline translation, so exactly size bytes come.
		// EN''D: the echo of the command line does not end the wait.
		fmt.Fprintf(term, "stty raw -echo; head -c %d /dev/zero | tr '\\0' x; echo EN''D%d\n", size, i)
		want := fmt.Sprintf("END%d", i)
		var seen []byte
		for !bytes.Contains(seen, []byte(want)) {
			n, err := term.Read(buf)
			if err == io.EOF {
				b.Fatal("the shell ended")
			}
			seen = append(seen[max(0, len(seen)-16):], buf[:n]...)
		}
	}
}
