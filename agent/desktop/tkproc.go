//go:build !windows

package desktop

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// tkProc is a window run by wish (the Tk shell) from a script. Commands go
// to its stdin one per line, every argument base64 behind an "x" (so empty
// strings survive and no text is ever parsed as Tcl); events come back on
// stdout the same way, the first being "ready".
type tkProc struct {
	what   string // for messages: "the chat window"
	cmd    *exec.Cmd
	log    *slog.Logger
	mu     sync.Mutex // guards stdin and closed
	stdin  io.WriteCloser
	closed bool
	done   chan struct{} // the reader has finished
}

// startTk runs script in wish and calls event with each line it prints
// after "ready" (verb and the rest); it fails when wish is not installed
// or the window does not come up.
func startTk(what, script string, log *slog.Logger, event func(verb, arg string)) (*tkProc, error) {
	wish, err := exec.LookPath("wish")
	if err != nil {
		return nil, fmt.Errorf("%s needs wish (Debian package tk): %w", what, err)
	}
	f, err := os.CreateTemp("", "tether-tk-*.tcl")
	if err != nil {
		return nil, fmt.Errorf("%s script: %w", what, err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(script); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s script: %w", what, err)
	}
	f.Close()
	cmd := exec.Command(wish, f.Name())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &tkProc{what: what, cmd: cmd, log: log, stdin: stdin, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", what, err)
	}
	ready := make(chan struct{})
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		seen := false
		for sc.Scan() {
			verb, arg, _ := strings.Cut(sc.Text(), " ")
			switch {
			case verb == "ready" && !seen:
				seen = true
				close(ready)
			case seen && event != nil:
				event(verb, arg)
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case <-ready:
	case <-p.done:
		return nil, fmt.Errorf("%s exited at once (no display?)", what)
	case <-time.After(15 * time.Second):
		p.Close()
		return nil, fmt.Errorf("%s did not start", what)
	}
	return p, nil
}

func tkEncode(s string) string { return "x" + base64.StdEncoding.EncodeToString([]byte(s)) }

func tkDecode(s string) (string, bool) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "x"))
	return string(b), err == nil
}

// send writes one command with its arguments encoded.
func (p *tkProc) send(verb string, args ...string) {
	var b strings.Builder
	b.WriteString(verb)
	for _, a := range args {
		b.WriteByte(' ')
		b.WriteString(tkEncode(a))
	}
	p.sendRaw(b.String())
}

// sendRaw writes one command as it is: only for words of our own.
func (p *tkProc) sendRaw(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.log.Debug(p.what+" gone", "error", err)
	}
}

// Done is closed when wish has exited.
func (p *tkProc) Done() <-chan struct{} { return p.done }

// Close ends wish: it exits when its stdin closes, and is killed if it has
// not within two seconds.
func (p *tkProc) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.done
		return nil
	}
	p.closed = true
	p.stdin.Close()
	p.mu.Unlock()
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}
