// Package ipc is the local channel between the agent service and its
// session helpers: JSON lines over a Unix socket whose peer credentials are
// checked on every connection (Linux SO_PEERCRED, macOS LOCAL_PEERCRED), so
// that only root, the service's own user or a user the service expects may
// talk to it. Windows (a named pipe with an ACL) is not implemented yet.
//
// The helper never receives the agent's secret over this channel: only the
// per-session token the server issued for one session. A connection code
// the user types into the tray goes the other way: the helper sends the
// digits, the service redeems them with its secret and answers with the
// outcome.
package ipc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/tetherdesk/tether/shared/policy"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Message types.
const (
	// Service → helper.
	TypeStart = "start" // Start, Server, Fingerprint, Policy, Resume
	TypeEnd   = "end"   // SessionID, Reason
	// TypeDrop hands a session away (the active desktop changed and another
	// helper takes it over): the helper closes the session's peers and
	// websocket and keeps nothing of it, without telling the server it
	// ended.
	TypeDrop = "drop" // SessionID
	// TypeStatus tells the helper how the service reaches the server (for
	// the tray's icon and About); sent on ready and on every change.
	TypeStatus = "status" // ServerState, Server
	// TypeCodeResult answers a TypeCode with the same ReqID.
	TypeCodeResult = "code_result" // ReqID, CodeResult
	// Helper → service.
	TypeReady = "ready" // Desktop, PID
	// TypeState reports a session's state (a protocol session state), or
	// StateDropped once the helper has dropped a session (TypeDrop).
	TypeState = "state" // SessionID, State, Reason, Error
	// TypeSAS asks the service for Ctrl+Alt+Del (the secure attention
	// sequence), which on Windows only a service may raise.
	TypeSAS = "sas" // SessionID
	// TypeCode enters a connection code the user typed into the tray; the
	// service redeems it with the agent's credentials.
	TypeCode = "code" // ReqID, Code (9 digits)
	// Desktop user → helper, on the helper's launcher socket (the desktop
	// entry "Enter Connection Code"): TypeOpen asks for a dialog (Action,
	// tray.ActionCode), answered by TypeOpened (Error when it cannot).
	TypeOpen   = "open"   // Action
	TypeOpened = "opened" // Error
	// End-user notifications. TypeNotify (service → helper) shows one;
	// TypeNotifyClose (service → helper) takes it down (answered
	// elsewhere, postponed, expired); TypeNotifyResult (helper → service)
	// says what the user did: shown, pressed, postponed, dismissed, failed.
	TypeNotify       = "notify"        // Notification
	TypeNotifyClose  = "notify_close"  // NotifyID
	TypeNotifyResult = "notify_result" // NotifyResult
	// A support tool the service runs itself (a root shell): TypeToolAsk
	// (service → helper) asks the desktop's user, answered by
	// TypeToolAnswer with the same ReqID (Accepted, or Error when nobody
	// can be asked); TypeToolLive (service → helper) shows the session
	// bar until TypeEnd with the SessionID. The bar's End session comes
	// back as TypeState ended, ended_by_user.
	TypeToolAsk    = "tool_ask"    // ReqID, SessionID, Tool
	TypeToolAnswer = "tool_answer" // ReqID, Accepted, Error
	TypeToolLive   = "tool_live"   // SessionID, Tool
)

// ToolInfo is what the end user is shown of a support tool the service
// runs.
type ToolInfo struct {
	Technician string `json:"technician"`
	Tool       string `json:"tool"`
	TimeoutS   int    `json:"timeout_s,omitempty"`
	MayEnd     bool   `json:"may_end,omitempty"`
}

// Notification is an end-user notification as a helper shows it now:
// Postpone lists the intervals (seconds) offered this time, none when
// the user may not postpone any more.
type Notification struct {
	ID            string                         `json:"id"`
	Version       int                            `json:"version"`
	Title         string                         `json:"title"`
	Message       string                         `json:"message"`
	Severity      string                         `json:"severity"`
	Buttons       []protocol.NotificationButton  `json:"buttons,omitempty"`
	Postpone      []int64                        `json:"postpone,omitempty"`
	PostponesLeft int                            `json:"postpones_left,omitempty"`
	Branding      *protocol.NotificationBranding `json:"branding,omitempty"`
	Received      time.Time                      `json:"received"`
}

// NotifyResult is what the user did with a notification (Kind: a
// protocol.NotifyEvent* of shown, pressed, postponed, dismissed, failed).
type NotifyResult struct {
	ID        string `json:"id"`
	Version   int    `json:"version"`
	Kind      string `json:"kind"`
	Value     string `json:"value,omitempty"`
	IntervalS int64  `json:"interval_s,omitempty"`
	Error     string `json:"error,omitempty"`
}

// StateDropped is the helper's TypeState answer to a TypeDrop: the
// session is closed in this helper without a word to the server. It is no
// protocol session state.
const StateDropped protocol.SessionState = "dropped"

// Server connection states (TypeStatus).
const (
	ServerConnecting   = "connecting"   // no poll answered yet
	ServerConnected    = "connected"    // the last poll was answered
	ServerDisconnected = "disconnected" // the last poll (or enrollment) failed
)

// Outcomes of entering a connection code (CodeResult.Outcome).
const (
	CodeAccepted  = "accepted"  // the session starts (as a screenshare.start)
	CodeWrong     = "wrong"     // no live code has these digits
	CodeExpired   = "expired"   // the code's time is over
	CodeThrottled = "throttled" // too many wrong codes; Message is the server's
	CodeRefused   = "refused"   // the code cannot be used here; Message says why
	CodeFailed    = "failed"    // the server could not be asked; Message says why
)

// CodeResult is the service's answer to a connection code.
type CodeResult struct {
	Outcome string `json:"outcome"`
	// Message is for the end user as it stands (refused, throttled, failed).
	Message string `json:"message,omitempty"`
	// Set when accepted.
	SessionID  string        `json:"session_id,omitempty"`
	Technician string        `json:"technician,omitempty"`
	Mode       protocol.Mode `json:"mode,omitempty"`
	Attended   bool          `json:"attended,omitempty"`
}

// MaxLine bounds one JSON line.
const MaxLine = 1 << 20

// Msg is one JSON line in either direction.
type Msg struct {
	Type string `json:"type"`

	// start
	Start       *protocol.ScreenShareStart `json:"start,omitempty"`
	Server      string                     `json:"server,omitempty"`
	Fingerprint string                     `json:"fingerprint,omitempty"`
	// Proxy is the proxy for the session's signalling and TURN over TCP:
	// the service's local relay, never the agent's own proxy credentials.
	Proxy  string              `json:"proxy,omitempty"`
	Policy *policy.ScreenShare `json:"policy,omitempty"`
	// Resume: the session was accepted and ran in another helper; take it
	// over without prompting and tell the viewers to reconnect.
	Resume bool `json:"resume,omitempty"`

	// end, state
	SessionID string                `json:"session_id,omitempty"`
	State     protocol.SessionState `json:"state,omitempty"`
	Reason    protocol.Reason       `json:"reason,omitempty"`
	Error     string                `json:"error,omitempty"`

	// ready
	Desktop string `json:"desktop,omitempty"`
	PID     int    `json:"pid,omitempty"`

	// status (Server above is the server's URL)
	ServerState string `json:"server_state,omitempty"`

	// open
	Action string `json:"action,omitempty"`

	// code, code_result. Code is a secret of sorts: never log it.
	ReqID      string      `json:"req_id,omitempty"`
	Code       string      `json:"code,omitempty"`
	CodeResult *CodeResult `json:"code_result,omitempty"`

	// notify, notify_close, notify_result
	Notification *Notification `json:"notification,omitempty"`
	NotifyID     string        `json:"notify_id,omitempty"`
	NotifyResult *NotifyResult `json:"notify_result,omitempty"`

	// tool_ask, tool_answer, tool_live
	Tool     *ToolInfo `json:"tool,omitempty"`
	Accepted bool      `json:"accepted,omitempty"`
}

// ErrMalformed reports a line that is not a valid message.
var ErrMalformed = errors.New("malformed ipc message")

// Decode parses and validates one line.
func Decode(line []byte) (Msg, error) {
	var m Msg
	if len(line) > MaxLine {
		return Msg{}, fmt.Errorf("%w: line of %d bytes", ErrMalformed, len(line))
	}
	if err := json.Unmarshal(line, &m); err != nil {
		return Msg{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch m.Type {
	case TypeStart:
		if m.Start == nil || m.Start.SessionID == "" || m.Server == "" {
			return Msg{}, fmt.Errorf("%w: start without session or server", ErrMalformed)
		}
	case TypeEnd, TypeState, TypeDrop, TypeSAS:
		if m.SessionID == "" {
			return Msg{}, fmt.Errorf("%w: %s without session_id", ErrMalformed, m.Type)
		}
	case TypeStatus:
		switch m.ServerState {
		case ServerConnecting, ServerConnected, ServerDisconnected:
		default:
			return Msg{}, fmt.Errorf("%w: status with server_state %q", ErrMalformed, m.ServerState)
		}
	case TypeCode:
		if m.ReqID == "" || m.Code == "" {
			return Msg{}, fmt.Errorf("%w: code without req_id or code", ErrMalformed)
		}
	case TypeCodeResult:
		if m.ReqID == "" || m.CodeResult == nil || m.CodeResult.Outcome == "" {
			return Msg{}, fmt.Errorf("%w: code_result without req_id or outcome", ErrMalformed)
		}
	case TypeOpen:
		if m.Action == "" {
			return Msg{}, fmt.Errorf("%w: open without action", ErrMalformed)
		}
	case TypeNotify:
		if m.Notification == nil || m.Notification.ID == "" {
			return Msg{}, fmt.Errorf("%w: notify without notification", ErrMalformed)
		}
	case TypeNotifyClose:
		if m.NotifyID == "" {
			return Msg{}, fmt.Errorf("%w: notify_close without notify_id", ErrMalformed)
		}
	case TypeNotifyResult:
		if m.NotifyResult == nil || m.NotifyResult.ID == "" || m.NotifyResult.Kind == "" {
			return Msg{}, fmt.Errorf("%w: notify_result without id or kind", ErrMalformed)
		}
	case TypeToolAsk, TypeToolLive:
		if m.SessionID == "" || m.Tool == nil || m.Tool.Tool == "" || (m.Type == TypeToolAsk && m.ReqID == "") {
			return Msg{}, fmt.Errorf("%w: %s without session_id, req_id or tool", ErrMalformed, m.Type)
		}
	case TypeToolAnswer:
		if m.ReqID == "" {
			return Msg{}, fmt.Errorf("%w: tool_answer without req_id", ErrMalformed)
		}
	case TypeReady, TypeOpened:
	default:
		return Msg{}, fmt.Errorf("%w: unknown type %q", ErrMalformed, m.Type)
	}
	return m, nil
}

// Conn is one IPC connection. Send is safe for concurrent use; Recv must be
// called from one goroutine.
type Conn struct {
	c   net.Conn
	r   *bufio.Reader
	wmu sync.Mutex
	// UID is the peer's user id as checked on accept (server side only).
	UID uint32
}

// NewConn wraps c.
func NewConn(c net.Conn) *Conn {
	return &Conn{c: c, r: bufio.NewReaderSize(c, 64<<10)}
}

// writeTimeout bounds one Send so that a stuck peer cannot block the sender.
const writeTimeout = 10 * time.Second

// Send writes m as one line.
func (c *Conn) Send(m Msg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding ipc message: %w", err)
	}
	b = append(b, '\n')
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.c.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := c.c.Write(b); err != nil {
		return fmt.Errorf("sending ipc message: %w", err)
	}
	return nil
}

// Recv reads the next message. Malformed lines are returned as errors
// wrapping ErrMalformed; the connection stays usable after them.
func (c *Conn) Recv() (Msg, error) {
	line, err := readLine(c.r)
	if err != nil {
		return Msg{}, err
	}
	return Decode(line)
}

func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			return nil, err
		}
		if len(line)+len(chunk) > MaxLine {
			// Drain the rest of the line, then report it.
			for isPrefix {
				if _, isPrefix, err = r.ReadLine(); err != nil {
					return nil, err
				}
			}
			return nil, fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, MaxLine)
		}
		line = append(line, chunk...)
		if !isPrefix {
			return line, nil
		}
	}
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// ErrPeerRefused is returned (wrapped) when a peer's credentials are not
// allowed.
var ErrPeerRefused = errors.New("ipc peer not allowed")

// CheckPeer asks uidOf for the peer's user id and allowed whether it may
// connect.
func CheckPeer(c net.Conn, uidOf func(net.Conn) (uint32, error), allowed func(uid uint32) bool) (uint32, error) {
	uid, err := uidOf(c)
	if err != nil {
		return 0, fmt.Errorf("%w: reading peer credentials: %v", ErrPeerRefused, err)
	}
	if !allowed(uid) {
		return uid, fmt.Errorf("%w: uid %d", ErrPeerRefused, uid)
	}
	return uid, nil
}

// Listener accepts checked connections.
type Listener struct {
	ln      net.Listener
	allowed func(uint32) bool
	uidOf   func(net.Conn) (uint32, error)
	path    string
}

// ListenConfig configures Listen.
type ListenConfig struct {
	// Path of the socket. A stale socket file is replaced.
	Path string
	// Allowed decides which peer uids may connect; required.
	Allowed func(uid uint32) bool
	// UIDOf overrides how the peer uid is read (tests); default PeerUID.
	UIDOf func(net.Conn) (uint32, error)
}

// Accept waits for the next connection whose peer is allowed. A refused
// peer is closed and reported as an error wrapping ErrPeerRefused; the
// caller logs it and accepts again.
func (l *Listener) Accept() (*Conn, error) {
	c, err := l.ln.Accept()
	if err != nil {
		return nil, err
	}
	uid, err := CheckPeer(c, l.uidOf, l.allowed)
	if err != nil {
		c.Close()
		return nil, err
	}
	conn := NewConn(c)
	conn.UID = uid
	return conn, nil
}

// Close stops listening and removes the socket file.
func (l *Listener) Close() error { return l.close() }

// Path is the socket path.
func (l *Listener) Path() string { return l.path }

// Dial connects to the service's socket.
func Dial(ctx context.Context, path string) (*Conn, error) {
	c, err := dial(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("connecting to the agent service at %s: %w", path, err)
	}
	return NewConn(c), nil
}

var _ io.Closer = (*Conn)(nil)
