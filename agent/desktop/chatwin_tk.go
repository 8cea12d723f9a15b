//go:build !windows

package desktop

import (
	"fmt"

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
	showwin
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
# A new line shows the window but takes no focus: what the user is typing
# elsewhere must not land in the chat and go out with the next Return.
proc showwin {} { if {[wm state .] ne "normal"} { wm deiconify . } }
proc cmd {} {
	if {[gets stdin line] < 0} { if {[eof stdin]} { exit 0 }; return }
	catch {uplevel #0 $line}
}
fileevent stdin readable cmd
focus .b.e
puts ready
`

// tkChat is a session.ChatWindow run by wish (the Tk shell).
type tkChat struct{ p *tkProc }

// newTkChat starts the chat window; it fails when wish is not installed.
func newTkChat(cfg session.ChatWindowConfig) (*tkChat, error) {
	p, err := startTk("the chat window", tkChatScript, cfg.Logger, func(verb, arg string) {
		switch verb {
		case "say":
			if s, ok := tkDecode(arg); ok && cfg.Say != nil {
				cfg.Say(s)
			}
		case "file":
			if s, ok := tkDecode(arg); ok && cfg.SendFile != nil {
				cfg.SendFile(s)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	head := "Chat with your technician"
	if cfg.Technician != "" {
		head = "Chat with " + cfg.Technician
	}
	p.send("head", head)
	return &tkChat{p: p}, nil
}

// Add implements session.ChatWindow.
func (w *tkChat) Add(l protocol.ChatLine) {
	role := "tech"
	if l.Role == protocol.ChatUser {
		role = "user"
	}
	w.p.sendRaw(fmt.Sprintf("add %s %s %s %s", role, tkEncode(l.From), tkEncode(l.Time.Local().Format("15:04")), tkEncode(l.Text)))
}

// Status implements session.ChatWindow.
func (w *tkChat) Status(key, text string) { w.p.send("status", key, text) }

// AllowFiles implements session.ChatWindow.
func (w *tkChat) AllowFiles(on bool) {
	if on {
		w.p.sendRaw("files 1")
	} else {
		w.p.sendRaw("files 0")
	}
}

// Raise implements session.ChatWindow.
func (w *tkChat) Raise() { w.p.sendRaw("raisewin") }

// Close implements session.ChatWindow.
func (w *tkChat) Close() error { return w.p.Close() }
