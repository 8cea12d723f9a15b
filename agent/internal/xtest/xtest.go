// Package xtest is a test harness for code that needs an X display: it
// starts a private Xvfb on a free display number, runs X clients (xsetroot,
// Tk wish scripts, ...) against it and waits for the lines they print.
//
// Typical use, one Xvfb per test package:
//
//	var xsrv *xtest.Server
//
//	func TestMain(m *testing.M) { os.Exit(xtest.Main(m, xtest.Options{}, &xsrv)) }
//
//	func TestSomething(t *testing.T) {
//		xsrv.Setenv(t) // DISPLAY for this test process only; skips when Xvfb is missing
//		c := xsrv.Wish(t, script)
//		line := c.WaitLine(t, 10*time.Second, func(l string) bool { return strings.HasPrefix(l, "press") })
//	}
//
// Libraries that cache their X connection (robotgo opens the display once
// per process) must see the same DISPLAY on every use: keep one Server per
// package, started in TestMain.
package xtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/tetherdesk/tether/internal/testenv"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jezek/xgb"
)

// Options describe the virtual display.
type Options struct {
	Width, Height, Depth int // default 1280x720x24
	// StartTimeout bounds the wait for Xvfb to accept connections (default 20s).
	StartTimeout time.Duration
}

func (o *Options) setDefaults() {
	if o.Width <= 0 {
		o.Width = 1280
	}
	if o.Height <= 0 {
		o.Height = 720
	}
	if o.Depth <= 0 {
		o.Depth = 24
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 20 * time.Second
	}
}

// ErrNoXvfb means the Xvfb program is not installed.
var ErrNoXvfb = errors.New("xtest: Xvfb not found in PATH")

// Server is a running Xvfb.
type Server struct {
	// Display is the DISPLAY value, e.g. ":7".
	Display string
	Opts    Options

	proc interface {
		Stop(grace time.Duration) bool
	}
	// startErr is set by Main when Xvfb could not start; Setenv reports it.
	startErr error
}

// Main is a TestMain helper: it starts Xvfb, stores it in *srv, runs the
// tests and stops Xvfb. When Xvfb cannot start, the tests still run and
// Setenv skips (Xvfb missing) or fails (Xvfb broken) each test that needs it.
//
// Main also silences github.com/jezek/xgb's package logger, which otherwise
// prints "Could not get authority info" for every connection to an Xvfb
// without authorization.
func Main(m *testing.M, opts Options, srv **Server) int {
	xgb.Logger = log.New(io.Discard, "", 0)
	s, err := Start(opts)
	if err != nil {
		s = &Server{startErr: err}
	}
	*srv = s
	code := m.Run()
	if err == nil {
		s.Close()
	}
	return code
}

// Close stops Xvfb.
func (s *Server) Close() error {
	if s == nil || s.proc == nil {
		return nil
	}
	s.proc.Stop(5 * time.Second)
	return nil
}

// Need skips the test when Xvfb is not installed and fails it when the
// server did not start.
func (s *Server) Need(t testing.TB) {
	t.Helper()
	switch {
	case s == nil:
		t.Fatal("xtest: no server (call xtest.Main from TestMain)")
	case errors.Is(s.startErr, ErrNoXvfb):
		t.Skip("Xvfb is not installed")
	case s.startErr != nil:
		t.Fatal(s.startErr)
	}
}

// Setenv points DISPLAY at this server for the test (and cleans up after).
// It calls Need first.
func (s *Server) Setenv(t testing.TB) {
	t.Helper()
	s.Need(t)
	t.Setenv("DISPLAY", s.Display)
}

// Env returns the current environment with DISPLAY set to this server.
func (s *Server) Env() []string {
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DISPLAY=") {
			env = append(env, kv)
		}
	}
	return append(env, "DISPLAY="+s.Display)
}

// Run runs an X client to completion (e.g. "xsetroot", "-solid", "#ff0000").
func (s *Server) Run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = s.Env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("xtest: %s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// SolidRoot paints the root window one colour ("#rrggbb") and waits for
// xsetroot to finish.
func (s *Server) SolidRoot(t testing.TB, colour string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Run(ctx, "xsetroot", "-solid", colour); err != nil {
		t.Fatal(err)
	}
}

// Client is a long-running X client whose stdout is collected line by line.
type Client struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *testenv.Lines
	done   chan struct{}

	mu     sync.Mutex
	lines  []string
	next   int           // index of the first line WaitLine has not consumed
	notify chan struct{} // closed and replaced on every new line
	eof    bool
}

// StartClient starts an X client with DISPLAY set to this server; the test
// cleanup stops it.
func (s *Server) StartClient(t testing.TB, name string, args ...string) *Client {
	t.Helper()
	s.Need(t)
	c := &Client{stderr: &testenv.Lines{}, done: make(chan struct{}), notify: make(chan struct{})}
	c.cmd = exec.Command(name, args...)
	c.cmd.Env = s.Env()
	c.cmd.Stderr = c.stderr
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("xtest: %s: %v", name, err)
	}
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatalf("xtest: %s: %v", name, err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("xtest: starting %s: %v", name, err)
	}
	go c.read(stdout)
	t.Cleanup(func() {
		_ = c.stdin.Close()
		_ = c.cmd.Process.Kill()
		<-c.done
		_ = c.cmd.Wait()
	})
	return c
}

// Wish runs a Tk script with wish (the script file lives in t.TempDir).
func (s *Server) Wish(t testing.TB, script string) *Client {
	t.Helper()
	path := filepath.Join(t.TempDir(), "client.tcl")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	return s.StartClient(t, "wish", path)
}

func (c *Client) read(r io.Reader) {
	defer close(c.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		c.mu.Lock()
		c.lines = append(c.lines, sc.Text())
		close(c.notify)
		c.notify = make(chan struct{})
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.eof = true
	close(c.notify)
	c.notify = make(chan struct{})
	c.mu.Unlock()
}

// Lines returns every line printed so far.
func (c *Client) Lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

// Stderr returns what the client wrote to stderr so far.
func (c *Client) Stderr() string { return c.stderr.String() }

// Skip marks every line printed so far as consumed, so the next WaitLine
// only sees newer lines.
func (c *Client) Skip() {
	c.mu.Lock()
	c.next = len(c.lines)
	c.mu.Unlock()
}

// WaitLine waits up to timeout for a line, not yet consumed, for which match
// is true, consumes every line up to and including it and returns it. The
// test fails on timeout or when the client exits first.
func (c *Client) WaitLine(t testing.TB, timeout time.Duration, match func(string) bool) string {
	t.Helper()
	line, err := c.waitLine(timeout, match)
	if err != nil {
		t.Fatalf("%v\nlines: %q\nstderr: %s", err, c.Lines(), c.Stderr())
	}
	return line
}

// WaitPrefix is WaitLine for the first line starting with prefix.
func (c *Client) WaitPrefix(t testing.TB, timeout time.Duration, prefix string) string {
	t.Helper()
	return c.WaitLine(t, timeout, func(l string) bool { return strings.HasPrefix(l, prefix) })
}

func (c *Client) waitLine(timeout time.Duration, match func(string) bool) (string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for i := c.next; i < len(c.lines); i++ {
			if match(c.lines[i]) {
				c.next = i + 1
				l := c.lines[i]
				c.mu.Unlock()
				return l, nil
			}
		}
		eof, notify := c.eof, c.notify
		c.mu.Unlock()
		if eof {
			return "", errors.New("xtest: client exited before printing the expected line")
		}
		select {
		case <-notify:
		case <-deadline.C:
			return "", fmt.Errorf("xtest: no matching line within %s", timeout)
		}
	}
}

// Send writes a line to the client's stdin (a wish script can read commands
// with fileevent stdin).
func (c *Client) Send(line string) error {
	_, err := io.WriteString(c.stdin, line+"\n")
	return err
}
