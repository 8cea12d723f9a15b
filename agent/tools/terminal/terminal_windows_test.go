package terminal

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/wineskip"
)

// TestWindowsConPTY runs cmd.exe on a pseudo console: the console speaks
// VT on its output pipe; a command's answer comes back there; exit ends
// the shell with its code; Close ends one that still runs.
func TestWindowsConPTY(t *testing.T) {
	start := func() (*Term, chan []byte) {
		term, err := Start(Config{Shell: []string{`C:\Windows\System32\cmd.exe`}, Cols: 100, Rows: 30})
		if err != nil {
			t.Fatal(err)
		}
		out := make(chan []byte, 256)
		go func() {
			defer close(out)
			buf := make([]byte, 4096)
			for {
				n, err := term.Read(buf)
				if n > 0 {
					out <- append([]byte(nil), buf[:n]...)
				}
				if err == io.EOF {
					return
				}
			}
		}()
		return term, out
	}
	waitFor := func(out chan []byte, want string) string {
		t.Helper()
		var seen bytes.Buffer
		deadline := time.After(30 * time.Second)
		for !strings.Contains(seen.String(), want) {
			select {
			case b, ok := <-out:
				if !ok {
					t.Fatalf("the console closed before %q; it printed %q", want, seen.String())
				}
				seen.Write(b)
			case <-deadline:
				t.Fatalf("no %q from the console; it printed %q", want, seen.String())
			}
		}
		return seen.String()
	}

	// The console comes up and speaks VT; Close ends the shell.
	term, out := start()
	waitFor(out, "\x1b[")
	if err := term.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case <-term.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the shell still runs after Close")
	}

	wineskip.If(t, "PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE (CreateProcess), ResizePseudoConsole",
		"Wine 8's kernelbase connects the child to the pseudo console but leaves it its parent's standard handles (init_console), so cmd.exe never reads the console; ResizePseudoConsole is a stub (E_NOTIMPL)")
	term, out = start()
	defer term.Close()
	io.WriteString(term, "echo tool-%OS%-42\r\n")
	waitFor(out, "tool-Windows_NT-42")
	if err := term.Resize(120, 40); err != nil {
		t.Errorf("Resize: %v", err)
	}
	io.WriteString(term, "exit 3\r\n")
	select {
	case <-term.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("cmd.exe did not exit")
	}
	if code := term.ExitCode(); code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
}
