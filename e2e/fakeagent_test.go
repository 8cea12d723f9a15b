//go:build linux

package e2e

// TestViewerWithScriptedAgent drives the viewer page against a scripted
// agent: it enrolls and polls through the agent API like the real agent,
// takes the screenshare.start action, and plays the agent's side of the
// signalling flow with pion, sending known screen messages. It pins the
// viewer's side of the contracts (signalling, negotiated channels, the
// screen wire format, input events) without the capture and input code.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/pion/webrtc/v4"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/protocol"
	"github.com/tetherdesk/tether/shared/screen"
)

// scriptedAgent is the agent's side of one session.
type scriptedAgent struct {
	t      testing.TB
	ws     *websocket.Conn
	mu     sync.Mutex
	pc     *webrtc.PeerConnection
	screen *webrtc.DataChannel
	open   chan struct{} // the screen channel opened
	inputs []protocol.InputEvent
}

// enrollScripted enrolls an agent through the agent API and returns its
// secret.
func enrollScripted(t testing.TB, s *server) (id, secret string) {
	t.Helper()
	c := &apiClient{base: s.url, hc: &http.Client{Timeout: 30 * time.Second}}
	var res protocol.EnrollResponse
	if err := c.do(http.MethodPost, protocol.PathEnroll, "", protocol.EnrollRequest{Token: s.enrollmentToken(), Protocol: 2,
		Inventory: protocol.Inventory{Hostname: "scripted-agent", IPs: []string{"127.0.0.1"}, OS: "linux", Arch: "amd64", AgentVersion: "test"}}, &res); err != nil {
		t.Fatalf("enroll: %v", err)
	}
	return res.AgentID, res.Secret
}

// pollStart polls until a screenshare.start action arrives.
func pollStart(t testing.TB, s *server, secret string) protocol.ScreenShareStart {
	t.Helper()
	c := &apiClient{base: s.url, token: secret, hc: &http.Client{Timeout: 30 * time.Second}}
	var start protocol.ScreenShareStart
	testenv.Eventually(t, actionTimeout, "a screenshare.start action", func() (bool, error) {
		var res protocol.PollResponse
		if err := c.do(http.MethodPost, protocol.PathPoll, "", protocol.PollRequest{Protocol: 2}, &res); err != nil {
			return false, err
		}
		for _, a := range res.Actions {
			if a.Type == protocol.ActionScreenShareStart {
				return true, json.Unmarshal(a.Payload, &start)
			}
		}
		return false, nil
	})
	return start
}

func (a *scriptedAgent) send(m protocol.Signal) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, a.ws, m); err != nil {
		a.t.Errorf("scripted agent: send %s: %v", m.Type, err)
	}
}

// run plays the agent side until the websocket closes.
func (a *scriptedAgent) run(ctx context.Context) {
	var ice []webrtc.ICEServer
	for {
		var m protocol.Signal
		if err := wsjson.Read(ctx, a.ws, &m); err != nil {
			return
		}
		switch m.Type {
		case protocol.SignalHello:
			for _, s := range m.ICEServers {
				ice = append(ice, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
			}
			a.send(protocol.Signal{Type: protocol.SignalState, State: protocol.SessionConnecting})
		case protocol.SignalViewerJoined:
			a.offer(m.ViewerID, ice)
		case protocol.SignalAnswer:
			if err := a.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
				a.t.Errorf("scripted agent: answer: %v", err)
			}
		case protocol.SignalCandidate:
			var c webrtc.ICECandidateInit
			if json.Unmarshal(m.Candidate, &c) == nil && a.pc != nil {
				_ = a.pc.AddICECandidate(c)
			}
		}
	}
}

func (a *scriptedAgent) offer(viewer string, ice []webrtc.ICEServer) {
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{ICEServers: ice})
	if err != nil {
		a.t.Errorf("scripted agent: %v", err)
		return
	}
	a.pc = pc
	yes := true
	ch := func(label string, id uint16) *webrtc.DataChannel {
		dc, err := pc.CreateDataChannel(label, &webrtc.DataChannelInit{Negotiated: &yes, ID: &id})
		if err != nil {
			a.t.Errorf("scripted agent: channel %s: %v", label, err)
		}
		return dc
	}
	a.screen = ch(protocol.ChannelScreen, protocol.ChannelScreenID)
	in := ch(protocol.ChannelInput, protocol.ChannelInputID)
	ctl := ch(protocol.ChannelControl, protocol.ChannelControlID)
	a.screen.OnOpen(func() {
		a.send(protocol.Signal{Type: protocol.SignalState, State: protocol.SessionActive})
		close(a.open)
	})
	ctl.OnOpen(func() {
		b, _ := json.Marshal(protocol.ControlMsg{T: protocol.ControlMonitors, Monitors: []protocol.Monitor{{W: 256, H: 128, Primary: true}, {X: 256, W: 640, H: 480}}})
		_ = ctl.SendText(string(b))
	})
	in.OnMessage(func(msg webrtc.DataChannelMessage) {
		var ev protocol.InputEvent
		if err := json.Unmarshal(msg.Data, &ev); err != nil {
			a.t.Errorf("scripted agent: input %q: %v", msg.Data, err)
			return
		}
		a.mu.Lock()
		a.inputs = append(a.inputs, ev)
		a.mu.Unlock()
	})
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		b, _ := json.Marshal(c.ToJSON())
		a.send(protocol.Signal{Type: protocol.SignalCandidate, ViewerID: viewer, Candidate: b})
	})
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	if err != nil {
		a.t.Errorf("scripted agent: offer: %v", err)
		return
	}
	a.send(protocol.Signal{Type: protocol.SignalOffer, ViewerID: viewer, SDP: offer.SDP})
}

func (a *scriptedAgent) events() []protocol.InputEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]protocol.InputEvent(nil), a.inputs...)
}

func TestViewerWithScriptedAgent(t *testing.T) {
	s := startServer(t)
	requireSessionsAPI(t, s)
	epID, secret := enrollScripted(t, s)
	doc := map[string]any{"screenshare": map[string]any{"unattended_allowed": true}}
	if err := s.api.do(http.MethodPut, "/api/v1/policies/global", "", doc, nil); err != nil {
		t.Fatalf("policy: %v", err)
	}
	if err := s.api.do(http.MethodPost, "/api/v1/users", "", protocol.CreateUserRequest{Name: tech1, Password: tech1Password,
		Roles: []string{"Administrator", "Screen Sharing Support Session Unattended"}}, nil); err != nil {
		t.Fatalf("create user: %v", err)
	}
	tech := s.userClient(tech1, tech1Password)
	var sess protocol.Session
	if err := tech.do(http.MethodPost, "/api/v1/sessions", "", protocol.CreateSessionRequest{EndpointID: epID}, &sess); err != nil {
		t.Fatalf("create session: %v", err)
	}
	start := pollStart(t, s, secret)
	if start.SessionID != sess.ID {
		t.Fatalf("screenshare.start for %q, want %q", start.SessionID, sess.ID)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigURL := "ws" + strings.TrimPrefix(s.url, "http") + start.SignalPath
	ws, _, err := websocket.Dial(ctx, sigURL, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + start.AgentToken}}})
	if err != nil {
		t.Fatalf("agent signalling %s: %v", start.SignalPath, err)
	}
	defer ws.CloseNow()
	a := &scriptedAgent{t: t, ws: ws, open: make(chan struct{})}
	done := make(chan struct{})
	go func() { defer close(done); a.run(ctx) }()
	defer func() {
		cancel()
		ws.CloseNow()
		<-done
		if a.pc != nil {
			a.pc.Close()
		}
	}()

	br := startBrowser(t)
	tb := br.firstTab()
	tb.signIn(s.url, tech1, tech1Password)
	tb.openViewer(s.url, sess.ID)
	select {
	case <-a.open:
	case <-time.After(liveTimeout):
		st, _ := tb.stats()
		t.Fatalf("the screen channel did not open within %s; viewer %+v", liveTimeout, st)
	}

	// A 256x128 picture: left half a solid red tile, right half a PNG tile
	// (blue with a white square).
	img := image.NewRGBA(image.Rect(0, 0, 128, 128))
	for y := range 128 {
		for x := range 128 {
			c := color.RGBA{0x20, 0x40, 0xe0, 0xff}
			if x >= 32 && x < 96 && y >= 32 && y < 96 {
				c = color.RGBA{0xff, 0xff, 0xff, 0xff}
			}
			img.Set(x, y, c)
		}
	}
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, img); err != nil {
		t.Fatal(err)
	}
	send := func(msgs ...[]byte) {
		t.Helper()
		for _, msg := range msgs {
			if err := a.screen.Send(msg); err != nil {
				t.Fatalf("send screen message: %v", err)
			}
		}
	}
	send(
		screen.AppendSize(nil, 1, 256, 128),
		screen.AppendTile(nil, screen.Tile{Seq: 1, X: 0, Y: 0, W: 128, H: 128, Enc: screen.EncSolid, Payload: []byte{0xe0, 0x20, 0x20}}),
		screen.AppendTile(nil, screen.Tile{Seq: 1, X: 128, Y: 0, W: 128, H: 128, Enc: screen.EncPNG, Payload: pngBuf.Bytes()}),
		// Drawn after the PNG tile of the same frame: order within a frame holds.
		screen.AppendTile(nil, screen.Tile{Seq: 1, X: 240, Y: 0, W: 16, H: 16, Enc: screen.EncSolid, Payload: []byte{0, 0xc0, 0}}),
		screen.AppendFrameEnd(nil, 1),
	)
	tb.waitStats(paintTimeout, "the viewer to draw the frame", func(v viewerStats) bool { return v.Frames == 1 && v.State == "live" })
	tb.waitPixels(paintTimeout, []pixelWant{
		{"solid red", 60, 60, [3]int{0xe0, 0x20, 0x20}},
		{"PNG blue", 140, 120, [3]int{0x20, 0x40, 0xe0}},
		{"PNG white", 192, 64, [3]int{0xff, 0xff, 0xff}},
		{"green drawn last", 250, 5, [3]int{0, 0xc0, 0}},
	})

	// Copies (scrolling): the right half shifted down 28 rows onto itself,
	// then the right half copied over the left. Both read the picture as
	// it was before the frame: the left half gets the unshifted square.
	send(
		screen.AppendCopy(nil, screen.Copy{Seq: 2, SX: 128, SY: 0, W: 128, H: 100, DX: 128, DY: 28}),
		screen.AppendCopy(nil, screen.Copy{Seq: 2, SX: 128, SY: 0, W: 128, H: 128, DX: 0, DY: 0}),
		screen.AppendFrameEnd(nil, 2),
	)
	tb.waitStats(paintTimeout, "the viewer to draw the copies", func(v viewerStats) bool { return v.Frames == 2 })
	tb.waitPixels(paintTimeout, []pixelWant{
		{"shifted square", 192, 110, [3]int{0xff, 0xff, 0xff}},
		{"blue above the shifted square", 192, 40, [3]int{0x20, 0x40, 0xe0}},
		{"left: the square as it was", 64, 40, [3]int{0xff, 0xff, 0xff}},
		{"left: blue below it", 64, 110, [3]int{0x20, 0x40, 0xe0}},
	})
	// An indexed tile (the agent's lossless encoding): 3 colours at 2 bits
	// per pixel, an odd width, stripes of 5 rows.
	pal := []uint32{0x102030, 0xf0e0d0, 0x00ff80}
	idx := make([]uint8, 37*30)
	for i := range idx {
		idx[i] = uint8(i / 37 / 5 % 3)
	}
	var ix screen.IndexedEncoder
	payload, err := ix.Append(nil, pal, idx, 37, 30)
	if err != nil {
		t.Fatal(err)
	}
	send(
		screen.AppendTile(nil, screen.Tile{Seq: 3, X: 10, Y: 70, W: 37, H: 30, Enc: screen.EncIndexed, Payload: payload}),
		screen.AppendFrameEnd(nil, 3),
	)
	tb.waitStats(paintTimeout, "the viewer to draw the indexed tile", func(v viewerStats) bool { return v.Frames == 3 })
	tb.waitPixels(paintTimeout, []pixelWant{
		{"indexed stripe 0", 10, 70, [3]int{0x10, 0x20, 0x30}},
		{"indexed stripe 1", 46, 76, [3]int{0xf0, 0xe0, 0xd0}},
		{"indexed stripe 2", 30, 82, [3]int{0x00, 0xff, 0x80}},
		{"indexed stripe 3", 20, 87, [3]int{0x10, 0x20, 0x30}},
		{"right of the tile", 47, 75, [3]int{0xff, 0xff, 0xff}},
	})

	// Pacing: a burst of frames the viewer cannot draw as fast as they
	// come (each indexed tile decodes asynchronously) makes it ack
	// "busy", and the agent then keeps only two frames in flight. The
	// frame that empties the viewer's queue must say "not busy" at once,
	// in the same step that counts it drawn, not with a lazy ack later.
	before, err := tb.stats()
	if err != nil {
		t.Fatal(err)
	}
	const last = 12
	for seq := uint32(4); seq <= last; seq++ {
		send(
			screen.AppendTile(nil, screen.Tile{Seq: seq, X: 10 + uint16(seq), Y: 70, W: 37, H: 30, Enc: screen.EncIndexed, Payload: payload}),
			screen.AppendFrameEnd(nil, seq),
		)
	}
	st := tb.waitStats(paintTimeout, "the viewer to draw the burst", func(v viewerStats) bool { return v.Frames == last })
	if st.BusyAcks == before.BusyAcks {
		t.Fatalf("the viewer drew a burst of %d frames without once acking busy: %+v", last-3, st)
	}
	if st.AckedSeq != last || st.AckedBusy || st.AckedLazy {
		t.Errorf("after the burst the last ack was for frame %d (busy %v, lazy %v), want %d, not busy, sent as the frame was drawn", st.AckedSeq, st.AckedBusy, st.AckedLazy, last)
	}
	tb.waitStats(paintTimeout, "the monitor picker", func(v viewerStats) bool { return v.Monitors == 2 })
	tb.screenshot("viewer-scripted.png")

	// Input: a click maps through the scaling to monitor pixels; typed text
	// arrives once, as text; Enter and Ctrl+C as keys.
	r := tb.canvasRect()
	t.Logf("canvas %dx%d shown at %.0fx%.0f CSS px", r.W, r.H, r.Width, r.Height)
	tb.mouse(r, chromedp.MouseMoved, 100, 50, input.MouseButtonNone, 0)
	tb.mouse(r, chromedp.MousePressed, 100, 50, input.MouseButtonLeft, 1)
	tb.mouse(r, chromedp.MouseReleased, 100, 50, input.MouseButtonLeft, 0)
	tb.mouse(r, chromedp.MousePressed, 200, 100, input.MouseButtonRight, 2)
	tb.mouse(r, chromedp.MouseReleased, 200, 100, input.MouseButtonRight, 0)
	tb.wheel(r, 10, 10, 250)
	tb.do("type", chromedp.KeyEvent("aB"))
	tb.insertText("é✓ж")
	tb.do("Enter", chromedp.KeyEvent("\r"))
	tb.do("Ctrl+C", chromedp.KeyEvent("c", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	tb.do("Ctrl+Alt+Del", chromedp.Click(chromedp.ID("cad")))

	var got []string
	want := []string{
		"down 0 100,50", "up 0 100,50", "down 2 200,100", "up 2 200,100", "wheel 0,2",
		"text a", "text B", "text é✓ж", "key Enter true", "key Enter false",
		"key ControlLeft true", "key KeyC true", "key KeyC false", "key ControlLeft false", "combo ctrl-alt-del",
	}
	testenv.Eventually(t, inputTimeout, "the scripted agent to receive the input", func() (bool, error) {
		got = got[:0]
		for _, ev := range a.events() {
			switch ev.T {
			case "down", "up":
				got = append(got, fmt.Sprintf("%s %d %d,%d", ev.T, ev.Button, ev.X, ev.Y))
			case "wheel":
				got = append(got, fmt.Sprintf("wheel %d,%d", ev.DX, ev.DY))
			case "text":
				got = append(got, "text "+ev.Text)
			case "key":
				got = append(got, fmt.Sprintf("key %s %v", ev.Key, ev.Down))
			case "combo":
				got = append(got, "combo "+ev.Combo)
			}
		}
		return len(got) >= len(want), fmt.Errorf("got %q", got)
	})
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("input events:\n got %q\nwant %q", got, want)
	}

	// Ending from the viewer reaches the server; the viewer shows it.
	tb.do("click End session", chromedp.Click(chromedp.ID("end")))
	tb.waitViewerEnded(endWithin, protocol.EndedByTechnician)
	var ended protocol.Session
	if err := tech.do(http.MethodGet, "/api/v1/sessions/"+sess.ID, "", nil, &ended); err != nil || ended.State != protocol.SessionEnded || ended.Reason != protocol.EndedByTechnician {
		t.Errorf("session after End: %+v, %v", ended, err)
	}
}
