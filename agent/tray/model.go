// Package tray is the end user's tray icon in every desktop session. It has
// three parts: the menu model (plain Go: the agent's state in, menu
// entries with their labels and enabled state out), the Tray controller
// that keeps that state and runs what the entries do (the connection-code
// dialog, End Session, About), and a Host that shows the icon and menu:
// fyne.io/systray where the desktop has a system tray, nothing where it
// has none (the model and the dialogs work regardless).
package tray

import (
	"fmt"
	"time"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Icon is the state the tray icon shows.
type Icon int

const (
	IconIdle         Icon = iota // connected, no session
	IconLive                     // a session is live (connecting or active)
	IconDisconnected             // the service does not reach the server (yet)
)

func (i Icon) String() string {
	switch i {
	case IconIdle:
		return "idle"
	case IconLive:
		return "live"
	case IconDisconnected:
		return "disconnected"
	}
	return fmt.Sprintf("Icon(%d)", int(i))
}

// CodeStep is where the connection-code dialog is.
type CodeStep int

const (
	CodeIdle     CodeStep = iota // no dialog
	CodeEntering                 // the entry (or its Try Again) is open
	CodeChecking                 // the code went to the server; waiting for its answer
)

// Session is one session the helper runs, as the tray shows it.
type Session struct {
	ID         string
	Technician string
	Mode       protocol.Mode
	State      protocol.SessionState
	// MayEnd: the policy (and the start) let the user end the session.
	MayEnd bool
	// Endable: the session is live and has said how to end it.
	Endable bool
	// Chat: the session can open the end user's chat window.
	Chat bool
}

// Live reports whether the session is accepted and running.
func (s Session) Live() bool {
	return s.State == protocol.SessionConnecting || s.State == protocol.SessionActive
}

// Notice is one recent notification.
type Notice struct {
	At   time.Time
	Text string
	// Ref names an end-user notification the entry reopens ("" for a
	// passing notice, which is only listed).
	Ref string
}

// State is everything the menu shows.
type State struct {
	// Server is ipc.ServerConnected, ipc.ServerDisconnected or
	// ipc.ServerConnecting ("" counts as connecting: the service has not
	// said yet).
	Server    string
	ServerURL string
	Version   string
	// Sessions in the order they started.
	Sessions []Session
	Code     CodeStep
	// Notices, newest first, at most MaxNotices.
	Notices []Notice
}

// Limits of the menu: the real tray has a fixed number of places.
const (
	MaxSessions = 2
	MaxNotices  = 5
)

// Actions of clickable entries.
const (
	ActionCode         = "code"
	ActionAbout        = "about"
	ActionEndPrefix    = "end:"    // + session id
	ActionChatPrefix   = "chat:"   // + session id
	ActionNoticePrefix = "notice:" // + notification id: reopen it
)

// Entry is one menu entry.
type Entry struct {
	// ID names the entry's place in the menu (see Slots).
	ID      string
	Label   string
	Enabled bool
	// Action is what a click does; "" for an information line.
	Action string
}

// Slot is one place in the real tray's menu, in order. Entries the model
// does not return for a slot are hidden.
type Slot struct {
	ID string
	// Parent is the submenu the slot is in ("" for the top level).
	Parent string
	// SeparatorBefore draws a line above the slot.
	SeparatorBefore bool
}

// Slot IDs.
const (
	SlotStatus  = "status"
	SlotCode    = "code"
	SlotNotices = "notices"
	SlotAbout   = "about"
)

func sessionSlot(i int) string { return fmt.Sprintf("session.%d", i) }
func endSlot(i int) string     { return fmt.Sprintf("end.%d", i) }
func chatSlot(i int) string    { return fmt.Sprintf("chat.%d", i) }
func noticeSlot(i int) string  { return fmt.Sprintf("notice.%d", i) }

// Slots is the real tray's menu layout.
func Slots() []Slot {
	out := []Slot{{ID: SlotStatus}, {ID: SlotCode, SeparatorBefore: true}}
	for i := range MaxSessions {
		out = append(out, Slot{ID: sessionSlot(i)}, Slot{ID: chatSlot(i)}, Slot{ID: endSlot(i)})
	}
	out = append(out, Slot{ID: SlotNotices, SeparatorBefore: true})
	for i := range MaxNotices {
		out = append(out, Slot{ID: noticeSlot(i), Parent: SlotNotices})
	}
	return append(out, Slot{ID: SlotAbout})
}

// Menu is the menu for state s, in Slots order.
func Menu(s State) []Entry {
	var out []Entry
	out = append(out, Entry{ID: SlotStatus, Label: statusLabel(s.Server)})

	code := Entry{ID: SlotCode, Label: "Enter Connection Code…", Action: ActionCode}
	switch {
	case s.Code == CodeChecking:
		code.Label = "Checking Connection Code…"
	case s.Code == CodeEntering, s.Server != ipc.ServerConnected, busy(s):
		// The dialog is open, the server cannot be asked, or a session
		// is already under way: one at a time.
	default:
		code.Enabled = true
	}
	out = append(out, code)

	for i, ss := range s.Sessions {
		if i == MaxSessions {
			break
		}
		out = append(out, Entry{ID: sessionSlot(i), Label: sessionLabel(ss)})
		if !ss.Live() {
			continue
		}
		with := ""
		if len(s.Sessions) > 1 {
			with = " with " + ss.Technician
		}
		if ss.Chat {
			out = append(out, Entry{ID: chatSlot(i), Label: "Open Chat" + with, Enabled: true, Action: ActionChatPrefix + ss.ID})
		}
		end := Entry{ID: endSlot(i), Label: "End Session" + with, Action: ActionEndPrefix + ss.ID, Enabled: ss.MayEnd && ss.Endable}
		if !ss.MayEnd {
			end.Label += " (not allowed by policy)"
		}
		out = append(out, end)
	}

	if len(s.Notices) == 0 {
		out = append(out, Entry{ID: SlotNotices, Label: "Recent Notifications (none)"})
	} else {
		out = append(out, Entry{ID: SlotNotices, Label: "Recent Notifications", Enabled: true})
		for i, n := range s.Notices {
			if i == MaxNotices {
				break
			}
			e := Entry{ID: noticeSlot(i), Label: n.At.Format("15:04") + "  " + n.Text}
			if n.Ref != "" {
				e.Enabled, e.Action = true, ActionNoticePrefix+n.Ref
			}
			out = append(out, e)
		}
	}
	return append(out, Entry{ID: SlotAbout, Label: "About Tether", Enabled: true, Action: ActionAbout})
}

// busy reports whether a session is under way (requested up to live).
func busy(s State) bool {
	for _, ss := range s.Sessions {
		if ss.State != protocol.SessionEnded {
			return true
		}
	}
	return false
}

// IconFor is the icon for state s: a live session first (the user should
// always see that someone is connected), then a lost server.
func IconFor(s State) Icon {
	for _, ss := range s.Sessions {
		if ss.Live() {
			return IconLive
		}
	}
	if s.Server != ipc.ServerConnected {
		return IconDisconnected
	}
	return IconIdle
}

// Tooltip is the text shown over the icon.
func Tooltip(s State) string {
	for _, ss := range s.Sessions {
		if ss.Live() {
			return "Tether: " + ss.Technician + " is connected (" + ModeName(ss.Mode) + ")"
		}
	}
	switch s.Server {
	case ipc.ServerConnected:
		return "Tether: ready"
	case ipc.ServerDisconnected:
		return "Tether: not connected to the support server"
	default:
		return "Tether: connecting to the support server"
	}
}

func statusLabel(server string) string {
	switch server {
	case ipc.ServerConnected:
		return "Connected to the support server"
	case ipc.ServerDisconnected:
		return "Not connected to the support server"
	default:
		return "Connecting to the support server…"
	}
}

func sessionLabel(s Session) string {
	switch s.State {
	case protocol.SessionActive:
		return "Live session: " + s.Technician + " — " + ModeName(s.Mode)
	case protocol.SessionConnecting:
		return "Connecting session: " + s.Technician + " — " + ModeName(s.Mode)
	case protocol.SessionAwaitingAcceptance:
		return "Request from " + s.Technician + " — waiting for your answer"
	default:
		return "Session request from " + s.Technician
	}
}

var modeNames = map[protocol.Mode]string{
	protocol.ModeActive:   "Active (view and control)",
	protocol.ModeGuidance: "Guidance (view and point)",
	protocol.ModeMonitor:  "Monitor (view only)",
	protocol.ModeChat:     "Chat",
	protocol.ModeFile:     "File transfer",
}

// ModeName is how the tray names a mode.
func ModeName(m protocol.Mode) string {
	if s, ok := modeNames[m]; ok {
		return s
	}
	if m == "" {
		return "mode not known yet"
	}
	return string(m)
}
