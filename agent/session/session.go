// Package session is the session helper's side of a screen-share session:
// the attended prompt, the agent signalling websocket, one pion
// PeerConnection per viewer with the negotiated screen, input and control
// data channels, capture and encoding once per frame for every viewer of a
// monitor, and input gated to the control holder in Active mode. Every
// goroutine of a session is owned by it; when it ends, nothing of it is
// kept.
package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/tetherdesk/tether/agent/client"
	"github.com/tetherdesk/tether/agent/netproxy"
	"github.com/tetherdesk/tether/agent/record"
	"github.com/tetherdesk/tether/agent/session/filexfer"
	"github.com/tetherdesk/tether/agent/tools/files"
	"github.com/tetherdesk/tether/agent/tools/procs"
	"github.com/tetherdesk/tether/agent/tools/terminal"
	"github.com/tetherdesk/tether/shared/policy"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Defaults.
const (
	// DefaultFrameInterval: how often the stream loop looks for changes
	// (and the pointer) when the source cannot announce them.
	DefaultFrameInterval = 33 * time.Millisecond
	// DefaultMinFrameGap: frames are at least this far apart (~60/s at
	// most), however often the screen changes.
	DefaultMinFrameGap = 16 * time.Millisecond
	// DefaultMaxBuffered: a viewer whose screen channel holds more than
	// this skips frames until it drains, then gets a full frame.
	DefaultMaxBuffered = 2 << 20
	// DefaultMaxInFlight: frames sent to an acking viewer beyond the last
	// one it has drawn. Two keep the pipe busy without a backlog.
	DefaultMaxInFlight = 2
	dialTimeout        = 20 * time.Second
	// DefaultOutageLimit is how long a lost signalling connection is
	// dialled again before the session ends connection_lost.
	DefaultOutageLimit = 60 * time.Second
	writeTimeout       = 5 * time.Second
	keepaliveTimeout   = 10 * time.Second
	maxSignal          = 1 << 20
	inputQueue         = 256
)

// Config configures one session.
type Config struct {
	Start       protocol.ScreenShareStart
	Server      string // server base URL
	Fingerprint string // pinned certificate, "" for system roots
	// Proxy carries the signalling websocket and TURN over TCP (CONNECT):
	// the service's local relay. nil: the environment's proxy for the
	// websocket, none for TURN.
	Proxy  *url.URL
	Policy policy.ScreenShare
	// Resume takes over a session another helper ran (the active desktop
	// changed): no prompt, no state reported again, and "reconnect" tells
	// the viewers to take this helper's offers.
	Resume bool
	// Privileged: the helper runs as root (LocalSystem on Windows). The
	// session then shows no window but the acceptance prompts and offers
	// neither chat nor file transfer (privileged.go).
	Privileged bool

	UI          UI
	NewSource   func() (FrameSource, error)
	NewEncoder  func() FrameEncoder
	NewInjector func() (Injector, error)
	// Report is told every state change (for the service's log and
	// status); optional.
	Report func(state protocol.SessionState, reason protocol.Reason, errText string)
	// SecureAttention, when set, raises Ctrl+Alt+Del through the service
	// instead of injecting the keys (Windows allows it only from there).
	SecureAttention func() error
	// NewChatWindow opens the end user's chat window, NewClipboard the
	// endpoint's clipboard, NewOverlay the Guidance overlay: the helper
	// passes agent/desktop's. Without one, that feature is unavailable
	// and the session goes on without it.
	NewChatWindow func(ChatWindowConfig) (ChatWindow, error)
	NewClipboard  func() (Clipboard, error)
	NewOverlay    func() (Overlay, error)
	// Downloads is where received files go (default: the user's Downloads
	// folder, found when the first file arrives).
	Downloads string
	// OnLive, when set, is called when the session goes live with what the
	// tray may do with it; it must not block.
	OnLive func(LiveControls)

	Logger        *slog.Logger
	FrameInterval time.Duration
	MinFrameGap   time.Duration
	MaxBuffered   uint64
	MaxInFlight   int
	// NoVideo keeps moving pictures on the tile path (no VP8 track).
	NoVideo bool
	// RecordDir holds a recorded session's files until they are uploaded
	// (default: tether/recordings in the user's cache directory).
	RecordDir string
	// SettingEngine tunes pion (tests allow loopback candidates).
	SettingEngine *webrtc.SettingEngine
	// HTTPClient overrides the client used to dial the websocket (tests).
	HTTPClient *http.Client
	// OutageLimit bounds a signalling outage (DefaultOutageLimit): the
	// session redials with back-off meanwhile and goes on as it was.
	OutageLimit time.Duration
	// KeepaliveInterval is how often the signalling connection is pinged
	// (15 s); an unanswered ping drops it as an outage.
	KeepaliveInterval time.Duration

	// Tools are the support tools this runner opens (protocol.Tools): a
	// session for another one ends at once, saying so. Terminal
	// configures their shells (default: the user's login shell).
	Tools    []string
	Terminal terminal.Config
	// NoUser: nobody is logged on to be asked (the service runs the
	// tool); the policy's tools_without_user decides, and nobody is asked.
	NoUser bool

	// onDrop is called for each dropped input event (tests).
	onDrop func(viewer, why string)
}

// CheckAndSetDefaults validates the config and fills in defaults.
func (c *Config) CheckAndSetDefaults() error {
	if c.Start.SessionID == "" {
		return errors.New("session: no session id")
	}
	if c.Start.AgentToken == "" {
		return errors.New("session: no agent token")
	}
	if _, err := client.ParseServerURL(c.Server); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	if c.UI == nil || (c.Start.Tool == "" && (c.NewSource == nil || c.NewEncoder == nil || c.NewInjector == nil)) {
		return errors.New("session: UI, NewSource, NewEncoder and NewInjector are required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Report == nil {
		c.Report = func(protocol.SessionState, protocol.Reason, string) {}
	}
	if c.FrameInterval <= 0 {
		c.FrameInterval = DefaultFrameInterval
	}
	if c.MinFrameGap <= 0 {
		c.MinFrameGap = DefaultMinFrameGap
	}
	if c.MaxBuffered == 0 {
		c.MaxBuffered = DefaultMaxBuffered
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.OutageLimit <= 0 {
		c.OutageLimit = DefaultOutageLimit
	}
	if c.KeepaliveInterval <= 0 {
		c.KeepaliveInterval = 15 * time.Second
	}
	if c.Policy.AcceptanceTimeoutS == 0 {
		c.Policy = policy.Default()
	}
	if c.NewChatWindow == nil {
		c.NewChatWindow = func(ChatWindowConfig) (ChatWindow, error) { return nil, errNoDevice }
	}
	if c.NewClipboard == nil {
		c.NewClipboard = func() (Clipboard, error) { return nil, errNoDevice }
	}
	if c.NewOverlay == nil {
		c.NewOverlay = func() (Overlay, error) { return nil, errNoDevice }
	}
	c.applyPrivileged()
	return nil
}

// Session is one live screen-share session in the helper.
type Session struct {
	cfg  Config
	log  *slog.Logger
	ctx  context.Context // session scope: cancelled at the end
	stop context.CancelFunc
	wg   sync.WaitGroup
	ws   *websocket.Conn
	wmu  sync.Mutex
	api  *webrtc.API
	// noVideo: no video track (Config.NoVideo, no libvpx, or its encoder
	// failed).
	noVideo atomic.Bool
	// rec records the session where the policy says so (record.go).
	rec   atomic.Pointer[record.Recorder]
	kick  chan struct{}
	input chan inputItem
	drop  chan *viewer // viewers whose peer connection failed

	mu        sync.Mutex
	state     protocol.SessionState
	mode      protocol.Mode
	holder    string
	helloSeen bool
	accepted  bool
	ice       []webrtc.ICEServer
	icePolicy webrtc.ICETransportPolicy
	viewers   map[string]*viewer
	pending   []string
	// relayWanted are viewers that asked for the WebSocket relay before
	// their peer connection could be made (relay.go).
	relayWanted map[string]bool
	monitors    []protocol.Monitor
	// captureMethod names the capture path in use (capture.Method), for
	// the viewer.
	captureMethod string
	activeSent    bool
	quality       int // a viewer's choice of image quality; 0: adaptive
	drops         int
	chosenMode    protocol.Mode // a mode the user picked instead of the requested one

	plan modePlan
	// pendingMode is a mode change the user accepted (or that needed no
	// acceptance), waiting for the server to record it; modeAsker is the
	// viewer that asked, modeBusy is set from the request until the end of
	// that wait.
	pendingMode protocol.Mode
	modeAsker   string
	modeBusy    bool
	modeSeq     int
	modeExpired chan int
	closing     bool              // teardown began: spawn starts nothing more
	names       map[string]string // viewer id → technician's name
	streaming   bool              // the stream loop runs
	live        bool              // startLive ran
	chat        *chatHub
	files       *filexfer.Hub
	clip        *clipSync
	guide       *guidance
	tools       toolLog          // a tool session's terminal output (tools.go)
	admins      adminState       // a processes or services session's (admin.go)
	fileXfers   *files.Transfers // a files session's (filetool.go), under mu
}

// Run runs the session until it ends and returns the reason it ended.
// Cancelling ctx ends it (the service said so, or the helper stops); the
// caller then knows the reason. Everything the session started is stopped
// and closed before Run returns.
func Run(ctx context.Context, cfg Config) (reason protocol.Reason, err error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return protocol.EndedError, err
	}
	s := &Session{
		cfg:         cfg,
		log:         cfg.Logger.With("component", "session", "session_id", cfg.Start.SessionID),
		kick:        make(chan struct{}, 1),
		input:       make(chan inputItem, inputQueue),
		drop:        make(chan *viewer, 16),
		viewers:     map[string]*viewer{},
		state:       protocol.SessionRequested,
		relayWanted: map[string]bool{},
		names:       map[string]string{},

		modeExpired: make(chan int),
	}
	plan, planErr := planModes(cfg.Start, cfg.Policy)
	if cfg.Start.Tool != "" {
		plan, planErr = modePlan{}, nil // a tool has no modes
	}
	s.plan, s.mode = plan, plan.Mode
	if planErr == nil && plan.Mode != cfg.Start.Mode && cfg.Start.Tool == "" {
		// The endpoint's policy does not allow what was asked: the session
		// starts in its first enabled mode and says so when connecting.
		s.chosenMode = plan.Mode
	}
	s.admins.lister = procs.NewLister()
	s.chat = newChatHub(s)
	s.clip = newClipSync(s)
	s.guide = newGuidance(s)
	// The session scope ends in teardown, after the loop saw ctx end and
	// told the server why; the websocket must outlive ctx until then.
	s.ctx, s.stop = context.WithCancel(context.WithoutCancel(ctx))
	s.files = newFiles(s)
	defer s.stop()
	se := webrtc.SettingEngine{}
	if cfg.SettingEngine != nil {
		se = *cfg.SettingEngine
	}
	if cfg.Proxy != nil {
		se.SetICEProxyDialer(netproxy.Dialer{Proxy: cfg.Proxy})
	}
	if !cfg.NoVideo {
		if s.api, err = videoAPI(se); err != nil {
			s.log.Info("no video track: moving pictures go as tiles", "error", err)
		}
	}
	if s.api == nil {
		s.noVideo.Store(true)
		s.api = webrtc.NewAPI(webrtc.WithSettingEngine(se))
	}

	ws, err := s.dial(s.ctx)
	if err != nil {
		s.setState(protocol.SessionEnded, protocol.EndedError, err.Error())
		return protocol.EndedError, err
	}
	s.ws = ws
	s.spawn(s.sendLeftovers)
	if cfg.Resume {
		// Sent before any offer, so viewers hear of the move first.
		if err := s.send(protocol.Signal{Type: protocol.SignalReconnect, Reason: protocol.ReconnectDesktopChanged}); err != nil {
			s.log.Warn("telling the viewers about the desktop change", "error", err)
		}
	}
	reason, err = s.loop(ctx)
	s.teardown()
	return reason, err
}

func (s *Session) dial(ctx context.Context) (*websocket.Conn, error) {
	base, err := client.ParseServerURL(s.cfg.Server)
	if err != nil {
		return nil, err
	}
	p := s.cfg.Start.SignalPath
	if p == "" {
		p = protocol.PathAgentSignal
	}
	p = strings.ReplaceAll(p, "{id}", url.PathEscape(s.cfg.Start.SessionID))
	ref, err := url.Parse(p)
	if err != nil {
		return nil, fmt.Errorf("signal path: %w", err)
	}
	u := base.JoinPath(ref.Path)
	u.RawQuery = ref.RawQuery
	hc, err := s.httpClient()
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	ws, resp, err := websocket.Dial(dctx, u.String(), &websocket.DialOptions{
		HTTPClient: hc,
		HTTPHeader: http.Header{"Authorization": []string{"Bearer " + s.cfg.Start.AgentToken}},
	})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("connecting the signalling websocket: server answered %s", resp.Status)
		}
		return nil, fmt.Errorf("connecting the signalling websocket: %w", err)
	}
	ws.SetReadLimit(maxSignal)
	return ws, nil
}

// httpClient reaches the server as the signalling does: the pinned
// certificate, the service's proxy.
func (s *Session) httpClient() (*http.Client, error) {
	if s.cfg.HTTPClient != nil {
		return s.cfg.HTTPClient, nil
	}
	tlsCfg, err := client.TLSConfig(s.cfg.Fingerprint)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	if s.cfg.Proxy != nil {
		tr.Proxy = http.ProxyURL(s.cfg.Proxy)
	}
	return &http.Client{Transport: tr}, nil
}

// redial connects the signalling websocket again, with back-off, for up
// to the outage limit; it gives up early when parent ends.
func (s *Session) redial(parent context.Context) error {
	deadline := time.Now().Add(s.cfg.OutageLimit)
	wait := 250 * time.Millisecond
	for {
		ctx, cancel := context.WithDeadline(s.ctx, deadline)
		ws, err := s.dial(ctx)
		cancel()
		if err == nil {
			s.wmu.Lock()
			old := s.ws
			s.ws = ws
			s.wmu.Unlock()
			old.CloseNow()
			return nil
		}
		if !time.Now().Add(wait).Before(deadline) {
			return fmt.Errorf("signalling connection down for %s: %w", s.cfg.OutageLimit, err)
		}
		s.log.Debug("signalling not back yet", "error", err, "retry_in", wait)
		select {
		case <-parent.Done():
			return parent.Err()
		case <-s.ctx.Done():
			return s.ctx.Err()
		case <-time.After(wait): // back-off between dials
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// send writes one signal; it is safe for concurrent use.
func (s *Session) send(sig protocol.Signal) error {
	b, err := json.Marshal(sig)
	if err != nil {
		return fmt.Errorf("encoding signal: %w", err)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if err := s.ws.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("sending %s signal: %w", sig.Type, err)
	}
	return nil
}

// setState records, logs and reports a state change; it does not signal.
func (s *Session) setState(state protocol.SessionState, reason protocol.Reason, errText string) {
	s.mu.Lock()
	s.state = state
	s.mu.Unlock()
	attrs := []any{"state", state}
	if reason != "" {
		attrs = append(attrs, "reason", reason)
	}
	if errText != "" {
		attrs = append(attrs, "error", errText)
	}
	s.log.Info("session state", attrs...)
	s.cfg.Report(state, reason, errText)
}

// transition records a state change and tells the server.
func (s *Session) transition(state protocol.SessionState, reason protocol.Reason, errText string) {
	s.setState(state, reason, errText)
	sig := protocol.Signal{Type: protocol.SignalState, State: state, Reason: reason, Message: errText}
	if state == protocol.SessionConnecting {
		// The mode travels only when the user accepted another one; the
		// server allows a mode change only then.
		s.mu.Lock()
		sig.Mode = s.chosenMode
		s.mu.Unlock()
	}
	if err := s.send(sig); err != nil {
		s.log.Warn("reporting session state to the server", "state", state, "error", err)
	}
}

func (s *Session) currentMode() protocol.Mode {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mode
}

type promptResult struct {
	ans Answer
	err error
}

// loop is the session's state machine. It returns the reason the session
// ended.
func (s *Session) loop(parent context.Context) (protocol.Reason, error) {
	sigs := make(chan protocol.Signal)
	readErr := make(chan error, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.readLoop(sigs, readErr)
	}()

	start := s.cfg.Start
	var (
		promptDone chan promptResult
		userEnd    = make(chan struct{}, 1)
	)
	asks := s.cfg.Policy.AcceptanceRequired
	if s.isTool() {
		asks = s.cfg.Policy.ToolsAcceptanceRequired && !s.cfg.NoUser
	}
	if msg := s.startRefusal(); msg != "" {
		s.transition(protocol.SessionEnded, protocol.EndedError, msg)
		return protocol.EndedError, errors.New(msg)
	}
	switch {
	case s.cfg.Resume:
		// Accepted before, on the previous desktop.
		s.log.Info("session taken over from another desktop's helper")
		s.startLive(userEnd)
	case start.Attended && !asks:
		// The endpoint's policy connects attended sessions without asking;
		// the attended state machine still passes awaiting_acceptance.
		s.transition(protocol.SessionAwaitingAcceptance, "", "")
		s.accept(userEnd)
	case start.Attended:
		s.transition(protocol.SessionAwaitingAcceptance, "", "")
		promptDone = make(chan promptResult, 1)
		timeout := start.AcceptanceTimeoutS
		if timeout <= 0 {
			timeout = s.cfg.Policy.AcceptanceTimeoutS
		}
		pctx, cancel := context.WithTimeout(s.ctx, time.Duration(timeout)*time.Second)
		req := AskRequest{SessionID: start.SessionID, Technician: start.Technician, Mode: s.mode, TimeoutS: timeout,
			Alternatives: slices.Clone(s.plan.Alternatives), Recorded: start.Record, Tool: start.Tool}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer cancel()
			ans, err := s.cfg.UI.Ask(pctx, req)
			if err == nil && pctx.Err() != nil {
				err = pctx.Err() // answered too late
			}
			promptDone <- promptResult{ans, err}
		}()
	default:
		s.accept(userEnd)
	}

	for {
		select {
		case <-parent.Done():
			if errors.Is(context.Cause(parent), ErrDropped) {
				// Another helper has the session now: leave without a word
				// to the server; teardown closes our peers and websocket.
				s.log.Info("session handed to another desktop's helper")
				return ReasonDropped, nil
			}
			reason, msg := protocol.EndedError, "the session helper stopped"
			var ee EndError
			if errors.As(context.Cause(parent), &ee) {
				reason, msg = ee.Reason, ""
			}
			s.transition(protocol.SessionEnded, reason, msg)
			return reason, nil
		case err := <-readErr:
			// The peers do not need the signalling while they run: dial it
			// again, and the session goes on as it was (no new prompt; the
			// server greets us again and names the viewers, whose peers
			// stay as they are).
			if websocket.CloseStatus(err) == websocket.StatusPolicyViolation {
				// The server closed it for a newer connection of the
				// session (another helper took it over): dialling again
				// would take it back.
				s.log.Warn("signalling connection replaced", "error", err)
				s.setState(protocol.SessionEnded, protocol.EndedError, "signalling connection replaced")
				return protocol.EndedError, err
			}
			s.log.Warn("signalling connection lost; connecting again", "error", err)
			if rerr := s.redial(parent); rerr != nil {
				if parent.Err() != nil {
					continue // ended or dropped meanwhile: the case above says how
				}
				s.log.Warn("signalling connection lost for good", "error", rerr)
				s.setState(protocol.SessionEnded, protocol.EndedConnectionLost, rerr.Error())
				return protocol.EndedConnectionLost, rerr
			}
			s.log.Info("signalling connection back")
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.readLoop(sigs, readErr)
			}()
		case sig := <-sigs:
			if reason, done := s.handle(sig, userEnd); done {
				s.setState(protocol.SessionEnded, reason, "")
				return reason, nil
			}
		case r := <-promptDone:
			promptDone = nil
			if parent.Err() != nil {
				// Dropped or ended as the user answered: the session has
				// left this desktop, and its user's answer no longer
				// counts (a dropped session is asked again on the next).
				continue
			}
			switch {
			case r.err != nil && s.ctx.Err() == nil && errors.Is(r.err, context.DeadlineExceeded):
				s.transition(protocol.SessionEnded, protocol.EndedAcceptTimeout, "")
				return protocol.EndedAcceptTimeout, nil
			case r.err != nil:
				s.transition(protocol.SessionEnded, protocol.EndedError, r.err.Error())
				return protocol.EndedError, r.err
			case !r.ans.Accepted:
				s.transition(protocol.SessionEnded, protocol.EndedDeclined, "")
				return protocol.EndedDeclined, nil
			}
			if m := s.plan.chosen(r.ans.Mode); m != s.currentMode() {
				s.mu.Lock()
				s.mode, s.chosenMode = m, m
				s.mu.Unlock()
			}
			s.accept(userEnd)
		case <-userEnd:
			s.transition(protocol.SessionEnded, protocol.EndedByUser, "")
			return protocol.EndedByUser, nil
		case v := <-s.drop:
			// The path died (an outage longer than ICE's patience): a new
			// peer connection and offer for the same viewer, which the
			// viewer takes as a fresh start; the session, its acceptance
			// and control go on. A viewer that left is gone by then
			// (viewer_left), and one the server no longer has is refused.
			id := v.id
			s.mu.Lock()
			current := s.viewers[id] == v // not replaced meanwhile (the relay)
			gone := s.closing || s.ctx.Err() != nil
			s.mu.Unlock()
			if !current {
				break
			}
			s.removeViewer(id)
			if !gone {
				s.log.Info("viewer's peer connection failed; offering a new one", "viewer_id", id)
				s.addViewer(id)
			}
		case seq := <-s.modeExpired:
			s.refusePending(seq, "the server did not record the change in time")
		}
	}
}

// startRefusal says why the session cannot start ("" when it can): a
// tool this runner does not open or the policy does not allow, a screen
// share with no mode enabled or unattended against the policy.
func (s *Session) startRefusal() string {
	switch {
	case s.isTool() && s.toolRefusal() != "":
		return s.toolRefusal()
	case s.isTool() && s.cfg.Resume:
		// A tool's session does not move between desktops: its shells
		// stayed with the helper that ran them.
		return "a support tool's session does not follow a change of desktop"
	case s.isTool():
		return ""
	case len(s.plan.Enabled) == 0:
		return "no mode of this session is enabled by the endpoint's policy"
	case !s.cfg.Start.Attended && !s.cfg.Policy.UnattendedAllowed:
		return "unattended sessions are not allowed by this endpoint's policy"
	}
	return ""
}

// accept moves to connecting: starts the live notice, the frame and input
// loops, and peer connections for viewers who are already waiting.
func (s *Session) accept(userEnd chan<- struct{}) {
	s.transition(protocol.SessionConnecting, "", "")
	s.startLive(userEnd)
}

// startLive starts what runs while the session is accepted. The stream
// loop starts only once the session is in a mode that shows the screen:
// a Chat or File transfer session never opens the frame source.
func (s *Session) startLive(userEnd chan<- struct{}) {
	s.mu.Lock()
	s.accepted = true
	s.live = true
	mode := s.mode
	s.mu.Unlock()
	live := LiveInfo{
		Technician: s.cfg.Start.Technician,
		MayEnd:     s.cfg.Start.UserMayEnd && s.cfg.Policy.UserMayEnd,
		End: func() {
			select {
			case userEnd <- struct{}{}:
			default:
			}
		},
		Mode: s.currentMode,
	}
	if s.isTool() {
		live.Tool = s.cfg.Start.Tool
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.cfg.UI.Live(s.ctx, live)
		}()
		s.startPending()
		return
	}
	s.startRecording()
	s.recEvent(protocol.RecEventMode, "", string(mode))
	live.OpenChat, live.Recorded = s.chat.open, s.rec.Load() != nil
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.cfg.UI.Live(s.ctx, live)
	}()
	go func() {
		defer s.wg.Done()
		s.inputLoop()
	}()
	s.enterMode("", mode)
	if s.cfg.OnLive != nil {
		s.cfg.OnLive(LiveControls{SessionID: s.cfg.Start.SessionID, Technician: s.cfg.Start.Technician,
			Mode: s.currentMode, OpenChat: s.chat.open})
	}
	s.startPending()
}

func (s *Session) startPending() {
	s.mu.Lock()
	if !s.accepted || !s.helloSeen {
		s.mu.Unlock()
		return
	}
	ids := s.pending
	s.pending = nil
	s.mu.Unlock()
	for _, id := range ids {
		s.addViewer(id)
	}
}

func (s *Session) readLoop(sigs chan<- protocol.Signal, readErr chan<- error) {
	s.wmu.Lock()
	ws := s.ws
	s.wmu.Unlock()
	stop := make(chan struct{})
	defer close(stop)
	go s.keepalive(ws, stop)
	for {
		typ, b, err := ws.Read(s.ctx)
		if err != nil {
			if s.ctx.Err() == nil {
				readErr <- err
			}
			return
		}
		if typ == websocket.MessageBinary {
			s.onRelayFrame(b)
			continue
		}
		var sig protocol.Signal
		if err := json.Unmarshal(b, &sig); err != nil {
			s.log.Warn("ignoring malformed signal", "error", err)
			continue
		}
		select {
		case sigs <- sig:
		case <-s.ctx.Done():
			return
		}
	}
}

// keepalive pings the server on ws until stop closes; a ping unanswered
// within keepaliveTimeout (or two thirds of the interval) drops ws, so that a connection a network outage
// silenced is noticed (its reader fails, and the session dials again)
// instead of waiting for TCP to give up.
func (s *Session) keepalive(ws *websocket.Conn, stop <-chan struct{}) {
	t := time.NewTicker(s.cfg.KeepaliveInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(s.ctx, min(keepaliveTimeout, s.cfg.KeepaliveInterval*2/3))
		err := ws.Ping(ctx)
		cancel()
		if err != nil && s.ctx.Err() == nil {
			s.log.Warn("signalling keepalive unanswered; dropping the connection", "error", err)
			ws.CloseNow()
			return
		}
	}
}

// handle applies one signal from the server; done reports the end.
func (s *Session) handle(sig protocol.Signal, userEnd chan<- struct{}) (reason protocol.Reason, done bool) {
	switch sig.Type {
	case protocol.SignalHello:
		s.mu.Lock()
		s.helloSeen = true
		s.ice = iceServers(sig.ICEServers)
		s.icePolicy = webrtc.ICETransportPolicyAll
		if sig.ICETransportPolicy == "relay" {
			s.icePolicy = webrtc.ICETransportPolicyRelay
		}
		s.mu.Unlock()
		if sig.Session != nil {
			s.applySession(sig.Session)
		}
		s.startPending()
	case protocol.SignalViewerJoined:
		if sig.ViewerID == "" {
			return "", false
		}
		s.mu.Lock()
		ready := s.accepted && s.helloSeen
		if !ready && !slices.Contains(s.pending, sig.ViewerID) {
			s.pending = append(s.pending, sig.ViewerID)
		}
		s.mu.Unlock()
		if ready {
			s.addViewer(sig.ViewerID)
		}
	case protocol.SignalViewerLeft:
		s.mu.Lock()
		s.pending = slices.DeleteFunc(s.pending, func(id string) bool { return id == sig.ViewerID })
		delete(s.relayWanted, sig.ViewerID)
		s.mu.Unlock()
		s.removeViewer(sig.ViewerID)
	case protocol.SignalAnswer:
		if v := s.viewer(sig.ViewerID); v != nil {
			if err := v.setAnswer(sig.SDP); err != nil {
				s.log.Warn("applying viewer answer", "viewer_id", sig.ViewerID, "error", err)
				s.removeViewer(sig.ViewerID)
			}
		}
	case protocol.SignalCandidate:
		if v := s.viewer(sig.ViewerID); v != nil {
			if err := v.addCandidate(sig.Candidate); err != nil {
				s.log.Debug("ignoring viewer candidate", "viewer_id", sig.ViewerID, "error", err)
			}
		}
	case protocol.SignalRelay:
		s.relayViewer(sig.ViewerID)
	case protocol.SignalControl:
		s.setHolder(sig.Holder)
	case protocol.SignalSession:
		if sig.Session != nil {
			s.applySession(sig.Session)
			if sig.Session.State == protocol.SessionEnded {
				return EndReason(sig.Session.Reason), true
			}
		}
	case protocol.SignalEnd:
		return EndReason(sig.Reason), true
	case protocol.SignalError:
		s.log.Warn("server reported a signalling error", "message", sig.Message)
		s.modeRefusedByServer(sig.Message)
	}
	return "", false
}

// errNoDevice: the helper gave the session no chat window, clipboard or
// overlay (agent/desktop has the real ones).
var errNoDevice = errors.New("not available on this desktop")

// ErrDropped is the cancel cause that drops a session without ending it:
// the service handed it to another desktop's helper.
var ErrDropped = errors.New("session handed to another helper")

// ReasonDropped is what Run returns for a dropped session; it is not a
// protocol end reason (the session goes on elsewhere).
const ReasonDropped = "dropped"

// EndError is the cancel cause that ends a session with a reason (the
// service asked the helper to end it).
type EndError struct{ Reason protocol.Reason }

func (e EndError) Error() string { return "session ended: " + string(e.Reason) }

// EndReason is the protocol end reason of an end the service asked for
// ("" is the technician's).
func EndReason(r protocol.Reason) protocol.Reason {
	if r == "" {
		return protocol.EndedByTechnician
	}
	return r
}

func (s *Session) applySession(ss *protocol.Session) {
	s.mu.Lock()
	for _, v := range ss.Viewers {
		s.names[v.ID] = v.User
	}
	s.mu.Unlock()
	s.setHolder(ss.ControlHolder)
	if ss.Mode != "" {
		s.serverMode(ss.Mode)
	}
}

func (s *Session) setHolder(h string) {
	s.mu.Lock()
	if s.holder == h {
		s.mu.Unlock()
		return
	}
	s.holder = h
	vs := s.viewerList()
	s.mu.Unlock()
	s.log.Info("control holder changed", "holder", h)
	if h == "" {
		s.recEvent(protocol.RecEventControl, "", "nobody has control")
	} else {
		s.recEvent(protocol.RecEventControl, s.viewerName(h), "has control")
	}
	for _, v := range vs {
		v.sendControl(protocol.ControlMsg{T: protocol.ControlHolder, Holder: h})
	}
	s.clip.holderChanged(h)
}

func (s *Session) viewer(id string) *viewer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.viewers[id]
}

// viewerList snapshots the viewers; s.mu must be held.
func (s *Session) viewerList() []*viewer {
	vs := make([]*viewer, 0, len(s.viewers))
	for _, v := range s.viewers {
		vs = append(vs, v)
	}
	return vs
}

func (s *Session) removeViewer(id string) {
	s.mu.Lock()
	v := s.viewers[id]
	delete(s.viewers, id)
	s.mu.Unlock()
	if v != nil {
		v.close()
		s.files.ViewerGone(id)
		s.log.Info("viewer left", "viewer_id", id)
		s.recEvent(protocol.RecEventViewer, s.viewerName(id), "left")
	}
}

// teardown stops everything the session started, within a couple of
// seconds: peer connections, capture, input, prompt and notices, the
// websocket; and drops the session's state.
func (s *Session) teardown() {
	s.stop()
	s.mu.Lock()
	s.closing = true
	vs := s.viewerList()
	s.viewers = map[string]*viewer{}
	s.pending = nil
	s.monitors = nil
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, v := range vs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.close()
		}()
	}
	wg.Wait()
	if s.ws != nil {
		s.ws.CloseNow()
	}
	s.wg.Wait()
	s.guide.close()
	s.clip.close()
	s.chat.close()
	s.files.Close()
	s.finishRecording()
	s.endKept()
	s.uploadTranscript()
	s.admins.close()
	if s.fileXfers != nil {
		s.fileXfers.Close()
	}
	s.log.Debug("session torn down", "input_dropped", s.drops)
}

func iceServers(in []protocol.ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(in))
	for _, s := range in {
		is := webrtc.ICEServer{URLs: s.URLs, Username: s.Username}
		if s.Credential != "" {
			is.Credential = s.Credential
		}
		out = append(out, is)
	}
	return out
}
