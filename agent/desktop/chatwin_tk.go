//go:build !windows

package desktop

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/tetherdesk/tether/shared/protocol"

	"github.com/tetherdesk/tether/agent/session"
)

// tkChatScript is the chat window, run by wish. Commands come on stdin,
// one per line, every argument base64 behind an "x" (so empty strings
// survive and no text is ever parsed as Tcl); events go to stdout the same
// way: "ready", "say X", "file X".
const tkChatScript = `
package require Tk
fconfigure stdout -encoding utf-8 -buffering line
fconfigure stdin -encoding utf-8 -blocking 0
proc d {s} { encoding convertfrom utf-8 [binary decode base64 [string range $s 1 end]] }
proc e {s} { return x[binary encode base64 [encoding convertto utf-8 $s]] }
wm title . "` + ChatWindowTitle + `"
wm protocol . WM_DELETE_WINDOW { wm withdraw . }
wm minsize . 360 240
label .head -anchor w -padx 6 -pady 4
text .t -width 64 -height 16 -wrap word -state disabled -yscrollcommand {.sb set} -padx 6 -pady 4 -takefocus 0 -font TkDefaultFont
scrollbar .sb -command {.t yview}
.t tag configure tech -foreground #1a4f8b -font {TkDefaultFont 10 bold}
.t tag configure user -foreground #2d6a2d -font {TkDefaultFont 10 bold}
.t tag configure time -foreground #666666
frame .st
frame .b
entry .b.e -textvariable msg
button .b.send -text Send -command send
button .b.file -text "Send file…" -underline 5 -command pickfile -state disabled
pack .head -side top -fill x
pack .b -side bottom -fill x -padx 4 -pady 4
pack .st -side bottom -fill x -padx 6
pack .sb -side right -fill y
pack .t -side left -fill both -expand 1
pack .b.file -side right
pack .b.send -side right -padx 4
pack .b.e -side left -fill x -expand 1
bind .b.e <Return> send
bind . <Control-o> pickfile
bind . <Alt-f> pickfile
set msg ""
proc send {} {
	global msg
	set m [string trim $msg]
	if {$m eq ""} return
	puts "say [e $m]"
	set msg ""
}
proc pickfile {} {
	if {[.b.file cget -state] eq "disabled"} return
	set f [tk_getOpenFile -parent . -title "` + SendFileDialogTitle + `"]
	if {$f ne ""} { puts "file [e $f]" }
}
proc head {s} { .head configure -text [d $s] }
proc add {role from time text} {
	.t configure -state normal
	.t insert end "[d $time] " time
	if {$role eq "user"} { .t insert end "You: " user } else { .t insert end "[d $from]: " tech }
	.t insert end "[d $text]\n"
	.t configure -state disabled
	.t see end
	raisewin
}
set nst 0
array set st {}
proc status {key text} {
	global st nst
	set k [d $key]
	set t [d $text]
	if {[info exists st($k)]} {
		if {$t eq ""} { destroy $st($k); unset st($k) } else { $st($k) configure -text $t }
	} elseif {$t ne ""} {
		incr nst
		set w .st.l$nst
		label $w -anchor w -text $t
		pack $w -side top -fill x
		set st($k) $w
	}
}
proc files {on} { .b.file configure -state [expr {$on ? "normal" : "disabled"}] }
proc raisewin {} { wm deiconify .; raise .; focus .b.e }
proc cmd {} {
	if {[gets stdin line] < 0} { if {[eof stdin]} { exit 0 }; return }
	catch {uplevel #0 $line}
}
fileevent stdin readable cmd
focus .b.e
puts ready
`

// tkChat is a session.ChatWindow run by wish (the Tk shell).
type tkChat struct {
	cmd    *exec.Cmd
	log    *slog.Logger
	mu     sync.Mutex // guards stdin and closed
	stdin  io.WriteCloser
	closed bool
	done   chan struct{} // the reader has finished
}

// newTkChat starts the chat window; it fails when wish is not installed.
func newTkChat(cfg session.ChatWindowConfig) (*tkChat, error) {
	wish, err := exec.LookPath("wish")
	if err != nil {
		return nil, fmt.Errorf("the chat window needs wish (Debian package tk): %w", err)
	}
	script, err := os.CreateTemp("", "tether-chat-*.tcl")
	if err != nil {
		return nil, fmt.Errorf("chat window script: %w", err)
	}
	defer os.Remove(script.Name())
	if _, err := script.WriteString(tkChatScript); err != nil {
		script.Close()
		return nil, fmt.Errorf("chat window script: %w", err)
	}
	script.Close()
	cmd := exec.Command(wish, script.Name())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &tkChat{cmd: cmd, log: log, stdin: stdin, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the chat window: %w", err)
	}
	ready := make(chan struct{})
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			verb, arg, _ := strings.Cut(sc.Text(), " ")
			switch verb {
			case "ready":
				close(ready)
			case "say":
				if s, ok := tkDecode(arg); ok && cfg.Say != nil {
					cfg.Say(s)
				}
			case "file":
				if s, ok := tkDecode(arg); ok && cfg.SendFile != nil {
					cfg.SendFile(s)
				}
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case <-ready:
	case <-w.done:
		return nil, errors.New("the chat window exited at once (no display?)")
	case <-time.After(15 * time.Second):
		w.Close()
		return nil, errors.New("the chat window did not start")
	}
	head := "Chat with your technician"
	if cfg.Technician != "" {
		head = "Chat with " + cfg.Technician
	}
	w.send("head", head)
	return w, nil
}

func tkEncode(s string) string { return "x" + base64.StdEncoding.EncodeToString([]byte(s)) }

func tkDecode(s string) (string, bool) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "x"))
	return string(b), err == nil
}

// send writes one command with its arguments encoded.
func (w *tkChat) send(verb string, args ...string) {
	var b strings.Builder
	b.WriteString(verb)
	for _, a := range args {
		b.WriteByte(' ')
		b.WriteString(tkEncode(a))
	}
	b.WriteByte('\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if _, err := io.WriteString(w.stdin, b.String()); err != nil {
		w.log.Debug("chat window gone", "error", err)
	}
}

// Add implements session.ChatWindow.
func (w *tkChat) Add(l protocol.ChatLine) {
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed {
		return
	}
	role := "tech"
	if l.Role == protocol.ChatUser {
		role = "user"
	}
	line := fmt.Sprintf("add %s %s %s %s\n", role, tkEncode(l.From), tkEncode(l.Time.Local().Format("15:04")), tkEncode(l.Text))
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		_, _ = io.WriteString(w.stdin, line)
	}
}

// Status implements session.ChatWindow.
func (w *tkChat) Status(key, text string) { w.send("status", key, text) }

// AllowFiles implements session.ChatWindow.
func (w *tkChat) AllowFiles(on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	v := "0"
	if on {
		v = "1"
	}
	_, _ = io.WriteString(w.stdin, "files "+v+"\n")
}

// Raise implements session.ChatWindow.
func (w *tkChat) Raise() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		_, _ = io.WriteString(w.stdin, "raisewin\n")
	}
}

// Close implements session.ChatWindow: wish exits when its stdin closes; it is
// killed if it has not within two seconds.
func (w *tkChat) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.done
		return nil
	}
	w.closed = true
	w.stdin.Close()
	w.mu.Unlock()
	select {
	case <-w.done:
	case <-time.After(2 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
	return nil
}
