package desktop

import (
	"context"
	"time"

	"github.com/tetherdesk/tether/agent/session"
	"github.com/tetherdesk/tether/shared/protocol"
)

// SessionBarTitle is the session bar's window title.
const SessionBarTitle = "Tether session bar"

// Session bar colours (0xRRGGBB): a dark bar, a red dot saying the
// session is on (it does not blink: that would send frames all session
// long), a red End session button.
const (
	sessionBarBg  = 0x1f2937
	sessionBarDot = 0xef4444
	SessionBarEnd = 0xc62828 // tests find the button by it
)

// RecordedNotice tells the end user the session is recorded (prompt).
const RecordedNotice = "This session will be recorded."

// recordedBar is added to the session bar's mode line while recording.
const recordedBar = " · recording"

// sessionBar is a platform's session bar window.
type sessionBar interface {
	// update shows who is connected, what the mode lets them do, and the
	// Chat and End session buttons.
	update(who, mode string, chat, end bool)
	Close() error
}

// barPoll is how often the bar looks at the session's mode.
const barPoll = 500 * time.Millisecond

// showBar keeps b current with the session until ctx ends, then closes it.
func showBar(ctx context.Context, l session.LiveInfo, b sessionBar) {
	defer b.Close()
	t := time.NewTicker(barPoll)
	defer t.Stop()
	first := true
	var last protocol.Mode
	for {
		var m protocol.Mode
		if l.Mode != nil {
			m = l.Mode()
		}
		if first || m != last {
			first, last = false, m
			text := barModeText(m)
			if l.Tool != "" {
				text = "can " + session.ToolText(l.Tool)
			}
			if l.Recorded {
				text += recordedBar
			}
			b.update(l.Technician, text, l.OpenChat != nil, l.MayEnd && l.End != nil)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// barModeText is the bar's line about the mode.
func barModeText(m protocol.Mode) string {
	if m == "" {
		return "is connected"
	}
	return "can " + session.ModeText(m)
}
