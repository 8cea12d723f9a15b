package session

import (
	"context"
	"image"
	"log/slog"

	"github.com/tetherdesk/tether/shared/protocol"
)

// AskRequest is what the attended prompt shows.
type AskRequest struct {
	SessionID  string
	Technician string
	Mode       protocol.Mode
	// Alternatives are other modes the user may pick instead.
	Alternatives []protocol.Mode
	// TimeoutS is the countdown shown; the caller's ctx carries the deadline.
	TimeoutS int
	// Recorded: the policy records the session; the prompt says so.
	Recorded bool
	// Tool: the session is a support tool's (protocol.Tools), asked for
	// instead of a mode; What says which.
	Tool string
}

// Answer is the user's answer to the prompt.
type Answer struct {
	Accepted bool
	// Mode the user accepted (the requested one or an alternative).
	Mode protocol.Mode
}

// UI is everything the end user sees of a session. Tests use a fake.
type UI interface {
	// Ask shows the attended prompt and returns the answer, or ctx's error
	// when ctx ends first (the prompt then closes itself).
	Ask(ctx context.Context, req AskRequest) (Answer, error)
	// Live shows the user that the session is live (the session bar: who
	// is connected, in which mode, Chat, and End session where l.MayEnd)
	// until ctx ends.
	Live(ctx context.Context, l LiveInfo)
}

// LiveInfo is what the end user sees of a live session and may do with it.
type LiveInfo struct {
	Technician string
	// MayEnd offers End session, which calls End.
	MayEnd bool
	End    func()
	// Mode is the session's current mode (it may change while live).
	Mode func() protocol.Mode
	// OpenChat opens or raises the chat window; nil where there is none.
	OpenChat func()
	// EndInTray says the tray's menu offers End Session too.
	EndInTray bool
	// Recorded: the session is being recorded; the bar says so.
	Recorded bool
	// Tool: a support tool's session; the bar says which (ToolText).
	Tool string
}

// ModeAsker is optionally implemented by a UI: it asks the end user to
// accept a technician's request to switch the session's mode, and returns
// the answer, or ctx's error when ctx ends first. A UI without it declines
// every request where the policy asks for acceptance.
type ModeAsker interface {
	AskMode(ctx context.Context, req ModeRequest) (bool, error)
}

// ModeRequest is what the mode-change question shows.
type ModeRequest struct {
	Technician string
	From, To   protocol.Mode
	TimeoutS   int
}

// Notifier is optionally implemented by a UI: a short notice to the end
// user (the mode changed, a file arrived). It must not block for long.
type Notifier interface {
	Notice(ctx context.Context, text string)
}

// ChatWindow is the end user's side of the chat and of file transfer: the
// lines so far, a line to type into, "Send file…" where files may go, and
// one status line per transfer. Methods may be called from any goroutine.
type ChatWindow interface {
	// Add shows a line and brings the window up.
	Add(line protocol.ChatLine)
	// Status sets the status line key ("" text removes it).
	Status(key, text string)
	// AllowFiles offers or withdraws "Send file…".
	AllowFiles(on bool)
	// Raise brings the window up.
	Raise()
	// Close closes the window; nothing is called back after it returns.
	Close() error
}

// ChatWindowConfig configures a new ChatWindow.
type ChatWindowConfig struct {
	Technician string
	// Say is called with each line the user sends.
	Say func(text string)
	// SendFile is called with each file the user picks to send.
	SendFile func(path string)
	Logger   *slog.Logger
}

// Clipboard is the endpoint's clipboard (text).
type Clipboard interface {
	// Watch calls changed with the clipboard's text each time another
	// program sets it, until ctx ends. The text it holds when Watch
	// starts is not reported: only what the user copies during the
	// session goes to the technician.
	Watch(ctx context.Context, changed func(text string)) error
	// Set makes text the clipboard's content.
	Set(text string) error
	Close() error
}

// Overlay draws the technician's pointer and short marks over the end
// user's screen (Guidance mode). It never takes input: clicks go through
// to what is under it. Coordinates are pixels of mon.
type Overlay interface {
	Pointer(mon protocol.Monitor, x, y int, show bool) error
	Mark(mon protocol.Monitor, pts []image.Point) error
	Close() error
}

// LiveControls is what the helper's tray may do with a live session
// (Config.OnLive).
type LiveControls struct {
	SessionID  string
	Technician string
	// Mode returns the session's current mode.
	Mode func() protocol.Mode
	// OpenChat opens (or raises) the end user's chat window.
	OpenChat func()
}
