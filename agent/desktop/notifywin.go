package desktop

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/shared/protocol"
)

// NotificationWindowTitle begins an end-user notification window's title
// (the notification's own title follows).
const NotificationWindowTitle = "Tether notification"

// NotificationWindow is an end-user notification on screen. Results
// carries what the user did (shown, pressed, postponed, dismissed; a
// read-only window reports nothing but shown); Done is closed when the
// window is gone.
type NotificationWindow interface {
	Results() <-chan ipc.NotifyResult
	Done() <-chan struct{}
	Close() error
}

// Severity band colours (0xRRGGBB), where no branding gives an accent.
const (
	noticeInfo     = 0x1d4ed8
	noticeWarning  = 0xb45309
	noticeCritical = 0xb91c1c
)

// Button colours: Postpone (tests find it by it), the other buttons.
const (
	NoticePostponeColour = 0x374151
	noticeSecondary      = 0xe5e7eb
)

// noticeAccent is the window's accent colour as "#rrggbb".
func noticeAccent(n ipc.Notification) string {
	if b := n.Branding; b != nil && accentRE.MatchString(b.Accent) {
		return b.Accent
	}
	switch n.Severity {
	case protocol.SeverityCritical:
		return fmt.Sprintf("#%06x", noticeCritical)
	case protocol.SeverityWarning:
		return fmt.Sprintf("#%06x", noticeWarning)
	}
	return fmt.Sprintf("#%06x", noticeInfo)
}

var (
	accentRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	// linkRE finds the links a message may hold: bare http(s) addresses.
	linkRE = regexp.MustCompile(`https?://[^\s<>"'` + "`" + `]+[^\s<>"'` + "`" + `.,;:!?)\]]`)
)

// segment is a piece of a message: text, or a link to open.
type segment struct {
	text string
	link bool
}

// segments splits a message into text and links.
func segments(msg string) []segment {
	var out []segment
	last := 0
	for _, m := range linkRE.FindAllStringIndex(msg, -1) {
		if m[0] > last {
			out = append(out, segment{text: msg[last:m[0]]})
		}
		out = append(out, segment{text: msg[m[0]:m[1]], link: true})
		last = m[1]
	}
	if last < len(msg) {
		out = append(out, segment{text: msg[last:]})
	}
	return out
}

// intervalText names a postpone interval for the end user.
func intervalText(s int64) string {
	d := time.Duration(s) * time.Second
	switch {
	case d%(24*time.Hour) == 0:
		return plural(int(d/(24*time.Hour)), "day")
	case d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	}
	return plural(int(s), "second")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// noticeSender is the line above the title: the branding's name, else
// the product's.
func noticeSender(n ipc.Notification) string {
	if b := n.Branding; b != nil && b.Name != "" {
		return b.Name
	}
	return "IT notification"
}

// messageLines is about how many lines msg wraps to at width characters
// (at least 2, at most 14: a longer message scrolls).
func messageLines(msg string, width int) int {
	n := 0
	for _, para := range strings.Split(msg, "\n") {
		n += max(1, (utf8.RuneCountInString(para)+width-1)/width)
	}
	return min(max(n, 2), 14)
}
