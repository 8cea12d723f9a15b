package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/policy"
	"github.com/tetherdesk/tether/shared/protocol"
	"github.com/tetherdesk/tether/shared/screen"
)

// wait bounds every wait in these tests; it is a ceiling for a loaded
// machine, never a timing assertion.
const wait = 30 * time.Second

func testLogger(testing.TB) *slog.Logger { return testenv.Logger("SESSION_TEST_LOGS") }

// fakeServer is the server's agent signalling endpoint.
type fakeServer struct {
	t     testing.TB
	srv   *httptest.Server
	conns chan *websocket.Conn
	auths chan string
	done  chan struct{}
	// refuse answers 503 to every dial (the server is unreachable).
	refuse atomic.Bool
	// recordings are the uploads to PathAgentRecording; recordStatus
	// answers them (0: 201).
	recordings   chan upload
	recordStatus atomic.Int32
	// transcripts are the terminal transcripts posted (tools_test.go).
	transcripts chan transcriptUpload
}

// upload is a recording the fake server received.
type upload struct {
	auth     string
	timeline protocol.RecordingTimeline
	video    []byte
}

func newFakeServer(t testing.TB) *fakeServer {
	f := &fakeServer{t: t, conns: make(chan *websocket.Conn, 1), auths: make(chan string, 1), done: make(chan struct{}),
		recordings: make(chan upload, 4), transcripts: make(chan transcriptUpload, 4)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/agent/v1/sessions/s1/recording" && r.Method == http.MethodPost {
			f.record(w, r)
			return
		}
		if r.URL.Path == "/api/agent/v1/sessions/s1/transcript" && r.Method == http.MethodPost {
			f.transcript(w, r)
			return
		}
		if r.URL.Path != "/api/agent/v1/sessions/s1/signal" {
			http.NotFound(w, r)
			return
		}
		if f.refuse.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		f.auths <- r.Header.Get("Authorization")
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		f.conns <- c
		select {
		case <-f.done:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() {
		close(f.done)
		f.srv.Close()
	})
	return f
}

// record takes an upload as the server does: the timeline part, then the
// video part.
func (f *fakeServer) record(w http.ResponseWriter, r *http.Request) {
	u := upload{auth: r.Header.Get("Authorization")}
	mr, err := r.MultipartReader()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p, err := mr.NextPart()
	if err != nil || p.FormName() != protocol.RecordingPartTimeline || json.NewDecoder(p).Decode(&u.timeline) != nil {
		http.Error(w, "the timeline goes first", http.StatusBadRequest)
		return
	}
	if p, err = mr.NextPart(); err != nil || p.FormName() != protocol.RecordingPartVideo {
		http.Error(w, "then the video", http.StatusBadRequest)
		return
	}
	if u.video, err = io.ReadAll(p); err != nil {
		return
	}
	if code := int(f.recordStatus.Load()); code != 0 {
		http.Error(w, "refused", code)
		return
	}
	f.recordings <- u
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(protocol.RecordingInfo{SessionID: "s1", Size: int64(len(u.video))})
}

// agentConn is the server's view of the agent's websocket, with a reader
// that queues every signal.
type agentConn struct {
	t    testing.TB
	c    *websocket.Conn
	sigs chan protocol.Signal
	// frames are the relay frames (binary messages) the agent sent.
	frames chan protocol.RelayFrame

	mu      sync.Mutex
	viewers map[string]*testViewer
	after   chan protocol.Signal
}

func (f *fakeServer) accept() *agentConn {
	f.t.Helper()
	select {
	case auth := <-f.auths:
		if auth != "Bearer sess-token" {
			f.t.Errorf("Authorization = %q", auth)
		}
	case <-time.After(wait):
		f.t.Fatal("agent did not connect")
	}
	c := <-f.conns
	a := &agentConn{t: f.t, c: c, sigs: make(chan protocol.Signal, 256), frames: make(chan protocol.RelayFrame, 4096)}
	go func() {
		defer close(a.sigs)
		for {
			typ, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if typ == websocket.MessageBinary {
				rf, err := protocol.ParseAgentFrame(b)
				if err != nil {
					a.t.Errorf("the agent sent a malformed relay frame: %v", err)
					continue
				}
				select {
				case a.frames <- rf:
				default:
					a.t.Errorf("relay frames pile up unread")
				}
				continue
			}
			var s protocol.Signal
			if json.Unmarshal(b, &s) == nil {
				a.sigs <- s
			}
		}
	}()
	return a
}

func (a *agentConn) send(s protocol.Signal) {
	a.t.Helper()
	b, _ := json.Marshal(s)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := a.c.Write(ctx, websocket.MessageText, b); err != nil {
		a.t.Fatalf("sending %s: %v", s.Type, err)
	}
}

// next returns the next signal that is not a candidate (those go to
// candidates when it is set).
func (a *agentConn) next(cands func(protocol.Signal)) protocol.Signal {
	a.t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case s, ok := <-a.sigs:
			if !ok {
				a.t.Fatal("agent websocket closed")
			}
			if s.Type == protocol.SignalCandidate {
				if cands != nil {
					cands(s)
				}
				continue
			}
			return s
		case <-timer.C:
			a.t.Fatal("no signal from the agent")
		}
	}
}

func (a *agentConn) expectState(state protocol.SessionState, reason protocol.Reason) protocol.Signal {
	a.t.Helper()
	s := a.next(nil)
	if s.Type != protocol.SignalState || s.State != state || s.Reason != reason {
		a.t.Fatalf("got %+v, want state %s %s", s, state, reason)
	}
	return s
}

// fakeUI answers the prompt from the test.
type fakeUI struct {
	asked   chan AskRequest
	answers chan Answer
	live    chan func()
	mayEnd  atomic.Bool
	// recorded: the session bar was told the session is recorded.
	recorded atomic.Bool
	// Mode changes during the session.
	modeAsked   chan ModeRequest
	modeAnswers chan bool
	notices     chan string
}

func newFakeUI() *fakeUI {
	return &fakeUI{asked: make(chan AskRequest, 1), answers: make(chan Answer, 1), live: make(chan func(), 1),
		modeAsked: make(chan ModeRequest, 4), modeAnswers: make(chan bool, 4), notices: make(chan string, 16)}
}

func (u *fakeUI) AskMode(ctx context.Context, req ModeRequest) (bool, error) {
	u.modeAsked <- req
	select {
	case a := <-u.modeAnswers:
		return a, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (u *fakeUI) Notice(_ context.Context, text string) {
	select {
	case u.notices <- text:
	default:
	}
}

func (u *fakeUI) Ask(ctx context.Context, req AskRequest) (Answer, error) {
	u.asked <- req
	select {
	case a := <-u.answers:
		return a, nil
	case <-ctx.Done():
		return Answer{}, ctx.Err()
	}
}

func (u *fakeUI) Live(ctx context.Context, l LiveInfo) {
	u.mayEnd.Store(l.MayEnd)
	u.recorded.Store(l.Recorded)
	u.live <- l.End
	<-ctx.Done()
}

// fakeSource is a synthetic 128x96 screen whose colour the test sets.
type fakeSource struct {
	made, captures, closed atomic.Int32
	colour                 atomic.Uint32
}

func (f *fakeSource) new() (FrameSource, error) { f.made.Add(1); return f, nil }
func (f *fakeSource) Monitors() ([]protocol.Monitor, error) {
	return []protocol.Monitor{{W: 128, H: 96, Primary: true}}, nil
}
func (f *fakeSource) Capture(int) (*image.RGBA, error) {
	f.captures.Add(1)
	img := image.NewRGBA(image.Rect(0, 0, 128, 96))
	c := f.colour.Load()
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = byte(c>>16), byte(c>>8), byte(c), 255
	}
	return img, nil
}
func (f *fakeSource) Close() error { f.closed.Add(1); return nil }

// solidEncoder encodes a frame as one solid tile (the fake screen is one
// colour).
type solidEncoder struct {
	seq  uint32
	last color.RGBA
	init bool
}

func (e *solidEncoder) Encode(img *image.RGBA, full bool) ([][]byte, error) {
	c := img.RGBAAt(0, 0)
	if !full && e.init && c == e.last {
		return nil, nil
	}
	e.seq++
	var out [][]byte
	b := img.Bounds()
	if !e.init || full { // like agent/encode: a full frame starts with its size
		out = append(out, screen.AppendSize(nil, e.seq, uint16(b.Dx()), uint16(b.Dy())))
	}
	e.init, e.last = true, c
	out = append(out, screen.AppendTile(nil, screen.Tile{Seq: e.seq, W: uint16(b.Dx()), H: uint16(b.Dy()), Enc: screen.EncSolid, Payload: []byte{c.R, c.G, c.B}}))
	return append(out, screen.AppendFrameEnd(nil, e.seq)), nil
}

type fakeInjector struct {
	events chan protocol.InputEvent
	closed atomic.Int32
}

func (f *fakeInjector) Apply(ev protocol.InputEvent, _ protocol.Monitor) error {
	f.events <- ev
	return nil
}
func (f *fakeInjector) Close() error { f.closed.Add(1); return nil }

type harness struct {
	t      testing.TB
	srv    *fakeServer
	ui     *fakeUI
	src    *fakeSource
	inj    *fakeInjector
	drops  chan string
	cfg    Config
	result chan runResult
	cancel context.CancelCauseFunc
	chat   *fakeChat
	clip   *fakeClipboard
	ov     *fakeOverlay
}

type runResult struct {
	reason protocol.Reason
	err    error
}

func loopbackEngine() *webrtc.SettingEngine {
	se := &webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return se
}

func newHarness(t testing.TB, start protocol.ScreenShareStart, pol policy.ScreenShare) *harness {
	h := &harness{t: t, srv: newFakeServer(t), ui: newFakeUI(), src: &fakeSource{},
		inj: &fakeInjector{events: make(chan protocol.InputEvent, 16)}, drops: make(chan string, 64),
		chat: newFakeChat(), clip: newFakeClipboard(), ov: newFakeOverlay()}
	start.SessionID = "s1"
	start.AgentToken = "sess-token"
	start.SignalPath = "/api/agent/v1/sessions/s1/signal"
	start.Technician = "Tess Tech"
	h.cfg = Config{
		Start: start, Server: h.srv.srv.URL, Policy: pol, UI: h.ui,
		NewSource:     h.src.new,
		NewEncoder:    func() FrameEncoder { return &solidEncoder{} },
		NewInjector:   func() (Injector, error) { return h.inj, nil },
		Logger:        testLogger(t),
		FrameInterval: 20 * time.Millisecond,
		SettingEngine: loopbackEngine(),
		onDrop:        func(v, why string) { h.drops <- v + ":" + why },
		NewChatWindow: h.chat.open,
		NewClipboard:  func() (Clipboard, error) { return h.clip, nil },
		NewOverlay:    func() (Overlay, error) { return h.ov, nil },
		Downloads:     t.TempDir(),
	}
	return h
}

func (h *harness) run() *agentConn {
	ctx, cancel := context.WithCancelCause(context.Background())
	h.cancel = cancel
	h.result = make(chan runResult, 1)
	go func() {
		r, err := Run(ctx, h.cfg)
		h.result <- runResult{r, err}
	}()
	h.t.Cleanup(func() {
		cancel(nil)
		<-h.result
	})
	return h.srv.accept()
}

func (h *harness) ended(within time.Duration) runResult {
	h.t.Helper()
	select {
	case r := <-h.result:
		h.result <- r // for the cleanup
		return r
	case <-time.After(within):
		h.t.Fatalf("session did not end within %s", within)
		return runResult{}
	}
}

func unattendedPolicy() policy.ScreenShare {
	p := policy.Default()
	p.UnattendedAllowed = true
	return p
}

func TestDeclineCreatesNoPeerAndCapturesNothing(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: true, Mode: protocol.ModeActive, AcceptanceTimeoutS: 30,
		AllowedModes: []protocol.Mode{protocol.ModeActive, protocol.ModeMonitor}}, policy.Default())
	a := h.run()
	a.send(protocol.Signal{Type: protocol.SignalHello})
	a.send(protocol.Signal{Type: protocol.SignalViewerJoined, ViewerID: "v1"})
	a.expectState(protocol.SessionAwaitingAcceptance, "")
	req := <-h.ui.asked
	if req.Technician != "Tess Tech" || req.Mode != protocol.ModeActive || req.TimeoutS != 30 {
		t.Errorf("prompt %+v", req)
	}
	if len(req.Alternatives) != 1 || req.Alternatives[0] != protocol.ModeMonitor {
		t.Errorf("alternatives %v", req.Alternatives)
	}
	h.ui.answers <- Answer{Accepted: false}
	a.expectState(protocol.SessionEnded, protocol.EndedDeclined)
	r := h.ended(wait)
	if r.reason != protocol.EndedDeclined || r.err != nil {
		t.Errorf("Run = %q, %v", r.reason, r.err)
	}
	// Nothing else was sent (no offer) and nothing was captured.
	for s := range a.sigs {
		t.Errorf("unexpected signal after decline: %+v", s)
	}
	if h.src.made.Load() != 0 || h.src.captures.Load() != 0 {
		t.Errorf("source made %d times, %d captures; want none", h.src.made.Load(), h.src.captures.Load())
	}
}

func TestAcceptanceTimeout(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: true, Mode: protocol.ModeActive, AcceptanceTimeoutS: 1}, policy.Default())
	a := h.run()
	a.expectState(protocol.SessionAwaitingAcceptance, "")
	<-h.ui.asked
	a.expectState(protocol.SessionEnded, protocol.EndedAcceptTimeout)
	if r := h.ended(wait); r.reason != protocol.EndedAcceptTimeout {
		t.Errorf("Run = %q, %v", r.reason, r.err)
	}
	if h.src.made.Load() != 0 {
		t.Error("source made after a timed-out prompt")
	}
}

func TestAcceptWithOtherMode(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: true, Mode: protocol.ModeActive, AcceptanceTimeoutS: 30,
		AllowedModes: []protocol.Mode{protocol.ModeMonitor}}, policy.Default())
	a := h.run()
	a.expectState(protocol.SessionAwaitingAcceptance, "")
	<-h.ui.asked
	h.ui.answers <- Answer{Accepted: true, Mode: protocol.ModeMonitor}
	s := a.expectState(protocol.SessionConnecting, "")
	if s.Mode != protocol.ModeMonitor {
		t.Errorf("connecting in mode %q, want monitor", s.Mode)
	}
}

func TestAttendedWithoutAcceptanceRequired(t *testing.T) {
	pol := policy.Default()
	pol.AcceptanceRequired = false
	h := newHarness(t, protocol.ScreenShareStart{Attended: true, Mode: protocol.ModeActive, AcceptanceTimeoutS: 30}, pol)
	a := h.run()
	a.expectState(protocol.SessionAwaitingAcceptance, "")
	if s := a.expectState(protocol.SessionConnecting, ""); s.Mode != "" {
		t.Errorf("connecting carries mode %q; want none (unchanged)", s.Mode)
	}
	select {
	case <-h.ui.asked:
		t.Error("prompted although the policy does not require acceptance")
	default:
	}
}

func TestUnattended(t *testing.T) {
	tests := []struct {
		name       string
		pol        policy.ScreenShare
		wantState  protocol.SessionState
		wantReason protocol.Reason
	}{
		{"allowed", unattendedPolicy(), protocol.SessionConnecting, ""},
		{"forbidden by endpoint policy", policy.Default(), protocol.SessionEnded, protocol.EndedError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, protocol.ScreenShareStart{Attended: false, Mode: protocol.ModeActive}, tt.pol)
			a := h.run()
			a.expectState(tt.wantState, tt.wantReason)
			select {
			case <-h.ui.asked:
				t.Error("unattended session prompted the user")
			default:
			}
		})
	}
}

func TestUserEndsSession(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: false, Mode: protocol.ModeActive, UserMayEnd: true}, unattendedPolicy())
	a := h.run()
	a.expectState(protocol.SessionConnecting, "")
	end := <-h.ui.live
	if !h.ui.mayEnd.Load() {
		t.Error("user_may_end not passed to the UI")
	}
	end()
	a.expectState(protocol.SessionEnded, protocol.EndedByUser)
	if r := h.ended(wait); r.reason != protocol.EndedByUser {
		t.Errorf("Run = %q", r.reason)
	}
}

func TestServiceEndsSession(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: false, Mode: protocol.ModeActive}, unattendedPolicy())
	a := h.run()
	a.expectState(protocol.SessionConnecting, "")
	h.cancel(EndError{Reason: protocol.EndedByTechnician})
	a.expectState(protocol.SessionEnded, protocol.EndedByTechnician)
	h.ended(wait)
}

// testViewer is the browser's side, in Go.
type testViewer struct {
	t       testing.TB
	id      string
	pc      *webrtc.PeerConnection
	screen  chan []byte
	control chan protocol.ControlMsg
	input   *webrtc.DataChannel
	ctrl    *webrtc.DataChannel
	inputUp chan struct{}
	ctrlUp  chan struct{} // the control channel opened
	chat    *webrtc.DataChannel
	chatIn  chan protocol.ChatMsg
	chatUp  chan struct{}
	file    *webrtc.DataChannel
	fileIn  chan webrtc.DataChannelMessage
	fileUp  chan struct{}

	cmu     sync.Mutex
	pending []webrtc.ICECandidateInit // candidates before the offer
}

func newTestViewer(t *testing.T, id string) *testViewer {
	api := webrtc.NewAPI(webrtc.WithSettingEngine(*loopbackEngine()))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	v := &testViewer{t: t, id: id, pc: pc, screen: make(chan []byte, 1024), control: make(chan protocol.ControlMsg, 64), inputUp: make(chan struct{}), ctrlUp: make(chan struct{})}
	sc, _ := pc.CreateDataChannel(protocol.ChannelScreen, negotiated(protocol.ChannelScreenID))
	v.input, _ = pc.CreateDataChannel(protocol.ChannelInput, negotiated(protocol.ChannelInputID))
	v.ctrl, _ = pc.CreateDataChannel(protocol.ChannelControl, negotiated(protocol.ChannelControlID))
	sc.OnMessage(func(m webrtc.DataChannelMessage) {
		// A bundle arrives as its parts, in order, as the viewer handles it.
		parts := [][]byte{m.Data}
		if b, err := screen.Decode(m.Data); err == nil && b.Kind == screen.KindBundle {
			parts = b.Parts
		}
		for _, p := range parts {
			select {
			case v.screen <- append([]byte(nil), p...):
			default:
			}
		}
	})
	v.ctrl.OnMessage(func(m webrtc.DataChannelMessage) {
		var c protocol.ControlMsg
		if json.Unmarshal(m.Data, &c) == nil {
			v.control <- c
		}
	})
	v.input.OnOpen(func() { close(v.inputUp) })
	v.ctrl.OnOpen(func() { close(v.ctrlUp) })
	v.chatIn = make(chan protocol.ChatMsg, 64)
	v.fileIn = make(chan webrtc.DataChannelMessage, 4096)
	v.chat, _ = pc.CreateDataChannel(protocol.ChannelChat, negotiated(protocol.ChannelChatID))
	v.file, _ = pc.CreateDataChannel(protocol.ChannelFile, negotiated(protocol.ChannelFileID))
	v.chatUp, v.fileUp = make(chan struct{}), make(chan struct{})
	v.chat.OnOpen(func() { close(v.chatUp) })
	v.file.OnOpen(func() { close(v.fileUp) })
	v.chat.OnMessage(func(m webrtc.DataChannelMessage) {
		var c protocol.ChatMsg
		if json.Unmarshal(m.Data, &c) == nil {
			v.chatIn <- c
		}
	})
	v.file.OnMessage(func(m webrtc.DataChannelMessage) {
		m.Data = append([]byte(nil), m.Data...)
		v.fileIn <- m
	})
	return v
}

// connect answers the agent's offer and trickles candidates until the
// data channels are up.
func (v *testViewer) connect(a *agentConn) {
	v.t.Helper()
	v.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		b, _ := json.Marshal(c.ToJSON())
		a.send(protocol.Signal{Type: protocol.SignalCandidate, ViewerID: v.id, Candidate: b})
	})
	offer := a.next(v.addCandidate)
	if offer.Type != protocol.SignalOffer || offer.ViewerID != v.id {
		v.t.Fatalf("got %+v, want offer for %s", offer, v.id)
	}
	v.setOffer(offer.SDP)
	ans, err := v.pc.CreateAnswer(nil)
	if err != nil {
		v.t.Fatal(err)
	}
	if err := v.pc.SetLocalDescription(ans); err != nil {
		v.t.Fatal(err)
	}
	a.send(protocol.Signal{Type: protocol.SignalAnswer, ViewerID: v.id, SDP: ans.SDP})
}

// setOffer applies the agent's offer and the candidates that came first.
func (v *testViewer) setOffer(sdp string) {
	v.t.Helper()
	v.cmu.Lock()
	defer v.cmu.Unlock()
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		v.t.Fatal(err)
	}
	for _, c := range v.pending {
		if err := v.pc.AddICECandidate(c); err != nil {
			v.t.Errorf("adding candidate: %v", err)
		}
	}
	v.pending = nil
}

func (v *testViewer) addCandidate(s protocol.Signal) {
	var c webrtc.ICECandidateInit
	if err := json.Unmarshal(s.Candidate, &c); err != nil {
		v.t.Errorf("candidate: %v", err)
		return
	}
	v.cmu.Lock()
	if v.pc.RemoteDescription() == nil {
		v.pending = append(v.pending, c)
		v.cmu.Unlock()
		return
	}
	v.cmu.Unlock()
	if err := v.pc.AddICECandidate(c); err != nil {
		v.t.Errorf("adding candidate: %v", err)
	}
}

func (v *testViewer) screenMsg() screen.Msg {
	v.t.Helper()
	select {
	case b := <-v.screen:
		m, err := screen.Decode(b)
		if err != nil {
			v.t.Fatalf("screen.Decode: %v", err)
		}
		return m
	case <-time.After(wait):
		v.t.Fatal("no screen message")
		return screen.Msg{}
	}
}

// waitHolder waits until the agent says the control holder is id: the
// channel's first message may still name the holder before the change.
func (v *testViewer) waitHolder(id string) {
	v.t.Helper()
	for v.nextControl("holder").Holder != id {
	}
}

func (v *testViewer) sendInput(ev protocol.InputEvent) {
	v.t.Helper()
	<-v.inputUp
	b, _ := json.Marshal(ev)
	if err := v.input.SendText(string(b)); err != nil {
		v.t.Fatal(err)
	}
}

func (h *harness) expectDrop(want string) {
	h.t.Helper()
	select {
	case d := <-h.drops:
		if d != want {
			h.t.Fatalf("dropped %q, want %q", d, want)
		}
	case ev := <-h.inj.events:
		h.t.Fatalf("input %+v reached the injector; want it dropped", ev)
	case <-time.After(wait):
		h.t.Fatal("input neither dropped nor applied")
	}
}

// joinViewer plays the server's hello and one viewer "v1" joining, connects
// a real pion viewer, waits for the session to report active, and keeps
// applying the agent's late candidates.
func joinViewer(t *testing.T, a *agentConn, hello protocol.Signal) *testViewer {
	t.Helper()
	hello.Type = protocol.SignalHello
	a.send(hello)
	a.send(protocol.Signal{Type: protocol.SignalViewerJoined, ViewerID: "v1"})
	v := newTestViewer(t, "v1")
	v.connect(a)
	// The first open screen channel makes the session active.
	if s := a.next(v.addCandidate); s.Type != protocol.SignalState || s.State != protocol.SessionActive {
		t.Fatalf("got %+v, want state active", s)
	}
	a.route(v)
	return v
}

// route starts reading the agent's signals in the background: candidates
// go to their viewer, everything else to a.after (read it with
// a.nextAfter).
func (a *agentConn) route(first *testViewer) {
	a.mu.Lock()
	a.viewers = map[string]*testViewer{first.id: first}
	a.after = make(chan protocol.Signal, 256)
	a.mu.Unlock()
	go func() {
		defer close(a.after)
		for s := range a.sigs {
			if s.Type == protocol.SignalCandidate {
				a.mu.Lock()
				v := a.viewers[s.ViewerID]
				a.mu.Unlock()
				if v != nil {
					v.addCandidate(s)
				}
				continue
			}
			a.after <- s
		}
	}()
}

// nextAfter returns the next signal that is not a candidate, once routing.
func (a *agentConn) nextAfter() protocol.Signal {
	a.t.Helper()
	select {
	case s, ok := <-a.after:
		if !ok {
			a.t.Fatal("agent websocket closed")
		}
		return s
	case <-time.After(wait):
		a.t.Fatal("no signal from the agent")
		return protocol.Signal{}
	}
}

// joinAnother connects another viewer once routing (the session is
// active already, so no state signal comes).
func joinAnother(t *testing.T, a *agentConn, id string) *testViewer {
	t.Helper()
	v := newTestViewer(t, id)
	a.mu.Lock()
	a.viewers[id] = v
	a.mu.Unlock()
	v.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		b, _ := json.Marshal(c.ToJSON())
		a.send(protocol.Signal{Type: protocol.SignalCandidate, ViewerID: id, Candidate: b})
	})
	a.send(protocol.Signal{Type: protocol.SignalViewerJoined, ViewerID: id})
	offer := a.nextAfter()
	if offer.Type != protocol.SignalOffer || offer.ViewerID != id {
		t.Fatalf("got %+v, want offer for %s", offer, id)
	}
	v.setOffer(offer.SDP)
	ans, err := v.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.pc.SetLocalDescription(ans); err != nil {
		t.Fatal(err)
	}
	a.send(protocol.Signal{Type: protocol.SignalAnswer, ViewerID: id, SDP: ans.SDP})
	return v
}

func TestViewerScreenInputAndEnd(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	h := newHarness(t, protocol.ScreenShareStart{Attended: false, Mode: protocol.ModeActive}, unattendedPolicy())
	h.src.colour.Store(0x336699)
	a := h.run()
	a.expectState(protocol.SessionConnecting, "")
	v := joinViewer(t, a, protocol.Signal{})

	// A full first frame: size, the tile, frame end, all valid wire messages.
	if m := v.screenMsg(); m.Kind != screen.KindSize || m.W != 128 || m.H != 96 {
		t.Fatalf("first message %+v, want size 128x96", m)
	}
	if m := v.screenMsg(); m.Kind != screen.KindTile || m.Tile.Enc != screen.EncSolid || string(m.Tile.Payload) != "\x33\x66\x99" {
		t.Fatalf("tile %+v", m)
	}
	if m := v.screenMsg(); m.Kind != screen.KindFrameEnd {
		t.Fatalf("got %+v, want frame end", m)
	}
	mons := v.nextControl("monitors")
	if len(mons.Monitors) != 1 || mons.Monitors[0].W != 128 || mons.Index != 0 {
		t.Errorf("monitors %+v", mons)
	}
	// A change shows up.
	h.src.colour.Store(0xff0000)
	for {
		m := v.screenMsg()
		if m.Kind == screen.KindTile && string(m.Tile.Payload) == "\xff\x00\x00" {
			break
		}
	}

	// Nobody holds control: dropped.
	v.sendInput(protocol.InputEvent{T: "move", X: 1, Y: 1})
	h.expectDrop("v1:not allowed")
	// Another viewer holds it: dropped.
	a.send(protocol.Signal{Type: protocol.SignalControl, Holder: "v2"})
	v.waitHolder("v2")
	v.sendInput(protocol.InputEvent{T: "move", X: 2, Y: 2})
	h.expectDrop("v1:not allowed")
	// v1 holds it, but the session is in Monitor mode: dropped.
	a.send(protocol.Signal{Type: protocol.SignalSession, Session: &protocol.Session{ID: "s1", Mode: protocol.ModeMonitor, ControlHolder: "v1", State: protocol.SessionActive}})
	for v.nextControl("mode").Mode != protocol.ModeMonitor {
	}
	v.sendInput(protocol.InputEvent{T: "move", X: 3, Y: 3})
	h.expectDrop("v1:not allowed")
	// Invalid events are dropped whoever sends them.
	a.send(protocol.Signal{Type: protocol.SignalSession, Session: &protocol.Session{ID: "s1", Mode: protocol.ModeActive, ControlHolder: "v1", State: protocol.SessionActive}})
	for v.nextControl("mode").Mode != protocol.ModeActive {
	}
	v.sendInput(protocol.InputEvent{T: "down", X: 5, Y: 5, Button: 7})
	h.expectDrop("v1:invalid")
	// Outside the monitor: dropped.
	v.sendInput(protocol.InputEvent{T: "move", X: 500, Y: 5})
	h.expectDrop("v1:outside the monitor")
	// The holder in Active mode: applied.
	v.sendInput(protocol.InputEvent{T: "key", Key: "KeyA", Down: true})
	select {
	case ev := <-h.inj.events:
		if ev.T != "key" || ev.Key != "KeyA" || !ev.Down {
			t.Errorf("injected %+v", ev)
		}
	case d := <-h.drops:
		t.Fatalf("holder's input dropped: %s", d)
	case <-time.After(wait):
		t.Fatal("holder's input never applied")
	}

	// Refresh sends a full frame again.
	v.sendControlMsg(protocol.ControlMsg{T: protocol.ControlRefresh})
	for {
		m := v.screenMsg()
		if m.Kind == screen.KindTile && string(m.Tile.Payload) == "\xff\x00\x00" {
			break
		}
	}

	// End: everything closes within 2 s.
	closed := make(chan struct{})
	v.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateClosed || s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateDisconnected {
			select {
			case <-closed:
			default:
				close(closed)
			}
		}
	})
	begin := time.Now()
	a.send(protocol.Signal{Type: protocol.SignalEnd, Reason: protocol.EndedByTechnician})
	r := h.ended(wait)
	if r.reason != protocol.EndedByTechnician {
		t.Errorf("Run = %q, %v", r.reason, r.err)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("teardown took %s, want under 2 s", d)
	}
	if h.src.closed.Load() != 1 || h.inj.closed.Load() != 1 {
		t.Errorf("source closed %d, injector closed %d; want 1 each", h.src.closed.Load(), h.inj.closed.Load())
	}
	// The viewer sees its peer go away (SCTP abort / DTLS close).
	select {
	case <-closed:
	case <-time.After(wait):
		t.Error("viewer's peer connection never noticed the end")
	}
	v.pc.Close()
	// Nothing of the session keeps running.
	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > goroutines+5 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left (started with %d):\n%s", runtime.NumGoroutine(), goroutines, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond) // polling a condition, not synchronising
	}
}

var _ = errors.New
var _ = fmt.Sprint
var _ sync.Mutex

// TestAckBoundsFramesInFlight: a viewer that acknowledges drawn frames is
// sent at most MaxInFlight frames beyond its last ack, however fast the
// screen changes; acking again resumes with a full frame.
func TestAckBoundsFramesInFlight(t *testing.T) {
	// A busy viewer (frames were waiting when it acked) holds the agent
	// to MaxInFlight; one that keeps up acks lazily and may be further
	// behind, up to calmInFlight.
	for _, busy := range []bool{true, false} {
		t.Run(fmt.Sprint("busy=", busy), func(t *testing.T) { testAckBounds(t, busy) })
	}
}

func testAckBounds(t *testing.T, busy bool) {
	limit := DefaultMaxInFlight
	if !busy {
		limit = calmInFlight
	}
	h := newHarness(t, protocol.ScreenShareStart{Attended: false, Mode: protocol.ModeActive}, unattendedPolicy())
	h.src.colour.Store(0x010101)
	a := h.run()
	a.expectState(protocol.SessionConnecting, "")
	v := joinViewer(t, a, protocol.Signal{})
	var last uint32
	for m := v.screenMsg(); ; m = v.screenMsg() {
		if m.Kind == screen.KindFrameEnd {
			last = m.Seq
			break
		}
	}
	ack := func(seq uint32) {
		v.sendControlMsg(protocol.ControlMsg{T: protocol.ControlAck, Seq: seq, Busy: busy})
	}
	ack(last)

	// The screen keeps changing; the viewer draws (acks) nothing more. Each
	// change makes a frame while the viewer keeps up; once MaxInFlight
	// frames are unacknowledged the agent sends (and captures) nothing, so
	// the next change brings no frame at all.
	frames := 0
	for i := range limit + 8 {
		h.src.colour.Store(uint32(0x102030 + i))
		got := false
		deadline := time.After(2 * time.Second)
	wait:
		for {
			select {
			case b := <-v.screen:
				if m, _ := screen.Decode(b); m.Kind == screen.KindFrameEnd {
					frames++
					last = m.Seq
					got = true
					break wait
				}
			case <-deadline:
				break wait
			}
		}
		if !got {
			break
		}
	}
	if frames != limit {
		t.Fatalf("%d frames sent beyond the last ack, want %d", frames, limit)
	}
	// Drawing resumes: the viewer missed no frame (none was encoded while
	// it waited), so the next frame carries just the change, not a full
	// refresh starting with a size message.
	ack(last)
	h.src.colour.Store(0xabcdef)
	tiles := 0
	for m := v.screenMsg(); m.Kind != screen.KindFrameEnd; m = v.screenMsg() {
		if m.Kind == screen.KindSize {
			t.Fatal("a viewer that missed no frame got a full one")
		}
		tiles++
	}
	if tiles == 0 {
		t.Fatal("the frame after the ack carried no tile")
	}
}

// TestCtrlAltDelThroughService: where the service raises Ctrl+Alt+Del
// (Windows), the holder's combo goes there and never to the injector.
func TestCtrlAltDelThroughService(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: false, Mode: protocol.ModeActive}, unattendedPolicy())
	sas := make(chan struct{}, 1)
	h.cfg.SecureAttention = func() error { sas <- struct{}{}; return nil }
	a := h.run()
	a.expectState(protocol.SessionConnecting, "")
	v := joinViewer(t, a, protocol.Signal{Session: &protocol.Session{ID: "s1", Mode: protocol.ModeActive, ControlHolder: "v1", State: protocol.SessionConnecting}})
	a.send(protocol.Signal{Type: protocol.SignalControl, Holder: "v1"})
	v.waitHolder("v1")
	v.sendInput(protocol.InputEvent{T: "combo", Combo: "ctrl-alt-del"})
	v.sendInput(protocol.InputEvent{T: "key", Key: "KeyB", Down: true})
	select {
	case <-sas:
	case <-time.After(wait):
		t.Fatal("Ctrl+Alt+Del never reached the service")
	}
	select {
	case ev := <-h.inj.events:
		if ev.T != "key" || ev.Key != "KeyB" {
			t.Fatalf("the injector got %+v first, want only the later key", ev)
		}
	case <-time.After(wait):
		t.Fatal("the later key never reached the injector")
	}
}

// TestSignalReconnect: the server drops the agent's signalling connection
// mid-session; the agent dials again and the session goes on: the same
// viewer's peer keeps its frames, nobody is asked again, and an end sent
// on the new connection ends it.
func TestSignalReconnect(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: true, Mode: protocol.ModeActive, AcceptanceTimeoutS: 30}, policy.Default())
	h.src.colour.Store(0x336699)
	a := h.run()
	a.expectState(protocol.SessionAwaitingAcceptance, "")
	<-h.ui.asked
	h.ui.answers <- Answer{Accepted: true}
	a.expectState(protocol.SessionConnecting, "")
	v := joinViewer(t, a, protocol.Signal{})
	v.screenMsg()

	a.c.Close(websocket.StatusGoingAway, "relay restarted")
	b := h.srv.accept()
	b.send(protocol.Signal{Type: protocol.SignalHello})
	b.send(protocol.Signal{Type: protocol.SignalViewerJoined, ViewerID: "v1"}) // already connected: no new offer
	// The peer is untouched: a change of the screen still reaches it.
	h.src.colour.Store(0xff0000)
	for {
		if m := v.screenMsg(); m.Kind == screen.KindTile && string(m.Tile.Payload) == "\xff\x00\x00" {
			break
		}
	}
	select {
	case req := <-h.ui.asked:
		t.Fatalf("asked again after the reconnect: %+v", req)
	default:
	}
	b.send(protocol.Signal{Type: protocol.SignalEnd, Reason: protocol.EndedByTechnician})
	if r := h.ended(wait); r.reason != protocol.EndedByTechnician {
		t.Fatalf("Run = %q, %v", r.reason, r.err)
	}
	for s := range b.sigs { // until the agent closed the connection
		if s.Type == protocol.SignalOffer {
			t.Fatalf("a new offer for a viewer already connected: %+v", s)
		}
	}
}

// TestViewerBackAfterNodeDied: the viewer's signalling went through a
// server node that died, so no viewer_left came; the viewer closed its peer
// connection and joins again with its id. The agent drops the dead peer
// and offers a new one (an agent that took the join for the live viewer's
// would offer nothing and the viewer would wait for ever).
func TestViewerBackAfterNodeDied(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: false, Mode: protocol.ModeActive}, unattendedPolicy())
	logs := &lockedBuffer{}
	h.cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := h.run()
	a.expectState(protocol.SessionConnecting, "")
	v := joinViewer(t, a, protocol.Signal{})
	v.screenMsg()

	a.c.Close(websocket.StatusGoingAway, "node died")
	if err := v.pc.Close(); err != nil {
		t.Fatal(err)
	}
	// The viewer takes seconds to come back through another node; the
	// endpoint sees its peer connection closed long before.
	testenv.Eventually(t, wait, "the endpoint to see the viewer's peer connection close", func() (bool, error) {
		return strings.Contains(logs.String(), `"state":"closed"`), nil
	})
	b := h.srv.accept()
	b.send(protocol.Signal{Type: protocol.SignalHello})
	b.send(protocol.Signal{Type: protocol.SignalViewerJoined, ViewerID: "v1"})
	deadline := time.After(wait)
	for {
		select {
		case s, ok := <-b.sigs:
			if !ok {
				t.Fatal("the agent closed the signalling without offering the viewer a new connection")
			}
			if s.Type == protocol.SignalOffer && s.ViewerID == "v1" {
				return
			}
		case <-deadline:
			t.Fatal("no new offer for the viewer that came back")
		}
	}
}

// lockedBuffer is a log sink the test reads while the session writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSignalOutage: the server stays unreachable longer than the outage
// limit: the session ends connection_lost.
func TestSignalOutage(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: false, Mode: protocol.ModeActive}, unattendedPolicy())
	h.cfg.OutageLimit = time.Second
	a := h.run()
	a.expectState(protocol.SessionConnecting, "")
	h.srv.refuse.Store(true)
	a.c.Close(websocket.StatusGoingAway, "gone")
	if r := h.ended(wait); r.reason != protocol.EndedConnectionLost || r.err == nil {
		t.Fatalf("Run = %q, %v; want connection_lost", r.reason, r.err)
	}
}

// TestSignalReplaced: closed by the server for a newer connection of the
// session (another helper has it), the session does not dial again.
func TestSignalReplaced(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: false, Mode: protocol.ModeActive}, unattendedPolicy())
	a := h.run()
	a.expectState(protocol.SessionConnecting, "")
	a.c.Close(websocket.StatusPolicyViolation, "replaced")
	if r := h.ended(wait); r.reason != protocol.EndedError {
		t.Fatalf("Run = %q, %v", r.reason, r.err)
	}
	select {
	case <-h.srv.auths:
		t.Fatal("dialled again after being replaced")
	default:
	}
}
