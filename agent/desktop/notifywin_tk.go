//go:build !windows

package desktop

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/shared/protocol"
)

// tkNoticeScript is the notification window, run by wish. Every text
// arrives base64-encoded and is only ever a widget's text or inserted
// into a text widget: nothing of it is parsed as Tcl or markup. Commands:
// "setaccent C", "setlogo B64PNG", "setsender X", "settitle X",
// "addtext X", "addlink I X", "addbutton X V", "addpostpone X S",
// "setleft N", "setreadonly", "showwin"; events: "shown", "press V",
// "postpone S", "dismiss", "link I".
var tkNoticeScript = strings.NewReplacer("@TITLE@", NotificationWindowTitle,
	"@POST@", fmt.Sprintf("#%06x", NoticePostponeColour), "@SECOND@", fmt.Sprintf("#%06x", noticeSecondary)).Replace(`
package require Tk
fconfigure stdout -encoding utf-8 -buffering line
fconfigure stdin -encoding utf-8 -blocking 0
proc d {s} { encoding convertfrom utf-8 [binary decode base64 [string range $s 1 end]] }
proc e {s} { return x[binary encode base64 [encoding convertto utf-8 $s]] }
# 200 % and other desktop scalings: fonts and sizes are in points.
foreach v {GDK_SCALE QT_SCALE_FACTOR} {
	if {[info exists env($v)] && [string is double -strict $env($v)] && $env($v) >= 1 && $env($v) <= 4} {
		tk scaling [expr {[tk scaling] * $env($v)}]
		break
	}
}
wm withdraw .
wm title . "@TITLE@"
wm attributes . -topmost 1
wm resizable . 0 0
set readonly 0
wm protocol . WM_DELETE_WINDOW { if {!$::readonly} { puts dismiss }; exit 0 }
. configure -background white -padx 0 -pady 0
frame .band -height 6p -background #1d4ed8
frame .head -background white
label .head.logo -background white
label .head.sender -background white -foreground #4b5563 -font {TkDefaultFont 9}
label .title -background white -font {TkDefaultFont 13 bold} -wraplength 340p -justify left -anchor w
text .msg -wrap word -width 52 -height 4 -relief flat -borderwidth 0 -highlightthickness 0 -background white \
	-font {TkDefaultFont 10} -cursor arrow -takefocus 0 -padx 0 -pady 0
frame .post -background white
label .post.l -text "Remind me in" -background white
ttk::combobox .post.cb -state readonly -width 12
button .post.b -text "Postpone" -command postpone -background @POST@ -foreground white -activebackground @POST@ -activeforeground white -relief flat -padx 10
label .post.left -background white -foreground #4b5563 -font {TkDefaultFont 9}
frame .buttons -background white
bind Button <Return> { %W invoke }
bind TButton <Return> { %W invoke }
set nb 0
set lines 4
proc setlines {n} { set ::lines $n }
set posts {}
set accent #1d4ed8
proc setaccent {s} { set ::accent [d $s]; .band configure -background $::accent }
proc setlogo {s} {
	if {[catch {image create photo logo -data [d $s]}]} return
	# At 200 % and more the logo is drawn twice as large.
	if {[tk scaling] >= 2.5} {
		image create photo logo2
		logo2 copy logo -zoom 2
		.head.logo configure -image logo2
	} else {
		.head.logo configure -image logo
	}
	pack .head.logo -side left -padx {0 4p}
}
proc setsender {s} { .head.sender configure -text [d $s] }
proc settitle {s} {
	set t [d $s]
	.title configure -text $t
	wm title . "@TITLE@ \u2014 $t"
}
proc addtext {s} { .msg insert end [d $s] }
proc addlink {i s} {
	.msg insert end [d $s] [list link l$i]
	.msg tag bind l$i <Button-1> [list puts "link $i"]
}
.msg tag configure link -foreground #1d4ed8 -underline 1
.msg tag bind link <Enter> { .msg configure -cursor hand2 }
.msg tag bind link <Leave> { .msg configure -cursor arrow }
# The first button is the primary one: filled with the accent colour.
proc addbutton {label value} {
	incr ::nb
	set b .buttons.b$::nb
	button $b -text [d $label] -command [list puts "press [e [d $value]]"] -padx 12 -relief flat
	if {$::nb == 1} {
		$b configure -background $::accent -foreground white -activebackground $::accent -activeforeground white
	} else {
		$b configure -background @SECOND@ -activebackground @SECOND@
	}
	pack $b -side right -padx {4p 0}
}
proc addpostpone {label secs} {
	lappend ::posts $secs
	.post.cb configure -values [concat [.post.cb cget -values] [list [d $label]]]
	if {[.post.cb current] < 0} { .post.cb current 0 }
}
proc setleft {n} {
	if {$n == 1} { .post.left configure -text "(once more)" } else { .post.left configure -text "($n more times)" }
}
proc postpone {} {
	set i [.post.cb current]
	if {$i < 0} return
	puts "postpone [lindex $::posts $i]"
}
# dump says what the window shows, for tests: title, message, window
# title, logo image, accent, and the window's size.
proc dump {} {
	update idletasks
	puts "dump [e [.title cget -text]] [e [.msg get 1.0 end-1c]] [e [wm title .]] [e [.head.logo cget -image]] [e [.band cget -background]] [e [winfo reqwidth .]x[winfo reqheight .]]"
}
proc setreadonly {} {
	set ::readonly 1
	button .buttons.close -text "Close" -command { exit 0 } -padx 12
	pack .buttons.close -side right
}
proc showwin {} {
	pack .band -side top -fill x
	pack .head -side top -fill x -padx 10p -pady {8p 0}
	pack .head.sender -side left
	pack .title -side top -fill x -padx 10p -pady {2p 4p}
	pack .msg -side top -fill both -padx 10p
	if {[llength $::posts] > 0 && !$::readonly} {
		pack .post -side top -fill x -padx 10p -pady {6p 0}
		pack .post.l -side left
		pack .post.cb -side left -padx 4p
		pack .post.b -side left
		pack .post.left -side left -padx 4p
	}
	pack .buttons -side top -fill x -padx 10p -pady 9p
	if {$::nb == 0 && !$::readonly} {
		button .buttons.ok -text "OK" -command { puts dismiss } -padx 12
		pack .buttons.ok -side right
	}
	.msg configure -state disabled -height $::lines
	update idletasks
	set x [expr {[winfo screenwidth .] - [winfo reqwidth .] - 16}]
	set y [expr {[winfo screenheight .] - [winfo reqheight .] - 56}]
	wm geometry . +$x+$y
	wm deiconify .
	raise .
}
bind . <Map> { if {![info exists ::mapped]} { set ::mapped 1; puts shown } }
bind . <Escape> { if {$::readonly} { exit 0 } }
proc cmd {} {
	if {[gets stdin line] < 0} { if {[eof stdin]} { exit 0 }; return }
	catch {uplevel #0 $line}
}
fileevent stdin readable cmd
puts ready
`)

type tkNotice struct {
	p       *tkProc
	n       ipc.Notification
	links   []string
	dumps   chan string // tests: what "dump" said
	res     chan ipc.NotifyResult
	mu      sync.Mutex
	stopped bool
}

// NewNotificationWindow shows n; readOnly shows it again for reading,
// with a Close button only.
func NewNotificationWindow(n ipc.Notification, readOnly bool, log *slog.Logger) (NotificationWindow, error) {
	w := &tkNotice{n: n, res: make(chan ipc.NotifyResult, 8), dumps: make(chan string, 1)}
	p, err := startTk("the notification window", tkNoticeScript, log, w.event)
	if err != nil {
		return nil, err
	}
	w.p = p
	go func() {
		<-p.Done()
		w.mu.Lock()
		w.stopped = true
		close(w.res)
		w.mu.Unlock()
	}()
	p.send("setaccent", noticeAccent(n))
	if b := n.Branding; b != nil && len(b.Logo) > 0 && len(b.Logo) <= 64<<10 {
		p.send("setlogo", base64.StdEncoding.EncodeToString(b.Logo))
	}
	p.send("setsender", noticeSender(n))
	p.send("settitle", n.Title)
	for _, s := range segments(n.Message) {
		if s.link {
			w.links = append(w.links, s.text)
			p.sendRaw(fmt.Sprintf("addlink %d %s", len(w.links)-1, tkEncode(s.text)))
		} else {
			p.send("addtext", s.text)
		}
	}
	if readOnly {
		p.sendRaw("setreadonly")
	} else {
		// Packed right to left: the first button is the rightmost.
		for _, b := range n.Buttons {
			p.send("addbutton", b.Label, b.Value)
		}
		for _, s := range n.Postpone {
			p.sendRaw(fmt.Sprintf("addpostpone %s %d", tkEncode(intervalText(s)), s))
		}
		if len(n.Postpone) > 0 {
			p.sendRaw(fmt.Sprintf("setleft %d", n.PostponesLeft))
		}
	}
	p.sendRaw(fmt.Sprintf("setlines %d", messageLines(n.Message, 50)))
	p.sendRaw("showwin")
	return w, nil
}

// event turns the window's events into results.
func (w *tkNotice) event(verb, arg string) {
	r := ipc.NotifyResult{ID: w.n.ID, Version: w.n.Version}
	switch verb {
	case "shown":
		r.Kind = protocol.NotifyEventShown
	case "press":
		v, ok := tkDecode(arg)
		if !ok {
			return
		}
		r.Kind, r.Value = protocol.NotifyEventPressed, v
	case "postpone":
		s, err := strconv.ParseInt(arg, 10, 64)
		if err != nil {
			return
		}
		r.Kind, r.IntervalS = protocol.NotifyEventPostponed, s
	case "dismiss":
		r.Kind = protocol.NotifyEventDismissed
	case "dump":
		select {
		case w.dumps <- arg:
		default:
		}
		return
	case "link":
		if i, err := strconv.Atoi(arg); err == nil && i >= 0 && i < len(w.links) {
			openLink(w.links[i], w.p.log)
		}
		return
	default:
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		select {
		case w.res <- r:
		default:
		}
	}
}

// openLink opens an http(s) link in the user's browser, without a shell.
func openLink(url string, log *slog.Logger) {
	if !linkRE.MatchString(url) {
		return
	}
	cmd := exec.Command("xdg-open", url)
	if err := cmd.Start(); err != nil {
		log.Warn("cannot open the link", "error", err)
		return
	}
	go func() { _ = cmd.Wait() }()
}

func (w *tkNotice) Results() <-chan ipc.NotifyResult { return w.res }
func (w *tkNotice) Done() <-chan struct{}            { return w.p.Done() }
func (w *tkNotice) Close() error                     { return w.p.Close() }
