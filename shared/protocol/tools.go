package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
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

// Support tools a session may be opened for (Session.Tool): each is a
// session record of its own, with the tool's channel and no screen. The
// permission to open one is "tools." + the tool (shared/perm); the
// user's files need tools.files, the system's tools.files and
// tools.terminal.system (the same rights as a root shell).
const (
	ToolTerminal       = "terminal"        // a shell as the desktop's user
	ToolTerminalSystem = "terminal.system" // a shell as root or SYSTEM
)

// Tools lists every tool.
var Tools = []string{ToolTerminal, ToolTerminalSystem, ToolProcesses, ToolServices, ToolFiles, ToolFilesSystem}

// IsFilesTool reports whether tool is the file browser, as either user.
func IsFilesTool(tool string) bool { return tool == ToolFiles || tool == ToolFilesSystem }

// ToolDoes reports whether a session of tool does the admin operation op:
// its operations are named for the tool without whose rights it runs
// with ("files.list" for ToolFiles and ToolFilesSystem); a terminal does
// none.
func ToolDoes(tool, op string) bool {
	family, _, _ := strings.Cut(tool, ".")
	prefix, _, _ := strings.Cut(op, ".")
	return tool != "" && family != ToolTerminal && prefix == family
}

// CreateToolSessionRequest is the body of PathToolSessions.
type CreateToolSessionRequest struct {
	Tool string `json:"tool"`
}

// PathToolSessions opens a tool session on an endpoint (POST, 201 with
// the Session).
const PathToolSessions = "/api/v1/endpoints/{id}/tools"

// PathAgentTranscript is where the agent uploads a terminal session's
// transcript when the shell ends (POST, the session's agent token as
// bearer, the bytes as body, at most MaxTranscript). The header
// TranscriptTotalHeader gives how many bytes the shell wrote in all: the
// transcript keeps the start and the end of a longer one.
const (
	PathAgentTranscript   = "/api/agent/v1/sessions/{id}/transcript"
	TranscriptTotalHeader = "X-Tether-Transcript-Total"
	MaxTranscript         = 1 << 20
)

// PathTranscript serves a terminal session's transcript to the console
// (GET, text/plain).
const PathTranscript = "/api/v1/sessions/{id}/transcript"

// TranscriptInfo describes a stored terminal transcript.
type TranscriptInfo struct {
	Size   int64     `json:"size"`  // bytes kept
	Total  int64     `json:"total"` // bytes the shell wrote
	SHA256 string    `json:"sha256"`
	Stored time.Time `json:"stored"`
}

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
	// Resumed, on opened: the shell is the one the viewer had before its
	// connection dropped, going on where it was.
	Resumed bool `json:"resumed,omitempty"`
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
