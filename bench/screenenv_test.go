//go:build linux

package bench

// The screen-share benchmark's environment: an Xvfb display, a Tk
// "terminal" on it, the real tether-agent with DISPLAY set, headless
// Chromium, and /proc accounting for all of them. What it shares with the
// e2e tests (processes, Xvfb, Chromium's flags) is in internal/testenv.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/protocol"
)

// childEnv is this process's environment without TETHER_* settings, which
// would override the flags the benchmark passes.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TETHER_") && !strings.HasPrefix(kv, "DISPLAY=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// ---- the terminal look-alike ----

// terminalScript is a Tk client covering the whole display with a text
// widget in a monospace font, white on black: a terminal without a
// terminal emulator (Debian's xterm is not among the benchmark's
// packages). It also has a window to drag around. It reads commands on
// stdin and answers on stdout:
//
//	fill            fill the screen with lines, no scrolling → "filled N"
//	scroll RATE     append RATE lines per second, always showing the end
//	type RATE       type RATE characters per second at a prompt on the
//	                last line, with a block cursor; a line of 96
//	                characters is wiped (as Ctrl-U does) and typing goes on
//	drag RATE       show a 560x380 window and move it RATE times per
//	                second by 10 pixels, left and right across the screen
//	                along a gentle wave (a window dragged with the mouse)
//	stop            stop whatever runs → "stopped N MS" (steps done, ms)
//
// Steps run on a fixed schedule (step k at start + k/RATE s), not with a
// fixed delay, so the rate holds when a redraw takes long; if Tk falls
// behind it catches up in bursts (a dragged window jumps to where it
// should be) and the achieved rate still counts every step. Old lines are
// trimmed so the widget stays small.
const terminalScript = `
fconfigure stdout -buffering line
fconfigure stdin -blocking 0
wm overrideredirect . 1
wm geometry . %[1]dx%[2]d+0+0
text .t -font {{DejaVu Sans Mono} 10} -background #101010 -foreground #d0d0d0 \
	-borderwidth 0 -highlightthickness 0 -padx 4 -pady 2 -wrap none -insertwidth 0 \
	-width 400 -height 200
.t tag configure cursor -background #d0d0d0 -foreground #101010
.t tag configure prompt -foreground #6fd66f
place .t -x 0 -y 0 -width %[1]d -height %[2]d
set n 0
set total 0
set mode ""
set methods {GET POST PUT GET GET DELETE GET POST}
set paths {/api/v1/endpoints /api/v1/sessions /api/agent/v1/poll /static/view.js /api/v1/actions /metrics /readyz /api/v1/users}
set typetext {sudo journalctl -u tether-agent --since "10 min ago" | grep -i -E "session|capture" | tail -n 40 && systemctl status tether-agent }
set typed 0

# The window to drag: a file manager look-alike.
toplevel .w -background #d8d8d8 -borderwidth 1 -relief solid
wm overrideredirect .w 1
wm withdraw .w
frame .w.title -background #2a5db0 -height 28
label .w.title.l -text "Files \u2014 /home/ops/projects/tether" -background #2a5db0 -foreground white \
	-font {{DejaVu Sans} 10 bold} -anchor w
pack .w.title.l -fill x -padx 8 -pady 4
pack .w.title -fill x
listbox .w.list -font {{DejaVu Sans} 10} -background white -borderwidth 0 -highlightthickness 0 -height 14
foreach f {agent bench docs e2e installer internal scripts server shared testdata go.mod go.sum Makefile README.md LICENSE .gitignore} {
	.w.list insert end "  $f"
}
.w.list itemconfigure 3 -background #cfe0ff
pack .w.list -side left -fill both -expand 1 -padx {6 0} -pady 6
text .w.info -font {{DejaVu Sans} 9} -background #f4f4f4 -borderwidth 0 -width 28 -wrap word
.w.info insert end "e2e\n\nFolder, 14 items\nModified today 09:41\n\nTests that start the real binaries together: server, agent on a virtual display, a real browser."
pack .w.info -side right -fill y -padx 6 -pady 6

proc line {k} {
	global methods paths
	set h [expr {($k * 2654435761) %% 4294967296}]
	set m [lindex $methods [expr {$h %% 8}]]
	set p [lindex $paths [expr {($h >> 3) %% 8}]]
	set st [lindex {200 200 200 204 201 304 404 500} [expr {($h >> 6) %% 8}]]
	set tail [string repeat "=" [expr {($h >> 9) %% 60}]]
	return [format "%%08d %%s.%%03d worker-%%02d %%-6s %%-22s %%3d %%7d B %%8.3f ms trace=%%08x %%s" \
		$k [clock format [expr {1700000000 + $k / 30}] -format %%H:%%M:%%S -gmt 1] [expr {($k * 33) %% 1000}] \
		[expr {$h %% 16}] $m $p $st [expr {$h %% 99991}] [expr {($h %% 50000) / 1000.0}] $h $tail]
}
proc addline {} {
	global total
	incr total
	.t insert end "[line $total]\n"
	if {$total %% 2000 == 0} { .t delete 1.0 1001.0 }
}
# typechar types the next character before the block cursor.
proc typechar {} {
	global typed typetext
	set c [string index $typetext [expr {$typed %% [string length $typetext]}]]
	incr typed
	if {[string length [.t get pstart cursor.first]] >= 96} { .t delete pstart cursor.first }
	.t insert cursor.first $c
}
proc dragpos {k} {
	set span 1240
	set d [expr {($k * 10) %% (2 * $span)}]
	if {$d > $span} { set d [expr {2 * $span - $d}] }
	set x [expr {40 + $d}]
	set y [expr {int(300 + 140 * sin($k / 40.0))}]
	return "+$x+$y"
}
proc step {} {
	global mode n
	switch -- $mode {
		scroll { addline }
		type { typechar }
	}
	incr n
}
proc tick {} {
	global mode t0 rate n
	if {$mode eq ""} return
	set now [clock milliseconds]
	set due [expr {($now - $t0) * $rate / 1000}]
	if {$mode eq "drag"} {
		if {$n < $due} { set n $due; wm geometry .w [dragpos $n] }
	} else {
		while {$n < $due} { step }
	}
	if {$mode eq "scroll"} { .t see end }
	set next [expr {$t0 + (($n + 1) * 1000 + $rate - 1) / $rate}]
	after [expr {max(1, $next - [clock milliseconds])}] tick
}
proc begin {m r} {
	global mode t0 rate n
	set rate $r
	set n 0
	set t0 [clock milliseconds]
	set mode $m
	tick
	puts "started $m $rate"
}
proc cmd {} {
	global mode t0 rate n
	if {[gets stdin line] < 0} { if {[eof stdin]} { exit 0 }; return }
	switch -- [lindex $line 0] {
		fill {
			for {set i 0} {$i < 90} {incr i} { addline }
			.t see end
			update
			puts "filled 90"
		}
		scroll { begin scroll [lindex $line 1] }
		type {
			if {[lsearch [.t mark names] pstart] < 0} {
				.t insert end "ops@endpoint-01:~\$ " prompt
				.t mark set pstart "end - 1 char"
				.t mark gravity pstart left
				.t insert end " " cursor
			}
			.t see end
			begin type [lindex $line 1]
		}
		drag {
			wm geometry .w 560x380[dragpos 0]
			wm deiconify .w
			raise .w
			update
			begin drag [lindex $line 1]
		}
		stop {
			set was $mode
			set mode ""
			if {$was eq "drag"} { wm withdraw .w }
			if {$was eq "type"} {
				# Enter: the prompt line ends, the next workload starts below it.
				.t delete cursor.first
				.t insert end "\n"
				.t mark unset pstart
				.t see end
			}
			update
			puts "stopped $n [expr {[clock milliseconds] - $t0}]"
		}
		default { puts "error unknown command $line" }
	}
}
update
puts ready
fileevent stdin readable cmd
`

// terminal is the running terminalScript.
type terminal struct {
	proc  *testenv.Proc
	stdin io.WriteCloser
	out   *testenv.Lines
}

func startTerminal(display string, w, h int) (*terminal, error) {
	script := filepath.Join(os.TempDir(), fmt.Sprintf("tether-bench-terminal-%d.tcl", os.Getpid()))
	if err := os.WriteFile(script, fmt.Appendf(nil, terminalScript, w, h), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command("wish", script)
	cmd.Env = childEnv("DISPLAY=" + display)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	t := &terminal{stdin: stdin}
	if t.proc, err = testenv.Start("terminal (wish)", cmd); err != nil {
		return nil, err
	}
	t.out = t.proc.Stdout
	if _, err := t.wait("ready", 30*time.Second); err != nil {
		t.close()
		return nil, fmt.Errorf("%w; stderr: %s", err, t.proc.Stderr.String())
	}
	return t, nil
}

// do sends a command and waits for the answer line starting with want.
func (t *terminal) do(command, want string) (string, error) {
	n := len(t.out.Complete())
	if _, err := fmt.Fprintln(t.stdin, command); err != nil {
		return "", fmt.Errorf("terminal: %w", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ls := t.out.Complete()
		for _, l := range ls[min(n, len(ls)):] {
			if strings.HasPrefix(l, want) {
				return l, nil
			}
			if strings.HasPrefix(l, "error") {
				return "", fmt.Errorf("terminal: %s", l)
			}
		}
		if t.proc.Exited() {
			return "", errors.New("terminal exited")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "", fmt.Errorf("terminal did not answer %q to %q within 20s", want, command)
}

func (t *terminal) wait(want string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, l := range t.out.Complete() {
			if strings.HasPrefix(l, want) {
				return l, nil
			}
		}
		if t.proc.Exited() {
			return "", errors.New("terminal exited")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", fmt.Errorf("terminal printed no %q within %s", want, timeout)
}

func (t *terminal) close() {
	t.stdin.Close()
	t.proc.Stop(2 * time.Second)
}

// termWorkload is one of the terminal script's scheduled activities:
// scrolling lines, typing characters or dragging its window, at a fixed
// number of steps per second.
type termWorkload struct {
	term *terminal
	name string // workload name in the results
	cmd  string // terminalScript command: scroll, type, drag
	unit string // what a step is
	rate int    // steps per second
}

func (w *termWorkload) Name() string { return w.name }

// Rate is what the workload asked for, in units per second.
func (w *termWorkload) Rate() float64 { return float64(w.rate) }

func (w *termWorkload) Start() error {
	_, err := w.term.do(fmt.Sprintf("%s %d", w.cmd, w.rate), "started")
	return err
}

func (w *termWorkload) Stop() (workloadStats, error) {
	l, err := w.term.do("stop", "stopped")
	if err != nil {
		return workloadStats{}, err
	}
	var n, msec int
	if _, err := fmt.Sscanf(l, "stopped %d %d", &n, &msec); err != nil || msec <= 0 {
		return workloadStats{}, fmt.Errorf("terminal answered %q", l)
	}
	return workloadStats{Units: n, Seconds: float64(msec) / 1000, Unit: w.unit}, nil
}

// idleWorkload leaves the desktop alone (the terminal full of text).
type idleWorkload struct{ began time.Time }

func (w *idleWorkload) Name() string  { return "idle" }
func (w *idleWorkload) Rate() float64 { return 0 }
func (w *idleWorkload) Start() error  { w.began = time.Now(); return nil }
func (w *idleWorkload) Stop() (workloadStats, error) {
	return workloadStats{Unit: "nothing", Seconds: time.Since(w.began).Seconds()}, nil
}

// screenWorkload is something happening on the endpoint display while
// the viewer is measured.
type screenWorkload interface {
	Name() string
	// Rate is the units per second the workload aims at (0: none).
	Rate() float64
	Start() error
	// Stop ends the workload and says how much of it was done.
	Stop() (workloadStats, error)
}

type workloadStats struct {
	Unit    string  `json:"unit"`
	Units   int     `json:"units"`   // e.g. lines appended from Start to Stop
	Seconds float64 `json:"seconds"` // from Start to Stop, by the workload's clock
}

// ---- the agent ----

// agentProc is `tether-agent run` with DISPLAY set, logging JSON to a file.
type agentProc struct {
	proc    *testenv.Proc
	logPath string
	logFile *os.File
}

func startAgent(bin, serverURL, token, stateDir, logPath string, env ...string) (*agentProc, error) {
	conf := filepath.Join(stateDir, "agent.yaml") // an empty config of its own keeps /etc/tether out
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		return nil, err
	}
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := []string{"run", "--config", conf, "--server", serverURL, "--token", token,
		"--state", stateDir, "--log-format", "json", "--log-level", "info"}
	cmd := exec.Command(bin, args...)
	if os.Geteuid() == 0 {
		// As root the agent's helper socket is the fixed
		// /run/tether-agent/helper.sock, which an e2e test's agent may be
		// using at the same time: a private mount namespace with its own
		// /run/tether-agent keeps them apart (unshare execs sh, sh execs
		// the agent: same pid).
		if exec.Command("unshare", "--mount", "true").Run() == nil {
			cmd = exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c",
				`(mkdir -p /run/tether-agent && mount -t tmpfs -o mode=0755 tmpfs /run/tether-agent) 2>/dev/null; exec "$0" "$@"`, bin}, args...)...)
		}
	}
	cmd.Env = childEnv(env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	p, err := testenv.Start("tether-agent", cmd)
	if err != nil {
		lf.Close()
		return nil, err
	}
	return &agentProc{proc: p, logPath: logPath, logFile: lf}, nil
}

// logRecord is one JSON log line of the agent or its helper (the helper's
// stderr goes to the service's).
type logRecord struct {
	Time      time.Time `json:"time"`
	Level     string    `json:"level"`
	Msg       string    `json:"msg"`
	SessionID string    `json:"session_id"`
	State     string    `json:"state"`
	Reason    string    `json:"reason"`
	PID       int       `json:"pid"`
	Component string    `json:"component"`
}

func (a *agentProc) records() []logRecord {
	b, err := os.ReadFile(a.logPath)
	if err != nil {
		return nil
	}
	var out []logRecord
	for _, l := range bytes.Split(b, []byte("\n")) {
		var r logRecord
		if len(l) > 0 && l[0] == '{' && json.Unmarshal(l, &r) == nil {
			out = append(out, r)
		}
	}
	return out
}

// find returns the first record matching cond.
func (a *agentProc) find(cond func(logRecord) bool) (logRecord, bool) {
	for _, r := range a.records() {
		if cond(r) {
			return r, true
		}
	}
	return logRecord{}, false
}

// waitRecord waits until a record matches cond.
func (a *agentProc) waitRecord(ctx context.Context, timeout time.Duration, what string, cond func(logRecord) bool) (logRecord, error) {
	var rec logRecord
	err := testenv.Poll(ctx, timeout, testenv.Until(func() bool {
		var ok bool
		rec, ok = a.find(cond)
		return ok || a.proc.Exited()
	}))
	if a.proc.Exited() {
		return rec, fmt.Errorf("the agent exited (%v) while waiting for %s; log:\n%s", a.proc.State(), what, tailFile(a.logPath, 4096))
	}
	if err != nil {
		return rec, fmt.Errorf("the agent did not log %s within %s; log:\n%s", what, timeout, tailFile(a.logPath, 4096))
	}
	return rec, nil
}

func (a *agentProc) stop() bool {
	clean := a.proc.Stop(15 * time.Second)
	a.logFile.Close()
	return clean
}

// ---- /proc ----

// procEntry is one process of the machine.
type procEntry struct {
	pid, ppid int
	comm      string
}

// listProcs reads pid, parent and command name of every process.
func listProcs() []procEntry {
	ents, _ := os.ReadDir("/proc")
	var out []procEntry
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readProcStat(filepath.Join("/proc", e.Name(), "stat"), 2)
		if err != nil {
			continue
		}
		ppid, _ := strconv.Atoi(st.f[1])
		out = append(out, procEntry{pid: pid, ppid: ppid, comm: st.comm})
	}
	return out
}

// descendants returns root and every process below it.
func descendants(all []procEntry, root int) []int {
	out := []int{root}
	for i := 0; i < len(out); i++ {
		for _, p := range all {
			if p.ppid == out[i] {
				out = append(out, p.pid)
			}
		}
	}
	return out
}

// children returns the direct children of pid.
func children(all []procEntry, pid int) []procEntry {
	var out []procEntry
	for _, p := range all {
		if p.ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

// cpuParty is a named set of processes whose CPU is accounted together.
type cpuParty struct {
	Name string `json:"name"`
	PIDs []int  `json:"pids"`
}

// partyTicks is utime+stime of each party's processes, in clock ticks. A
// process gone since the set was made counts 0 (its time is lost).
func partyTicks(ps []cpuParty) []int64 {
	out := make([]int64, len(ps))
	for i, p := range ps {
		for _, pid := range p.PIDs {
			if t, err := procCPU(pid); err == nil {
				out[i] += t
			}
		}
	}
	return out
}

// cpuWindow is CPU use by party over a window, % of one core.
type cpuWindow struct {
	Seconds float64            `json:"seconds"`
	Percent map[string]float64 `json:"percent_of_one_core"`
	// Other is everything on the machine not in a party.
	Other float64 `json:"other_percent"`
	// MachineBusy is all cores together (200 = two cores busy).
	MachineBusy float64 `json:"machine_busy_percent"`
}

type cpuSnap struct {
	at      time.Time
	ticks   []int64
	machine int64
}

func snapCPU(ps []cpuParty) cpuSnap {
	m, _ := machineCPU()
	return cpuSnap{at: time.Now(), ticks: partyTicks(ps), machine: m}
}

func cpuOver(ps []cpuParty, a, b cpuSnap) cpuWindow {
	sec := b.at.Sub(a.at).Seconds()
	pc := func(t int64) float64 { return round1(float64(t) / userHZ / sec * 100) }
	w := cpuWindow{Seconds: round1(sec), Percent: map[string]float64{}}
	var sum int64
	for i, p := range ps {
		d := b.ticks[i] - a.ticks[i]
		w.Percent[p.Name] = pc(d)
		sum += d
	}
	w.MachineBusy = pc(b.machine - a.machine)
	w.Other = pc(max(0, b.machine-a.machine-sum))
	return w
}

// resetPeakRSS resets VmHWM of pid to its current RSS (Linux 4.0+,
// clear_refs value 5); it needs the right to write the process's
// clear_refs (root, or the same user).
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0o200)
}

// ---- the browser ----

// browserProc is one headless Chromium with a fresh profile.
type browserProc struct {
	ctx     context.Context
	cancel  func()
	version string
}

func startBrowser(w, h int, profile string) (*browserProc, error) {
	if _, err := os.Stat(testenv.ChromiumPath); err != nil {
		return nil, fmt.Errorf("chromium is not installed at %s: %w", testenv.ChromiumPath, err)
	}
	opts := testenv.ChromiumAllocatorOptions(profile, w, h)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &browserProc{ctx: ctx, cancel: func() { cancel(); cancelAlloc() }}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.cancel()
		return nil, fmt.Errorf("starting chromium: %w", err)
	}
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	if v, err := chromedp.CallBrowser(cctx, browser.GetVersion, cdp.Empty{}); err == nil {
		b.version = v.Product
	}
	// The probe runs in every page before the page's own scripts.
	if _, err := chromedp.Call(cctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: viewerProbe()}); err != nil {
		b.cancel()
		return nil, fmt.Errorf("installing the viewer probe: %w", err)
	}
	// chromedp turns on the Network domain, which makes the browser send
	// every WebSocket frame (base64) to this process: noVNC's whole
	// stream would cross DevTools too, loading the browser and loopback
	// for the peer only. Nothing here needs network events.
	if _, err := chromedp.Call(cctx, network.Disable, cdp.Empty{}); err != nil {
		b.cancel()
		return nil, fmt.Errorf("turning off DevTools network events: %w", err)
	}
	return b, nil
}

// pid is the browser process; its renderers and GPU/utility processes are
// its descendants.
func (b *browserProc) pid() int {
	if c := chromedp.FromContext(b.ctx); c != nil && c.Browser != nil {
		if p := c.Browser.Process(); p != nil {
			return p.Pid
		}
	}
	return 0
}

func (b *browserProc) do(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		return fmt.Errorf("browser: %s: %w", what, err)
	}
	return nil
}

func evalJS[T any](b *browserProc, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// signIn signs in through the console's page, as a technician does.
func (b *browserProc) signIn(base, name, password string) error {
	return b.do("sign in as "+name, 60*time.Second, testenv.SignIn(base, name, password)...)
}

// viewerProbe is injected into every page before its scripts
// (Page.addScriptToEvaluateOnNewDocument): the Tether viewer and the
// benchmark's noVNC page alike. It changes nothing a viewer does; it only
// watches, with wall-clock timestamps (performance.timeOrigin +
// performance.now(), epoch ms, comparable with the benchmark's clock):
//
//   - frames: tb.frame() stamps a frame the viewer has finished drawing.
//     For Tether, window.tetherStats (view.js assigns it once) gets its
//     `frames` counter turned into an accessor that calls it (view.js
//     increments it after the frame's last tile is on the canvas); the
//     noVNC page calls it itself (peerPage);
//   - WebSocket: a subclass counts the relay's screen frames (channel 1)
//     the same way, for Tether on the WebSocket relay;
//   - RTCPeerConnection: a subclass records each connection (for
//     getStats()), when it reached "connected", and adds a listener to the
//     "screen" data channel that counts messages and payload bytes, in
//     total and per 100 ms of the page clock (tb.message; the noVNC page
//     counts its WebSocket messages the same way);
//   - the marker: canvas 2D contexts are noted as the page makes them
//     (a wrapper of getContext that passes every call through), and a
//     sampler reads the centre pixel of each marker square from the
//     largest canvas in the document — the picture the viewer shows, at
//     full resolution whatever its CSS scaling — with getImageData on the
//     viewer's own context, after every task the timer loop gets (about
//     every 4 ms, Chromium's clamp for nested timers) and at every
//     animation frame. When the squares show a new combination of palette
//     colours it records [time, code]. The same code runs in both pages.
//
// Everything is read back afterwards: while the page is busy, an evaluate
// from the benchmark waits behind the page's queued tasks.
func viewerProbe() string {
	var pal []string
	for _, c := range markerPalette {
		pal = append(pal, fmt.Sprintf("[%d,%d,%d]", c[0], c[1], c[2]))
	}
	return strings.NewReplacer(
		"__MX__", strconv.Itoa(markerX+markerCell/2), "__MY__", strconv.Itoa(markerY+markerCell/2),
		"__CELL__", strconv.Itoa(markerCell), "__CELLS__", strconv.Itoa(markerCells),
		"__TOL__", strconv.Itoa(markerTolerance), "__PALETTE__", "["+strings.Join(pal, ",")+"]",
	).Replace(viewerProbeJS)
}

const viewerProbeJS = `(() => {
  if (window.__tb) return;
  const now = () => performance.timeOrigin + performance.now();
  const tb = window.__tb = {
    now, loadedAt: now(), connectedAt: 0, firstMessageAt: 0, firstFrameAt: 0,
    firstFrameBytes: 0, firstFrameMsgs: 0, screenBytes: 0, screenMsgs: 0,
    frameTimes: [], pcs: [], buckets: {},
    marks: [], samples: 0, sampleErrors: 0, sampleFirst: 0, sampleLast: 0, sampleCanvas: "",
  };
  tb.frame = () => {
    const t = now();
    if (!tb.firstFrameAt) { tb.firstFrameAt = t; tb.firstFrameBytes = tb.screenBytes; tb.firstFrameMsgs = tb.screenMsgs; }
    if (tb.frameTimes.length < 200000) tb.frameTimes.push(t);
  };
  tb.message = (n) => {
    const t = now();
    if (!tb.firstMessageAt) tb.firstMessageAt = t;
    tb.screenMsgs++;
    tb.screenBytes += n;
    const k = Math.floor(t / 100);
    const b = tb.buckets[k] || (tb.buckets[k] = [0, 0]);
    b[0]++;
    b[1] += n;
  };

  // ---- frames drawn by the Tether viewer ----
  let statsObj;
  Object.defineProperty(window, "tetherStats", {
    configurable: true, enumerable: true,
    get() { return statsObj; },
    set(o) {
      statsObj = o;
      if (!o || typeof o !== "object") return;
      let frames = o.frames || 0;
      Object.defineProperty(o, "frames", {
        configurable: true, enumerable: true,
        get() { return frames; },
        set(v) { frames = v; tb.frame(); },
      });
    },
  });

  // ---- the marker sampler ----
  const ctxs = [];
  const getContext = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
    const c = getContext.call(this, type, ...rest);
    if (c && type === "2d" && !ctxs.some((x) => x.ctx === c)) ctxs.push({ canvas: this, ctx: c });
    return c;
  };
  const MX = __MX__, MY = __MY__, CELL = __CELL__, CELLS = __CELLS__, TOL = __TOL__, PAL = __PALETTE__;
  const SPAN = (CELLS - 1) * CELL + 1;
  let target = null, last = -2, lastW = 0, lastH = 0;
  const pick = () => {
    let best = null;
    for (const x of ctxs) {
      if (!x.canvas.isConnected) continue;
      if (!best || x.canvas.width * x.canvas.height > best.canvas.width * best.canvas.height) best = x;
    }
    return best;
  };
  const match = (d, o) => {
    for (let i = 0; i < PAL.length; i++) {
      const p = PAL[i];
      if (Math.abs(d[o] - p[0]) <= TOL && Math.abs(d[o + 1] - p[1]) <= TOL && Math.abs(d[o + 2] - p[2]) <= TOL) return i;
    }
    return -1;
  };
  const sample = () => {
    const t = pick();
    if (t !== target || (t && (t.canvas.width !== lastW || t.canvas.height !== lastH))) {
      target = t;
      if (t) {
        const where = t.canvas.id ? "#" + t.canvas.id : "canvas in #" + ((t.canvas.closest("[id]") || {}).id || "?");
        lastW = t.canvas.width; lastH = t.canvas.height;
        tb.sampleCanvas = where + " " + lastW + "x" + lastH;
      }
    }
    if (!t || t.canvas.width < MX + SPAN || t.canvas.height <= MY) return;
    let d;
    try { d = t.ctx.getImageData(MX, MY, SPAN, 1).data; } catch (e) { tb.sampleErrors++; return; }
    const ts = now();
    tb.samples++;
    if (!tb.sampleFirst) tb.sampleFirst = ts;
    tb.sampleLast = ts;
    let code = 0;
    for (let i = CELLS - 1; i >= 0; i--) {
      const m = match(d, i * CELL * 4);
      if (m < 0) { code = -1; break; }
      code = code * PAL.length + m;
    }
    if (code !== last) {
      last = code;
      if (code >= 0 && tb.marks.length < 100000) tb.marks.push([ts, code]);
    }
  };
  const timerLoop = () => { sample(); setTimeout(timerLoop, 0); };
  const frameLoop = () => { sample(); requestAnimationFrame(frameLoop); };
  setTimeout(timerLoop, 0);
  requestAnimationFrame(frameLoop);

  // ---- the Tether viewer's WebSocket relay ----
  // Relay frames are [channel][flags][payload]; channel 1 is the screen.
  // Tether's page only: the noVNC page counts its own messages.
  const OrigWS = window.WebSocket;
  if (location.pathname.startsWith("/view/")) window.WebSocket = class ProbedWS extends OrigWS {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (ev) => {
        const d = ev.data;
        if (d instanceof ArrayBuffer && d.byteLength >= 2 && new Uint8Array(d, 0, 1)[0] === 1) tb.message(d.byteLength - 2);
      });
    }
  };

  // ---- the Tether viewer's WebRTC ----
  const Orig = window.RTCPeerConnection;
  if (!Orig) return;
  class ProbedPC extends Orig {
    constructor(...args) {
      super(...args);
      tb.pcs.push(this);
      this.addEventListener("connectionstatechange", () => {
        if (this.connectionState === "connected" && !tb.connectedAt) tb.connectedAt = now();
      });
    }
    createDataChannel(label, opts) {
      const ch = super.createDataChannel(label, opts);
      if (label === "screen") {
        ch.addEventListener("message", (ev) => {
          const d = ev.data;
          tb.message(d instanceof ArrayBuffer ? d.byteLength : (d && (d.size || d.length)) || 0);
        });
      }
      return ch;
    }
  }
  window.RTCPeerConnection = ProbedPC;
})();`

// probeSnap is what the probe and getStats() say at one moment.
type probeSnap struct {
	Now            float64 `json:"now"` // epoch ms, page clock
	Frames         int     `json:"frames"`
	Messages       int     `json:"messages"`
	Errors         int     `json:"errors"`
	State          string  `json:"state"`
	Reason         string  `json:"reason"`
	LoadedAt       float64 `json:"loadedAt"`
	ConnectedAt    float64 `json:"connectedAt"`
	FirstMessageAt float64 `json:"firstMessageAt"`
	FirstFrameAt   float64 `json:"firstFrameAt"`
	FirstFrameB    int64   `json:"firstFrameBytes"`
	FirstFrameMsgs int     `json:"firstFrameMsgs"`
	ScreenBytes    int64   `json:"screenBytes"`
	ScreenMsgs     int64   `json:"screenMsgs"`
	NFrameTimes    int     `json:"nFrameTimes"`
	// The marker sampler: reads so far, the first and last read (epoch
	// ms), and the canvas it reads ("id WxH").
	Samples      int64   `json:"samples"`
	SampleFirst  float64 `json:"sampleFirst"`
	SampleLast   float64 `json:"sampleLast"`
	SampleErrors int64   `json:"sampleErrors"`
	SampleCanvas string  `json:"sampleCanvas"`
	// From RTCPeerConnection.getStats() of the latest connection.
	DCBytes        int64  `json:"dcBytes"` // "data-channel" stats of the screen channel
	DCMsgs         int64  `json:"dcMsgs"`
	TransportBytes int64  `json:"transportBytes"` // "transport" stats: DTLS/SCTP payload, all channels
	PairBytes      int64  `json:"pairBytes"`      // selected "candidate-pair"
	Candidate      string `json:"candidate"`      // local candidate type/protocol of the pair
	StatsError     string `json:"statsError"`
}

const probeSnapJS = `(async () => {
  const tb = window.__tb;
  if (!tb) return null;
  const s = window.tetherStats || window.peerStats || {};
  const out = {
    now: tb.now(), frames: s.frames || 0, messages: s.messages || 0, errors: s.errors || 0,
    state: s.state || "", reason: s.reason || "",
    loadedAt: tb.loadedAt, connectedAt: tb.connectedAt, firstMessageAt: tb.firstMessageAt,
    firstFrameAt: tb.firstFrameAt, firstFrameBytes: tb.firstFrameBytes, firstFrameMsgs: tb.firstFrameMsgs,
    screenBytes: tb.screenBytes, screenMsgs: tb.screenMsgs, nFrameTimes: tb.frameTimes.length,
    samples: tb.samples, sampleFirst: tb.sampleFirst, sampleLast: tb.sampleLast, sampleErrors: tb.sampleErrors, sampleCanvas: tb.sampleCanvas,
    dcBytes: 0, dcMsgs: 0, transportBytes: 0, pairBytes: 0, candidate: "",
  };
  const pc = tb.pcs[tb.pcs.length - 1];
  if (pc && pc.connectionState !== "closed") {
    try {
      const rep = await Promise.race([pc.getStats(), new Promise((_, no) => setTimeout(() => no(new Error("getStats took over 3 s")), 3000))]);
      let pairID = "";
      rep.forEach((r) => {
        if (r.type === "data-channel" && r.label === "screen") { out.dcBytes += r.bytesReceived || 0; out.dcMsgs += r.messagesReceived || 0; }
        if (r.type === "transport") { out.transportBytes += r.bytesReceived || 0; if (r.selectedCandidatePairId) pairID = r.selectedCandidatePairId; }
      });
      const pair = pairID && rep.get(pairID);
      if (pair) {
        out.pairBytes = pair.bytesReceived || 0;
        const local = rep.get(pair.localCandidateId);
        out.candidate = local ? local.candidateType + "/" + local.protocol : "";
      }
    } catch (e) { out.statsError = String(e); }
  }
  return out;
})()`

func (b *browserProc) snap() (probeSnap, error) {
	s, err := evalJS[*probeSnap](b, probeSnapJS)
	if err != nil {
		return probeSnap{}, err
	}
	if s == nil {
		return probeSnap{}, errors.New("the viewer probe is not in the page")
	}
	return *s, nil
}

// frameTimes returns the probe's frame timestamps from index i on.
func (b *browserProc) frameTimes(i int) ([]float64, error) {
	return evalJS[[]float64](b, fmt.Sprintf(`window.__tb ? window.__tb.frameTimes.slice(%d) : []`, i))
}

// msgBucket is the screen messages the page handled in 100 ms of its clock.
type msgBucket struct {
	Start float64 // epoch ms
	Msgs  int64
	Bytes int64
}

func (b *browserProc) msgBuckets() ([]msgBucket, error) {
	raw, err := evalJS[[][3]float64](b, `window.__tb ? Object.entries(window.__tb.buckets).map(([k, v]) => [Number(k) * 100, v[0], v[1]]) : []`)
	if err != nil {
		return nil, err
	}
	out := make([]msgBucket, len(raw))
	for i, r := range raw {
		out[i] = msgBucket{Start: r[0], Msgs: int64(r[1]), Bytes: int64(r[2])}
	}
	slices.SortFunc(out, func(a, b msgBucket) int { return int(a.Start - b.Start) })
	return out, nil
}

// loopbackBytes reads the bytes sent on the loopback interface
// (/proc/net/dev; on lo every byte sent is also received) and the UDP
// datagrams sent by the whole machine (/proc/net/snmp).
func loopbackBytes() (bytes, udpOut int64, err error) {
	b, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		return 0, 0, err
	}
	found := false
	for _, l := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok || name != "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			return 0, 0, fmt.Errorf("/proc/net/dev: odd lo line %q", l)
		}
		bytes, err = strconv.ParseInt(f[8], 10, 64) // transmit bytes
		if err != nil {
			return 0, 0, err
		}
		found = true
	}
	if !found {
		return 0, 0, errors.New("/proc/net/dev: no lo interface")
	}
	b, err = os.ReadFile("/proc/net/snmp")
	if err != nil {
		return bytes, 0, err
	}
	var head []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "Udp: ") {
			continue
		}
		f := strings.Fields(l)
		if head == nil {
			head = f
			continue
		}
		for i, h := range head {
			if h == "OutDatagrams" && i < len(f) {
				udpOut, err = strconv.ParseInt(f[i], 10, 64)
			}
		}
		break
	}
	return bytes, udpOut, err
}

// ---- console API as a signed-in user ----

// userClient calls the console API with a cookie session and CSRF token,
// as the console page does.
type userClient struct {
	base string
	hc   *http.Client
	csrf string
}

func signInUser(ctx context.Context, base, name, password string) (*userClient, error) {
	jar, _ := cookiejar.New(nil)
	c := &userClient{base: base, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	var me protocol.Me
	if _, err := doJSON(ctx, c.hc, http.MethodPost, base+"/api/v1/login", nil,
		protocol.LoginRequest{Name: name, Password: password}, &me, http.StatusOK); err != nil {
		return nil, err
	}
	if me.CSRFToken == "" {
		return nil, errors.New("login answer carries no csrf_token")
	}
	c.csrf = me.CSRFToken
	return c, nil
}

func (c *userClient) do(ctx context.Context, method, path string, in, out any, want int) error {
	hdr := http.Header{}
	hdr.Set(protocol.HeaderCSRF, c.csrf)
	_, err := doJSON(ctx, c.hc, method, c.base+path, hdr, in, out, want)
	return err
}

func (c *userClient) session(ctx context.Context, id string) (protocol.Session, error) {
	var s protocol.Session
	err := c.do(ctx, http.MethodGet, "/api/v1/sessions/"+url.PathEscape(id), nil, &s, http.StatusOK)
	return s, err
}

// missingTools lists the programs the screen benchmark needs that are not
// installed.
func missingTools() []string {
	var miss []string
	for _, bin := range []string{"Xvfb", "wish"} {
		if _, err := exec.LookPath(bin); err != nil {
			miss = append(miss, bin)
		}
	}
	if _, err := os.Stat(testenv.ChromiumPath); err != nil {
		miss = append(miss, testenv.ChromiumPath)
	}
	if runtime.GOOS != "linux" {
		miss = append(miss, "Linux")
	}
	return miss
}

// threadTicks is CPU ticks by thread, keyed by the process's role and the
// thread's name, e.g. "renderer/CrRendererMain" (Chromium names its
// threads).
type threadTicks map[string]int64

// procRole is Chromium's --type= of a process ("browser" without one), or
// the command name for other programs.
func procRole(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return "?"
	}
	// Chromium rewrites its command line in its children (one string,
	// arguments separated by spaces).
	args := strings.FieldsFunc(string(b), func(r rune) bool { return r == 0 || r == ' ' })
	for _, a := range args {
		if t, ok := strings.CutPrefix(a, "--type="); ok {
			if t == "utility" {
				for _, a := range args {
					if s, ok := strings.CutPrefix(a, "--utility-sub-type="); ok {
						return "utility:" + s[strings.LastIndexByte(s, '.')+1:]
					}
				}
			}
			return t
		}
	}
	return "browser"
}

// threadCPU reads utime+stime of every thread of pids, keyed by
// role/thread name (threads of one name are added together).
func threadCPU(pids []int) threadTicks {
	out := threadTicks{}
	for _, pid := range pids {
		role := procRole(pid)
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			continue
		}
		for _, t := range tasks {
			st, err := readProcStat(fmt.Sprintf("/proc/%d/task/%s/stat", pid, t.Name()), 13)
			if err != nil {
				continue
			}
			ticks, _ := st.cpu()
			out[role+"/"+st.comm] += ticks
		}
	}
	return out
}

// threadShare is one thread group's CPU over a window.
type threadShare struct {
	Thread  string  `json:"thread"`
	Percent float64 `json:"percent_of_one_core"`
}

// topThreads returns the n busiest thread groups between two readings.
func topThreads(a, b threadTicks, sec float64, n int) []threadShare {
	var out []threadShare
	for k, v := range b {
		if d := v - a[k]; d > 0 {
			out = append(out, threadShare{Thread: k, Percent: round1(float64(d) / userHZ / sec * 100)})
		}
	}
	slices.SortFunc(out, func(x, y threadShare) int {
		if x.Percent != y.Percent {
			if x.Percent > y.Percent {
				return -1
			}
			return 1
		}
		return strings.Compare(x.Thread, y.Thread)
	})
	return out[:min(n, len(out))]
}
