//go:build linux

package e2e

// A virtual X display for the endpoint, a Tk test client on it, and
// xdotool for answering prompts with real key events. (agent/internal/xtest
// is internal to agent/ and so cannot be imported from here.)

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
)

// Screen size of the endpoint display.
const (
	displayW = 1280
	displayH = 720
)

// startXvfb starts Xvfb on a free display number (Xvfb picks it and writes
// it to -displayfd) and returns the DISPLAY value, ":N".
func startXvfb(t testing.TB) string {
	t.Helper()
	for _, bin := range []string{"Xvfb", "wish", "xdotool", "zenity"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not installed (scripts/deps.sh installs it): %v", bin, err)
		}
	}
	p, display, err := testenv.StartXvfb(context.Background(), displayW, displayH, 24, startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	trackProc(t, p)
	return display
}

// clientScript is a Tk client covering the whole display: a canvas with
// rectangles in known colours (tags q1..q4 and mark), recording pointer and
// key events on stdout, and running Tcl commands read from stdin:
//
//	motion X Y | press B X Y | release B X Y | key KEYSYM CODEPOINTS | done ID STATUS
//
// Key code points are the decimal code points of %A joined by commas, so any
// script survives the pipe.
const clientScript = `
fconfigure stdout -encoding utf-8 -buffering line
fconfigure stdin -encoding utf-8 -blocking 0
wm overrideredirect . 1
wm geometry . 1280x720+0+0
canvas .c -width 1280 -height 720 -highlightthickness 0 -borderwidth 0 -background #202020
pack .c
.c create rectangle 0 0 640 360 -fill #e02020 -outline "" -tags q1
.c create rectangle 640 0 1280 360 -fill #20c020 -outline "" -tags q2
.c create rectangle 0 360 640 720 -fill #2040e0 -outline "" -tags q3
.c create rectangle 640 360 1280 720 -fill #f0d000 -outline "" -tags q4
.c create oval 560 40 720 200 -fill #ffffff -outline "" -tags mark
proc cps {s} { set out {}; foreach ch [split $s ""] { lappend out [scan $ch %c] }; return [join $out ,] }
bind .c <ButtonPress> {puts "press %b %x %y"}
bind .c <ButtonRelease> {puts "release %b %x %y"}
bind .c <Motion> {puts "motion %x %y"}
bind .c <KeyPress> {puts "key %K [cps %A]"}
proc cmd {} {
	if {[gets stdin line] < 0} { if {[eof stdin]} { exit 0 }; return }
	set id [lindex $line 0]
	set r [catch {uplevel #0 [lrange $line 1 end]} res]
	update
	puts "done $id $r"
}
update
focus -force .c
puts ready
fileevent stdin readable cmd
`

// Colours of clientScript's shapes, and points inside them (monitor pixels)
// away from every edge.
var clientShapes = []pixelWant{
	{"q1 red", 160, 120, [3]int{0xe0, 0x20, 0x20}},
	{"q2 green", 1120, 120, [3]int{0x20, 0xc0, 0x20}},
	{"q3 blue", 160, 600, [3]int{0x20, 0x40, 0xe0}},
	{"q4 yellow", 1120, 600, [3]int{0xf0, 0xd0, 0x00}},
	{"mark white", 640, 120, [3]int{0xff, 0xff, 0xff}}, // clear of the session notice at the centre
}

// wishClient is a running clientScript.
type wishClient struct {
	t     testing.TB
	proc  *proc
	stdin io.WriteCloser
	mu    sync.Mutex
	cmds  int
}

// startWish runs clientScript on display and waits until it is mapped and
// has the keyboard focus.
func startWish(t testing.TB, display string) *wishClient {
	t.Helper()
	script := filepath.Join(t.TempDir(), "client.tcl")
	if err := os.WriteFile(script, []byte(clientScript), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("wish", script)
	cmd.Env = append(childEnv(), "DISPLAY="+display)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	w := &wishClient{t: t, stdin: stdin}
	w.proc = startCmd(t, "wish client", cmd)
	t.Cleanup(func() { stdin.Close() })
	w.waitLine(startTimeout, "the Tk client to be ready", func(l string) bool { return l == "ready" })
	return w
}

// eval runs Tcl in the client and waits until it has been applied.
func (w *wishClient) eval(tcl string) {
	w.t.Helper()
	w.mu.Lock()
	w.cmds++
	id := strconv.Itoa(w.cmds)
	w.mu.Unlock()
	if _, err := fmt.Fprintf(w.stdin, "%s %s\n", id, tcl); err != nil {
		w.t.Fatalf("Tk client: %v", err)
	}
	w.waitLine(startTimeout, "the Tk client to run "+tcl, func(l string) bool {
		if l == "done "+id+" 1" {
			w.t.Fatalf("Tk client failed to run %s", tcl)
		}
		return l == "done "+id+" 0"
	})
}

// waitLine waits for a line of the client's stdout that match accepts and
// returns it.
func (w *wishClient) waitLine(timeout time.Duration, what string, match func(string) bool) string {
	w.t.Helper()
	var found string
	testenv.Eventually(w.t, timeout, what, func() (bool, error) {
		if w.proc.Exited() {
			w.t.Fatalf("Tk client exited while waiting for %s; stderr:\n%s", what, w.proc.stderr)
		}
		for _, l := range w.proc.stdout.Lines() {
			if match(l) {
				found = l
				return true, nil
			}
		}
		return false, nil
	})
	return found
}

// lines returns the client's output so far.
func (w *wishClient) lines() []string { return w.proc.stdout.Lines() }

// event is one recorded pointer line.
type event struct {
	kind    string // motion, press, release
	button  int
	x, y    int
	keysym  string
	codepts []rune
}

func parseEvent(l string) (event, bool) {
	f := strings.Fields(l)
	if len(f) == 0 {
		return event{}, false
	}
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	switch {
	case f[0] == "motion" && len(f) == 3:
		return event{kind: "motion", x: atoi(f[1]), y: atoi(f[2])}, true
	case (f[0] == "press" || f[0] == "release") && len(f) == 4:
		return event{kind: f[0], button: atoi(f[1]), x: atoi(f[2]), y: atoi(f[3])}, true
	case f[0] == "key" && len(f) >= 2:
		e := event{kind: "key", keysym: f[1]}
		if len(f) == 3 {
			for _, c := range strings.Split(f[2], ",") {
				e.codepts = append(e.codepts, rune(atoi(c)))
			}
		}
		return e, true
	}
	return event{}, false
}

// events parses the client's recorded lines.
func (w *wishClient) events() []event {
	var out []event
	for _, l := range w.lines() {
		if e, ok := parseEvent(l); ok {
			out = append(out, e)
		}
	}
	return out
}

// typed is the text the client received as key presses, in order.
func (w *wishClient) typed() string {
	var b strings.Builder
	for _, e := range w.events() {
		if e.kind == "key" {
			b.WriteString(string(e.codepts))
		}
	}
	return b.String()
}

// xdotool runs xdotool on display with a deadline and returns its output.
func xdotool(t testing.TB, display string, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "xdotool", args...)
	cmd.Env = append(childEnv(), "DISPLAY="+display)
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// promptTitle is the attended prompt's window title on the endpoint.
const promptTitle = "Tether remote support"

// waitPrompt waits for the attended prompt's window and returns its id.
//
// xdotool's own --sync gives up (exit 1) when a window vanishes while it
// walks the tree, as the previous prompt's may; so search again until the
// deadline.
func waitPrompt(t testing.TB, display string, timeout time.Duration) string {
	t.Helper()
	return waitWindowNamed(t, display, promptTitle, timeout)
}

// waitWindowNamed waits for a window named title on display and returns
// its id.
func waitWindowNamed(t testing.TB, display, title string, timeout time.Duration) string {
	t.Helper()
	var win string
	testenv.Eventually(t, timeout, fmt.Sprintf("a window named %q on %s", title, display), func() (bool, error) {
		out, err := xdotool(t, display, 10*time.Second, "search", "--name", title)
		if err != nil || out == "" {
			return false, fmt.Errorf("xdotool search: %v", err)
		}
		win = strings.Fields(out)[0]
		return true, nil
	})
	return win
}

// windowNamed reports whether a window named title is on display now.
func windowNamed(t testing.TB, display, title string) bool {
	out, err := xdotool(t, display, 10*time.Second, "search", "--name", title)
	return err == nil && strings.TrimSpace(out) != ""
}

// noWindowNamed waits until no window named title is on display.
func noWindowNamed(t testing.TB, display, title string, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, fmt.Sprintf("no window named %q", title), func() (bool, error) {
		return !windowNamed(t, display, title), nil
	})
}

// promptShown reports whether a prompt window exists now.
func promptShown(t testing.TB, display string) bool { return windowNamed(t, display, promptTitle) }

// answerPrompt focuses the prompt and presses key there with XTEST, as a
// user would (Return accepts, Escape declines).
//
// A window found a moment ago may be gone (an earlier dialog closing under
// the same title): then the prompt is looked up again.
func answerPrompt(t testing.TB, display, win, key string) {
	t.Helper()
	// Look the window up again by its own name: the acceptance prompt's,
	// or the mode question's.
	title := promptTitle
	if name, err := xdotool(t, display, 10*time.Second, "getwindowname", win); err == nil && strings.TrimSpace(name) != "" {
		title = strings.TrimSpace(name)
	}
	for try := 1; ; try++ {
		out, err := xdotool(t, display, 10*time.Second, "windowfocus", "--sync", win)
		if err == nil {
			break
		}
		if try == 3 {
			t.Fatalf("xdotool windowfocus %s: %v %s", win, err, out)
		}
		win = waitWindowNamed(t, display, title, 10*time.Second)
	}
	// A dialog that has just mapped can miss a key sent at once (GTK may
	// not be listening yet, or focus may not have landed): send the key
	// again until the dialog closes.
	for try := 1; ; try++ {
		if out, err := xdotool(t, display, 10*time.Second, "key", key); err != nil {
			t.Fatalf("xdotool key %s: %v %s", key, err, out)
		}
		err := testenv.Poll(context.Background(), 3*time.Second, func() (bool, error) {
			_, err := xdotool(t, display, 10*time.Second, "getwindowname", win)
			return err != nil, nil // gone
		})
		if err == nil {
			return
		}
		if try == 5 {
			t.Fatalf("the dialog %s is still open after %s was sent %d times", win, key, try)
		}
		if _, err := xdotool(t, display, 10*time.Second, "windowfocus", "--sync", win); err != nil {
			return // it closed meanwhile
		}
	}
}
