package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Support tools run on data channels of their own next to a session's
// (added 2026-12-05), on WebRTC or the WebSocket relay alike.
const (
	// ChannelTerminal: id 6. Text messages are JSON TerminalMsg; binary
	// messages are the terminal's bytes: keystrokes viewer→agent, output
	// agent→viewer.
	ChannelTerminal          = "terminal"
	ChannelTerminalID uint16 = 6
)

// TerminalMsg types.
const (
	TerminalOpen   = "open"   // viewer→agent: start a shell (As, Cols, Rows)
	TerminalResize = "resize" // viewer→agent: Cols, Rows
	TerminalOpened = "opened" // agent→viewer: the shell runs (As, Shell)
	TerminalExit   = "exit"   // agent→viewer: the shell ended (Code)
	TerminalError  = "error"  // agent→viewer: refused or failed (Error); nothing runs
)

// Who a terminal's shell runs as.
const (
	TerminalAsUser   = "user"   // the logged-on user (tools.terminal)
	TerminalAsSystem = "system" // root or SYSTEM (tools.terminal.system)
)

// Terminal size bounds, in character cells.
const (
	TerminalMaxCols = 1000
	TerminalMaxRows = 500
)

// TerminalMsg is a control message on the terminal channel.
type TerminalMsg struct {
	T     string `json:"t"`
	As    string `json:"as,omitempty"`
	Cols  int    `json:"cols,omitempty"`
	Rows  int    `json:"rows,omitempty"`
	Shell string `json:"shell,omitempty"`
	Code  int    `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

// DecodeTerminalMsg reads and checks a terminal control message.
func DecodeTerminalMsg(b []byte) (TerminalMsg, error) {
	if len(b) > 2<<10 {
		return TerminalMsg{}, errors.New("terminal message too long")
	}
	var m TerminalMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return TerminalMsg{}, fmt.Errorf("malformed terminal message: %w", err)
	}
	sized := func() error {
		if m.Cols < 2 || m.Cols > TerminalMaxCols || m.Rows < 1 || m.Rows > TerminalMaxRows {
			return fmt.Errorf("%s: size %dx%d out of 2x1..%dx%d", m.T, m.Cols, m.Rows, TerminalMaxCols, TerminalMaxRows)
		}
		return nil
	}
	text := func(s string) bool { return len(s) <= 1024 && utf8.ValidString(s) }
	switch m.T {
	case TerminalOpen:
		if m.As != TerminalAsUser && m.As != TerminalAsSystem {
			return TerminalMsg{}, fmt.Errorf("open: as %q: want %q or %q", m.As, TerminalAsUser, TerminalAsSystem)
		}
		if err := sized(); err != nil {
			return TerminalMsg{}, err
		}
	case TerminalResize:
		if err := sized(); err != nil {
			return TerminalMsg{}, err
		}
	case TerminalOpened:
		if !text(m.Shell) {
			return TerminalMsg{}, errors.New("opened: shell too long or not UTF-8")
		}
	case TerminalExit:
	case TerminalError:
		if m.Error == "" || !text(m.Error) {
			return TerminalMsg{}, errors.New("error: text must be 1-1024 bytes of UTF-8")
		}
	default:
		return TerminalMsg{}, fmt.Errorf("unknown terminal message %q", m.T)
	}
	return m, nil
}
