// Package terminal runs an interactive shell for a technician's remote
// terminal: a pseudo-terminal on Linux and macOS (ConPTY on Windows is not
// written yet), with resize, and a size-capped transcript of what the
// shell printed for the audit log.
//
// The caller moves bytes: Read gives the shell's output (the echo of
// what was typed included), Write types.
package terminal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/tetherdesk/tether/shared/protocol"
)

// ErrUnsupported is returned where no terminal can be started.
var ErrUnsupported = errors.New("terminal: not supported on this system")

// Bounds of a terminal's size, in character cells: the channel's.
const (
	MinCols, MinRows = 2, 1
	MaxCols, MaxRows = protocol.TerminalMaxCols, protocol.TerminalMaxRows
)

// DefaultTranscript is how much of the output a transcript keeps.
const DefaultTranscript = 1 << 20

// Config configures a terminal.
type Config struct {
	// Shell and its arguments; default: the user's login shell (SHELL,
	// else /bin/sh) as a login shell.
	Shell []string
	// Dir is the working directory; default the home directory.
	Dir string
	// Env is the environment; default this process's, with TERM set.
	Env []string
	// Cols and Rows are the first size (default 80x24).
	Cols, Rows int
	// Transcript bounds the kept output (default DefaultTranscript; the
	// start and the end are kept, the middle counted).
	Transcript int
	Logger     *slog.Logger
}

func (c *Config) checkAndSetDefaults() error {
	if len(c.Shell) == 0 {
		sh := os.Getenv("SHELL")
		if sh == "" {
			sh = loginShell() // a helper or service started without one
		}
		if sh == "" {
			sh = defaultShell
		}
		c.Shell = []string{sh, "-l"}
	}
	if c.Dir == "" {
		if h, err := os.UserHomeDir(); err == nil && isDir(h) {
			c.Dir = h
		} else {
			c.Dir = string(os.PathSeparator)
		}
	}
	if c.Env == nil {
		c.Env = append(os.Environ(), "TERM=xterm-256color")
	}
	if c.Cols == 0 && c.Rows == 0 {
		c.Cols, c.Rows = 80, 24
	}
	if err := checkSize(c.Cols, c.Rows); err != nil {
		return err
	}
	if c.Transcript <= 0 {
		c.Transcript = DefaultTranscript
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

func checkSize(cols, rows int) error {
	if cols < MinCols || cols > MaxCols || rows < MinRows || rows > MaxRows {
		return fmt.Errorf("terminal: size %dx%d out of %dx%d..%dx%d", cols, rows, MinCols, MinRows, MaxCols, MaxRows)
	}
	return nil
}

// Term is a running shell. Read, Write, Resize and Close may be called
// from different goroutines.
type Term struct {
	p     pty
	shell string
	log   *slog.Logger
	tr    *Transcript
	done  chan struct{}
	code  int

	closeOnce sync.Once
	closing   chan struct{} // closed by Close
	outOnce   sync.Once
	out       chan []byte
}

// pty is the system's side: a pseudo-terminal and its shell.
type pty interface {
	io.ReadWriter
	resize(cols, rows int) error
	// wait waits for the shell and returns its exit code.
	wait() (int, error)
	// kill ends the shell and its process group and releases the pty.
	kill() error
}

// Start starts the shell.
func Start(cfg Config) (*Term, error) {
	if err := cfg.checkAndSetDefaults(); err != nil {
		return nil, err
	}
	p, err := startPTY(cfg)
	if err != nil {
		return nil, fmt.Errorf("terminal: starting %s: %w", cfg.Shell[0], err)
	}
	t := &Term{p: p, shell: cfg.Shell[0], log: cfg.Logger.With("component", "terminal"), tr: NewTranscript(cfg.Transcript),
		done: make(chan struct{}), closing: make(chan struct{})}
	go func() {
		var err error
		if t.code, err = p.wait(); err != nil {
			t.log.Debug("waiting for the shell", "error", err)
		}
		close(t.done)
	}()
	return t, nil
}

// Read reads the shell's output. It returns io.EOF once the shell has
// ended and its output is drained.
func (t *Term) Read(b []byte) (int, error) {
	n, err := t.p.Read(b)
	if n > 0 {
		t.tr.Write(b[:n])
	}
	if err != nil {
		// Linux reports the closed pty as EIO.
		return n, io.EOF
	}
	return n, nil
}

// Output delivers the shell's output as Read would, from a reader of its
// own, and is closed at the end of it. It is read no faster than it is
// taken: while nobody takes it (a viewer's connection dropped), the
// shell blocks on a full terminal, as over a stalled SSH connection. Use
// either Output or Read, not both.
func (t *Term) Output() <-chan []byte {
	t.outOnce.Do(func() {
		t.out = make(chan []byte)
		go func() {
			defer close(t.out)
			for {
				buf := make([]byte, chunk)
				n, err := t.Read(buf)
				if n > 0 {
					select {
					case t.out <- buf[:n]:
					case <-t.closing:
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	})
	return t.out
}

// Running reports whether the shell still runs.
func (t *Term) Running() bool {
	select {
	case <-t.done:
		return false
	default:
		return true
	}
}

// Write types b into the shell.
func (t *Term) Write(b []byte) (int, error) { return t.p.Write(b) }

// Resize changes the terminal's size; the shell gets SIGWINCH.
func (t *Term) Resize(cols, rows int) error {
	if err := checkSize(cols, rows); err != nil {
		return err
	}
	return t.p.resize(cols, rows)
}

// Done is closed when the shell has ended.
func (t *Term) Done() <-chan struct{} { return t.done }

// ExitCode is the shell's exit code once Done is closed.
func (t *Term) ExitCode() int {
	<-t.done
	return t.code
}

// Transcript is the output kept so far.
func (t *Term) Transcript() *Transcript { return t.tr }

// Close ends the shell (and what it started in its process group) and
// waits up to a few seconds for it.
func (t *Term) Close() error {
	var err error
	t.closeOnce.Do(func() {
		close(t.closing)
		err = t.p.kill()
		select {
		case <-t.done:
		case <-time.After(5 * time.Second):
			t.log.Warn("the shell did not end after it was killed")
		}
	})
	return err
}

// Transcript keeps the first and the last half of a bounded amount of
// output, and counts what was left out between them.
type Transcript struct {
	mu      sync.Mutex
	max     int
	head    []byte
	tail    []byte // a ring of max/2 bytes once full
	tailAt  int
	tailLen int
	total   int64
}

// NewTranscript keeps up to max bytes.
func NewTranscript(max int) *Transcript {
	return &Transcript{max: max}
}

// Write adds output; it never fails.
func (tr *Transcript) Write(b []byte) (int, error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := len(b)
	tr.total += int64(n)
	if room := tr.max/2 - len(tr.head); room > 0 {
		k := min(room, len(b))
		tr.head = append(tr.head, b[:k]...)
		b = b[k:]
	}
	half := tr.max - tr.max/2
	if half == 0 || len(b) == 0 {
		return n, nil
	}
	if tr.tail == nil {
		tr.tail = make([]byte, half)
	}
	if len(b) >= half {
		b = b[len(b)-half:]
	}
	for len(b) > 0 {
		k := copy(tr.tail[tr.tailAt:], b)
		b = b[k:]
		tr.tailAt = (tr.tailAt + k) % half
		tr.tailLen = min(half, tr.tailLen+k)
	}
	return n, nil
}

// Bytes returns the kept output: the start, a line saying how much was
// left out (if any), and the end.
func (tr *Transcript) Bytes() []byte {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := append([]byte(nil), tr.head...)
	if tr.tailLen == 0 {
		return out
	}
	if skipped := tr.total - int64(len(tr.head)) - int64(tr.tailLen); skipped > 0 {
		out = fmt.Appendf(out, "\r\n[… %d bytes not kept …]\r\n", skipped)
	}
	if tr.tailLen < len(tr.tail) {
		return append(out, tr.tail[:tr.tailLen]...)
	}
	out = append(out, tr.tail[tr.tailAt:]...)
	return append(out, tr.tail[:tr.tailAt]...)
}

// Total is how many bytes of output there were in all.
func (tr *Transcript) Total() int64 {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.total
}

func marshal(m any) (string, error) {
	b, err := json.Marshal(m)
	return string(b), err
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
