//go:build !windows

package desktop

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/tetherdesk/tether/agent/session"
)

// tkBarScript is the session bar, run by wish: a small borderless bar at
// the top of the screen, above every window, that never takes the focus;
// dragged by its text. Commands: "who X", "mode X", "chat 0|1",
// "end 0|1"; events: "chat", "end".
var tkBarScript = strings.NewReplacer("@TITLE@", SessionBarTitle,
	"@BG@", fmt.Sprintf("#%06x", sessionBarBg), "@DOT@", fmt.Sprintf("#%06x", sessionBarDot),
	"@END@", fmt.Sprintf("#%06x", SessionBarEnd)).Replace(`
package require Tk
fconfigure stdout -encoding utf-8 -buffering line
fconfigure stdin -encoding utf-8 -blocking 0
proc d {s} { encoding convertfrom utf-8 [binary decode base64 [string range $s 1 end]] }
wm title . "@TITLE@"
wm overrideredirect . 1
wm attributes . -topmost 1
. configure -background @BG@ -highlightthickness 1 -highlightbackground #111827
label .dot -text "\u25cf" -foreground @DOT@ -background @BG@ -font {TkDefaultFont 12 bold}
label .who -text "" -foreground white -background @BG@ -font {TkDefaultFont 10 bold}
label .mode -text "" -foreground #d1d5db -background @BG@
button .chat -text Chat -command {puts chat} -takefocus 0 -relief flat -highlightthickness 0 -background #374151 -foreground white -activebackground #4b5563 -activeforeground white -padx 10
button .end -text "End session" -command {puts end} -takefocus 0 -relief flat -highlightthickness 0 -background @END@ -foreground white -activebackground @END@ -activeforeground white -padx 10
pack .dot -side left -padx {8 2} -pady 4
pack .who -side left -padx 2
pack .mode -side left -padx {2 12}
foreach w {. .dot .who .mode} {
	bind $w <ButtonPress-1> { set ::dx [expr {%X - [winfo rootx .]}]; set ::dy [expr {%Y - [winfo rooty .]}] }
	bind $w <B1-Motion> { set ::moved 1; wm geometry . +[expr {%X - $::dx}]+[expr {%Y - $::dy}] }
}
set moved 0
# Top centre of the screen, until the user moves it.
proc place {} {
	if {$::moved} return
	update idletasks
	wm geometry . +[expr {([winfo screenwidth .] - [winfo reqwidth .]) / 2}]+0
}
proc who {s} { .who configure -text [d $s]; place }
proc mode {s} { .mode configure -text [d $s]; place }
proc buttons {chat end} {
	pack forget .chat .end
	if {$end} { pack .end -side right -padx {4 6} -pady 4 }
	if {$chat} { pack .chat -side right -padx 4 -pady 4 }
	place
}
proc cmd {} {
	if {[gets stdin line] < 0} { if {[eof stdin]} { exit 0 }; return }
	catch {uplevel #0 $line}
}
fileevent stdin readable cmd
place
puts ready
`)

// tkBar is the session bar on X11.
type tkBar struct{ p *tkProc }

func newTkBar(l session.LiveInfo, log *slog.Logger) (*tkBar, error) {
	p, err := startTk("the session bar", tkBarScript, log, func(verb, _ string) {
		switch {
		case verb == "end" && l.MayEnd && l.End != nil:
			l.End()
		case verb == "chat" && l.OpenChat != nil:
			l.OpenChat()
		}
	})
	if err != nil {
		return nil, err
	}
	return &tkBar{p: p}, nil
}

func (b *tkBar) update(who, mode string, chat, end bool) {
	b.p.send("who", who)
	b.p.send("mode", mode)
	b.p.sendRaw(fmt.Sprintf("buttons %d %d", btoi(chat), btoi(end)))
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (b *tkBar) Close() error { return b.p.Close() }
