package protocol

import (
	"encoding/json"
	"time"
)

// Screen-share sessions (protocol 2, 2026-11-23): the screenshare.start
// action, the signalling websockets and the session API.

// ActionScreenShareStart asks the agent's service to hand a session to the
// helper of the active desktop session. Payload: ScreenShareStart.
const ActionScreenShareStart = "screenshare.start"

// SessionState is where a session is. Attended sessions pass through
// awaiting_acceptance; unattended ones go from requested to connecting.
type SessionState string

// Session states, in order.
const (
	SessionRequested          SessionState = "requested"
	SessionAwaitingAcceptance SessionState = "awaiting_acceptance"
	SessionConnecting         SessionState = "connecting"
	SessionActive             SessionState = "active"
	SessionEnded              SessionState = "ended"
)

// Reason says why a session ended (on state "ended") or why its agent
// side reconnected (on SignalReconnect).
type Reason string

// Reasons a session ended.
const (
	EndedByTechnician  Reason = "ended_by_technician"
	EndedByUser        Reason = "ended_by_user"
	EndedDeclined      Reason = "declined"
	EndedAcceptTimeout Reason = "acceptance_timeout"
	EndedCodeExpired   Reason = "code_expired"
	EndedAgentOffline  Reason = "agent_offline"
	EndedError         Reason = "error"
	// EndedConnectionLost: the agent's signalling connection stayed down
	// longer than the outage limit.
	EndedConnectionLost Reason = "connection_lost"
	// EndedUserChanged: the endpoint's active desktop now belongs to
	// another user, or is the login screen, so the consent given to an
	// attended session does not carry over (added 2026-12-02).
	EndedUserChanged Reason = "user_changed"
)

// Mode is what a session lets the technician do.
type Mode string

// Modes in order of precedence.
const (
	ModeActive   Mode = "active"   // view and control
	ModeGuidance Mode = "guidance" // view; pointer and marks drawn on the user's screen
	ModeMonitor  Mode = "monitor"  // view only
	ModeChat     Mode = "chat"     // no screen
	ModeFile     Mode = "file"     // file transfer, no screen
)

// Modes lists every mode in order of precedence.
var Modes = []Mode{ModeActive, ModeGuidance, ModeMonitor, ModeChat, ModeFile}

// ScreenShareStart is the payload of ActionScreenShareStart. AgentToken is
// valid for this session only: the session helper uses it for the agent
// signalling websocket and never sees the agent's own secret.
type ScreenShareStart struct {
	SessionID  string `json:"session_id"`
	AgentToken string `json:"agent_token"`
	Attended   bool   `json:"attended"`
	Mode       Mode   `json:"mode"`
	// Modes the user may choose instead when accepting.
	AllowedModes []Mode `json:"allowed_modes"`
	Technician   string `json:"technician"`
	// AcceptanceTimeoutS bounds the attended prompt.
	AcceptanceTimeoutS int  `json:"acceptance_timeout_s"`
	UserMayEnd         bool `json:"user_may_end"`
	// SignalPath is relative to the server URL the agent already uses.
	SignalPath string `json:"signal_path"`
	// Record: the endpoint's policy records sessions. The prompt and the
	// session bar say so, and the helper uploads the recording to
	// PathAgentRecording when the session ends.
	Record bool `json:"record,omitempty"`
	// Tool makes the session a support tool's (ToolTerminal...) instead
	// of a screen share: no screen, no modes, the tool's channel only.
	Tool string `json:"tool,omitempty"`
	// Write: the technician may change files (ToolFiles: upload, rename,
	// delete; the tools.files.write permission).
	Write bool `json:"write,omitempty"`
}

// Session describes a screen-share session: GET /api/v1/sessions/{id}.
type Session struct {
	ID         string       `json:"id"`
	EndpointID string       `json:"endpoint_id"`
	Hostname   string       `json:"hostname"`
	Technician string       `json:"technician"`
	Attended   bool         `json:"attended"`
	Mode       Mode         `json:"mode"`
	State      SessionState `json:"state"`
	Reason     Reason       `json:"reason,omitempty"`
	Created    time.Time    `json:"created"`
	Started    *time.Time   `json:"started,omitempty"` // became active
	Ended      *time.Time   `json:"ended,omitempty"`
	Viewers    []Viewer     `json:"viewers"`
	// ControlHolder is the viewer id holding control, "" for nobody.
	ControlHolder string `json:"control_holder,omitempty"`
	// Record: the session is being (or was meant to be) recorded;
	// Recording describes the stored recording once it has arrived.
	Record    bool           `json:"record,omitempty"`
	Recording *RecordingInfo `json:"recording,omitempty"`
	// Tool: a support tool's session (ToolTerminal...), "" for a screen
	// share. Transcript describes a terminal's stored transcript.
	Tool       string          `json:"tool,omitempty"`
	Transcript *TranscriptInfo `json:"transcript,omitempty"`
}

// Viewer is one technician's connection to a session.
type Viewer struct {
	ID   string `json:"id"`
	User string `json:"user"`
}

// CreateSessionRequest is the body of POST /api/v1/sessions.
type CreateSessionRequest struct {
	EndpointID string `json:"endpoint_id"`
	Attended   bool   `json:"attended"`
	// Mode is optional; empty means the first mode the policy enables.
	Mode Mode `json:"mode,omitempty"`
}

// ControlRequest is the body of POST /api/v1/sessions/{id}/control.
type ControlRequest struct {
	Op string `json:"op"` // request, grant, release, take
	// Viewer is the viewer to grant control to (op grant), or the caller's
	// own viewer connection (op request, take).
	Viewer string `json:"viewer"`
}

// Control operations.
const (
	ControlRequestOp = "request"
	ControlGrant     = "grant"
	ControlRelease   = "release"
	ControlTake      = "take"
)

// Signalling websocket paths ({id} is the session id). The agent side
// authenticates with the session's AgentToken as a bearer token; the viewer
// side with the console sign-in (cookie, same-origin) or an API token.
const (
	PathAgentSignal  = "/api/agent/v1/sessions/{id}/signal"
	PathViewerSignal = "/api/v1/sessions/{id}/signal"
)

// Signal is one JSON text message on a signalling websocket.
//
// Flow: the server sends each side "hello" with the session, the viewer id
// (viewer side) and the ICE servers. For each viewer the server tells the
// agent "viewer_joined"; the agent makes one PeerConnection per viewer with
// the negotiated data channels below and sends "offer"; the viewer answers;
// both trickle "candidate"s. The server stamps ViewerID on what it relays to
// the agent and routes the agent's messages by ViewerID. The helper reports
// "state" (awaiting_acceptance, connecting, active, ended+reason); the server
// validates transitions and broadcasts "session" updates to every viewer and
// "control" when the holder changes; "end" tells everyone the session ended.
//
// When the endpoint's active desktop changes during a session (a user logs
// in at the login screen, switches user or VT), the agent moves the session
// to the helper of the new desktop: the new helper connects the agent
// websocket again (it replaces the old connection; the session keeps its
// state, viewers and control holder) and sends "reconnect" with Reason
// "desktop_changed"; the server passes it on to every viewer. Each viewer
// then receives a new "offer" from the new helper, drops its old peer
// connection and answers the new one (new negotiated data channels; the
// screen channel starts with a size message and a full frame).
type Signal struct {
	Type       SignalType      `json:"type"`
	ViewerID   string          `json:"viewer_id,omitempty"`
	SDP        string          `json:"sdp,omitempty"`
	Candidate  json.RawMessage `json:"candidate,omitempty"` // RTCIceCandidateInit
	State      SessionState    `json:"state,omitempty"`
	Reason     Reason          `json:"reason,omitempty"`
	Mode       Mode            `json:"mode,omitempty"`
	Session    *Session        `json:"session,omitempty"`
	ICEServers []ICEServer     `json:"ice_servers,omitempty"`
	// ICETransportPolicy is "relay" when the server forces relayed media
	// (a deployment setting, and how tests prove the TURN path), else "all".
	ICETransportPolicy string `json:"ice_transport_policy,omitempty"`
	// Holder is the viewer id in control ("" for nobody), on "control".
	Holder  string `json:"holder,omitempty"`
	Message string `json:"message,omitempty"` // on "error"
	// Chat is the line on "chat" (added 2026-11-23).
	Chat *ChatLine `json:"chat,omitempty"`
	// File is the finished transfer on "file" (added 2026-11-23).
	File *FileRecord `json:"file,omitempty"`
	// ToolAction is what a support tool did, on "tool_action" (added
	// 2026-12-05).
	ToolAction *ToolAction `json:"tool_action,omitempty"`
}

// SignalType is the kind of a signalling message.
type SignalType string

// Signal types.
const (
	SignalHello        SignalType = "hello"
	SignalViewerJoined SignalType = "viewer_joined"
	SignalViewerLeft   SignalType = "viewer_left"
	SignalOffer        SignalType = "offer"
	SignalAnswer       SignalType = "answer"
	SignalCandidate    SignalType = "candidate"
	SignalState        SignalType = "state"
	SignalSession      SignalType = "session"
	SignalControl      SignalType = "control"
	SignalEnd          SignalType = "end"
	SignalError        SignalType = "error"
	// SignalReconnect: the agent side reconnected from another helper
	// (agent→server→viewers); Reason says why.
	SignalReconnect SignalType = "reconnect"
	// SignalChat (agent→server, added 2026-11-23): one chat line of the
	// session, in Chat, for the session's history. ViewerID names the
	// technician's viewer that wrote it, empty for the end user; the server
	// puts the name to it itself.
	SignalChat SignalType = "chat"
	// SignalFile (agent→server, added 2026-11-23): a file transfer of the
	// session finished, in File, for the audit log.
	SignalFile SignalType = "file"
	// SignalRelay (added 2026-12-04): the session's data channels go
	// through the signalling websocket instead of WebRTC (relay.go). A
	// viewer sends it when ICE fails, or to start that way (Reason
	// RelayAsked); the agent answers it with ViewerID once its side is
	// ready, and from then on both send relay frames for that viewer.
	SignalRelay SignalType = "relay"
	// SignalToolAction (agent→server, added 2026-12-05): a support tool
	// changed something on the endpoint (ended a process, stopped a
	// service), for the audit log.
	SignalToolAction SignalType = "tool_action"
)

// Reasons on SignalRelay.
const (
	RelayICEFailed Reason = "ice_failed" // no WebRTC path came up
	RelayAsked     Reason = "asked"      // the viewer asked for it (a setting, a test)
)

// Reasons on SignalReconnect.
const (
	// ReconnectDesktopChanged: the endpoint's active desktop changed (login
	// screen ↔ user session, user switch).
	ReconnectDesktopChanged Reason = "desktop_changed"
)

// ICEServer mirrors RTCIceServer.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Data channels, pre-negotiated (negotiated: true) with fixed ids on every
// peer connection so neither side has to announce them. A peer that does
// not know a channel simply never opens it (chat and file were added
// 2026-11-23).
const (
	ChannelScreen  = "screen"  // id 1, binary ScreenMsg frames, agent→viewer
	ChannelInput   = "input"   // id 2, JSON InputEvent, viewer→agent
	ChannelControl = "control" // id 3, JSON ControlMsg, both ways
	ChannelChat    = "chat"    // id 4, JSON ChatMsg, both ways
	ChannelFile    = "file"    // id 5, JSON FileMsg (text) and FileChunk (binary), both ways
)

// Channel ids for the negotiated data channels.
const (
	ChannelScreenID  uint16 = 1
	ChannelInputID   uint16 = 2
	ChannelControlID uint16 = 3
	ChannelChatID    uint16 = 4
	ChannelFileID    uint16 = 5
)

// InputEvent is one message on the input channel. Coordinates are pixels of
// the monitor the viewer is watching, origin top left.
type InputEvent struct {
	T string `json:"t"` // move, down, up, wheel, key, text, combo
	X int    `json:"x,omitempty"`
	Y int    `json:"y,omitempty"`
	// Button: 0 left, 1 middle, 2 right (DOM MouseEvent.button).
	Button int `json:"b,omitempty"`
	// Wheel deltas in notches, positive down/right.
	DX int `json:"dx,omitempty"`
	DY int `json:"dy,omitempty"`
	// Key is the DOM KeyboardEvent.code ("KeyA", "Enter", "ArrowLeft");
	// Down is true on press, false on release.
	Key  string `json:"k,omitempty"`
	Down bool   `json:"d,omitempty"`
	// Text is typed as-is, any script ("text").
	Text string `json:"s,omitempty"`
	// Combo names a special combination: "ctrl-alt-del", "win", "alt-tab".
	Combo string `json:"c,omitempty"`
}

// ControlType is the kind of a control-channel message.
type ControlType string

// Control message types.
const (
	ControlMonitors    ControlType = "monitors"
	ControlMonitor     ControlType = "monitor"
	ControlRefresh     ControlType = "refresh"
	ControlHolder      ControlType = "holder"
	ControlCursor      ControlType = "cursor"
	ControlMode        ControlType = "mode"
	ControlQuality     ControlType = "quality"
	ControlAck         ControlType = "ack"
	ControlModeRequest ControlType = "mode_request"
	ControlModeRefused ControlType = "mode_refused"
	ControlPointer     ControlType = "pointer"
	ControlMark        ControlType = "mark"
	ControlClipboard   ControlType = "clipboard"
)

// ControlMsg is one message on the control channel.
//
// Added 2026-11-23 (modes, guidance, clipboard):
//   - "mode" (agent→viewer) also carries Features, what the session offers
//     in that mode (FeatureChat, FeatureFile, FeatureClipboard,
//     FeatureGuidance), FileMax, the policy's size limit for a file, and
//     Modes, the modes a technician may ask for.
//   - "mode_request" (viewer→agent): a technician asks to switch to Mode.
//     The end user accepts where the policy asks for acceptance; the agent
//     then reports the mode to the server, which records it and tells
//     everyone ("session"), and every viewer gets "mode". A refusal comes
//     back to the asking viewer as "mode_refused" with Text saying why.
//   - "pointer" (viewer→agent, Guidance): the technician's pointer at X, Y;
//     "mark" (viewer→agent, Guidance): a short stroke through Points
//     (x0, y0, x1, y1, ... in monitor pixels). Both are drawn over the end
//     user's screen and never injected as input. "pointer" with X = Y = -1
//     hides it.
//   - "clipboard" (both ways, Active mode with clipboard sync on): Text is
//     the clipboard's text. Only the control holder's goes to the endpoint;
//     the endpoint's goes to the holder.
type ControlMsg struct {
	T ControlType `json:"t"`
	// Monitors lists the endpoint's displays (agent→viewer, "monitors").
	Monitors []Monitor `json:"monitors,omitempty"`
	// Capture names how the endpoint's screen is captured ("monitors"):
	// x11shm, x11, portable, dxgi, or on Wayland desktops wlr, mutter or
	// portal. Added 2026-12-04; older agents leave it out.
	Capture string `json:"capture,omitempty"`
	// Index selects a monitor ("monitor", viewer→agent; and in "monitors",
	// the one being sent).
	Index int `json:"i,omitempty"`
	// Holder is the viewer id in control ("holder", agent→viewer).
	Holder string `json:"holder,omitempty"`
	// Cursor position in monitor pixels ("cursor", agent→viewer).
	X int `json:"x,omitempty"`
	Y int `json:"y,omitempty"`
	// Mode of the session ("mode").
	Mode Mode `json:"mode,omitempty"`
	// Quality 1-100 for lossy tiles ("quality", viewer→agent).
	Quality int `json:"q,omitempty"`
	// Seq is the last frame the viewer has drawn ("ack", viewer→agent,
	// added 2026-11-23). A viewer that acks gets at most a couple of
	// frames ahead of what it has drawn; newer frames replace older ones
	// instead of queueing behind them, so latency stays bounded when the
	// viewer decodes slower than the endpoint changes.
	Seq uint32 `json:"seq,omitempty"`
	// Busy says the viewer had more frames waiting when it drew Seq
	// ("ack"): it is the bottleneck, and the agent keeps at most a couple
	// of frames ahead. A viewer that keeps up acks lazily (a few times a
	// second) and the agent may run further ahead: fewer packets while
	// typing.
	Busy bool `json:"busy,omitempty"`
	// Features offered in the current mode ("mode").
	Features []string `json:"features,omitempty"`
	// FileMax is the largest file the policy lets through, in bytes ("mode").
	FileMax int64 `json:"file_max,omitempty"`
	// Modes the session may switch to, in order of precedence ("mode").
	Modes []Mode `json:"modes,omitempty"`
	// Notice says what the endpoint withholds in this session and why
	// ("mode", agent→viewer; added 2026-12-02): a helper running with
	// administrator rights (a login screen) offers no chat or file
	// transfer and shows no window but the acceptance prompt.
	Notice string `json:"notice,omitempty"`
	// Text: the clipboard ("clipboard"), or why a mode request was refused.
	Text string `json:"text,omitempty"`
	// Points of a guidance stroke ("mark"), x and y alternating.
	Points []int `json:"pts,omitempty"`
}

// Features a mode may offer (ControlMsg.Features).
const (
	FeatureChat      = "chat"
	FeatureFile      = "file"
	FeatureClipboard = "clipboard"
	FeatureGuidance  = "guidance"
)

// MaxControlMessage bounds one control channel message (a clipboard's
// text is the largest); MaxClipboardText bounds the text itself.
const (
	MaxControlMessage = 64 << 10
	MaxClipboardText  = 48 << 10
)

// Monitor is one display of the endpoint, in virtual-screen pixels.
type Monitor struct {
	X       int  `json:"x"`
	Y       int  `json:"y"`
	W       int  `json:"w"`
	H       int  `json:"h"`
	Primary bool `json:"primary,omitempty"`
}
