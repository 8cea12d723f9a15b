package session

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/tetherdesk/tether/agent/session/filexfer"
	"github.com/tetherdesk/tether/shared/policy"
	"github.com/tetherdesk/tether/shared/protocol"
	"github.com/tetherdesk/tether/shared/screen"
)

func (v *testViewer) sendControlMsg(m protocol.ControlMsg) {
	v.t.Helper()
	select {
	case <-v.ctrlUp: // sending earlier fails: the channel is not open
	case <-time.After(wait):
		v.t.Fatal("the control channel never opened")
	}
	b, _ := json.Marshal(m)
	if err := v.ctrl.SendText(string(b)); err != nil {
		v.t.Fatal(err)
	}
}

// nextControl returns the next control message of one of types, skipping
// (and losing) the others.
func (v *testViewer) nextControl(types ...protocol.ControlType) protocol.ControlMsg {
	v.t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case c := <-v.control:
			if slices.Contains(types, c.T) {
				return c
			}
		case <-timer.C:
			v.t.Fatalf("no control message of %v", types)
		}
	}
}

func (v *testViewer) say(text string) {
	v.t.Helper()
	v.waitUp(v.chatUp)
	b, _ := json.Marshal(protocol.ChatMsg{T: "say", Text: text})
	if err := v.chat.SendText(string(b)); err != nil {
		v.t.Fatal(err)
	}
}

func (v *testViewer) waitUp(up chan struct{}) {
	v.t.Helper()
	select {
	case <-up:
	case <-time.After(wait):
		v.t.Fatal("data channel never opened")
	}
}

func (v *testViewer) chatMsg() protocol.ChatMsg {
	v.t.Helper()
	select {
	case m := <-v.chatIn:
		return m
	case <-time.After(wait):
		v.t.Fatal("no chat message")
		return protocol.ChatMsg{}
	}
}

func (v *testViewer) sendFileMsg(m protocol.FileMsg) {
	v.t.Helper()
	v.waitUp(v.fileUp)
	b, _ := json.Marshal(m)
	if err := v.file.SendText(string(b)); err != nil {
		v.t.Fatal(err)
	}
}

// fileMsg returns the next text message of the file channel.
func (v *testViewer) fileMsg() protocol.FileMsg {
	v.t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case m := <-v.fileIn:
			if !m.IsString {
				v.t.Fatalf("got a chunk, want a file message")
			}
			fm, err := protocol.DecodeFileMsg(m.Data)
			if err != nil {
				v.t.Fatalf("file message %s: %v", m.Data, err)
			}
			return fm
		case <-timer.C:
			v.t.Fatal("no file message")
			return protocol.FileMsg{}
		}
	}
}

// sendChunks sends data[from:to] of transfer id in chunks.
func (v *testViewer) sendChunks(id uint32, data []byte, from, to int) {
	v.t.Helper()
	for off := from; off < to; off += protocol.MaxFileChunk {
		end := min(off+protocol.MaxFileChunk, to)
		for v.file.BufferedAmount() > 1<<20 {
			time.Sleep(time.Millisecond) // polling the buffer, not synchronising
		}
		if err := v.file.Send(protocol.AppendFileChunk(nil, protocol.FileChunk{ID: id, Offset: int64(off), Data: data[off:end]})); err != nil {
			v.t.Fatal(err)
		}
	}
}

// leave closes v's peer connection and tells the agent, as the server does
// when a viewer's connection drops.
func (v *testViewer) leave(a *agentConn) {
	v.pc.Close()
	a.send(protocol.Signal{Type: protocol.SignalViewerLeft, ViewerID: v.id})
}

func (a *agentConn) nextOfType(typ protocol.SignalType) protocol.Signal {
	a.t.Helper()
	for {
		if s := a.nextAfter(); s.Type == typ {
			return s
		}
	}
}

func helloWith(mode protocol.Mode, viewers ...string) protocol.Signal {
	ss := &protocol.Session{ID: "s1", Mode: mode, State: protocol.SessionConnecting}
	for _, v := range viewers {
		id, name, _ := strings.Cut(v, "=")
		ss.Viewers = append(ss.Viewers, protocol.Viewer{ID: id, User: name})
	}
	return protocol.Signal{Session: ss}
}

func randomBytes(t *testing.T, n int) ([]byte, string) {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

// TestModesGateScreenAndInput: input from the control holder is injected
// only in Active mode; Chat and File transfer sessions never make the frame
// source, so nothing is captured or sent, while chat works.
func TestModesGateScreenAndInput(t *testing.T) {
	for _, mode := range protocol.Modes {
		t.Run(string(mode), func(t *testing.T) {
			h := newHarness(t, protocol.ScreenShareStart{Attended: false, Mode: mode}, unattendedPolicy())
			a := h.run()
			a.expectState(protocol.SessionConnecting, "")
			v := joinViewer(t, a, helloWith(mode, "v1=Tess Tech"))
			if m := v.nextControl("mode"); m.Mode != mode || !slices.Equal(m.Features, features(mode, h.cfg.Policy)) {
				t.Errorf("mode message %+v", m)
			}
			if hasScreen(mode) {
				// A frame arrives, and the monitor list the input needs.
				// (Before the holder changes: waiting for that skips other
				// messages.)
				if m := v.screenMsg(); m.Kind != screen.KindSize {
					t.Fatalf("first screen message %+v", m)
				}
				v.nextControl("monitors")
			}
			a.send(protocol.Signal{Type: protocol.SignalControl, Holder: "v1"})
			v.waitHolder("v1")
			v.sendInput(protocol.InputEvent{T: "move", X: 1, Y: 1})
			if mode == protocol.ModeActive {
				select {
				case ev := <-h.inj.events:
					if ev.T != "move" {
						t.Errorf("injected %+v", ev)
					}
				case d := <-h.drops:
					t.Fatalf("the holder's input was dropped in Active mode: %s", d)
				case <-time.After(wait):
					t.Fatal("input never applied")
				}
			} else {
				h.expectDrop("v1:not allowed")
			}
			// Chat goes both ways in every mode.
			v.say("hello from " + string(mode))
			if l := <-h.chat.lines; l.Text != "hello from "+string(mode) || l.From != "Tess Tech" {
				t.Errorf("the user's window shows %+v", l)
			}
			if !hasScreen(mode) {
				if n := h.src.made.Load(); n != 0 {
					t.Errorf("a %s session made the frame source %d times", mode, n)
				}
				if n := len(v.screen); n != 0 {
					t.Errorf("a %s session sent %d screen messages", mode, n)
				}
				if h.inj.closed.Load() != 0 || len(h.inj.events) != 0 {
					t.Error("a screen-less session touched the injector")
				}
			}
		})
	}
}

// TestModeChangeDuringSession: a technician asks for another mode; the
// user declines, then accepts; the agent reports it, switches when the
// server records it, and tells the viewers; a stale mode from the server
// is never taken.
func TestModeChangeDuringSession(t *testing.T) {
	pol := policy.Default()
	pol.Modes = []protocol.Mode{protocol.ModeActive, protocol.ModeMonitor, protocol.ModeChat}
	h := newHarness(t, protocol.ScreenShareStart{Attended: true, Mode: protocol.ModeMonitor, AcceptanceTimeoutS: 30}, pol)
	a := h.run()
	a.expectState(protocol.SessionAwaitingAcceptance, "")
	<-h.ui.asked
	h.ui.answers <- Answer{Accepted: true, Mode: protocol.ModeMonitor}
	a.expectState(protocol.SessionConnecting, "")
	v := joinViewer(t, a, helloWith(protocol.ModeMonitor, "v1=Tess Tech"))
	if m := v.nextControl("mode"); m.Mode != protocol.ModeMonitor {
		t.Fatalf("mode %+v", m)
	}

	// A stale update naming Active (not accepted by the user) changes
	// nothing: the next message is the holder, not a mode.
	a.send(protocol.Signal{Type: protocol.SignalSession, Session: &protocol.Session{ID: "s1", Mode: protocol.ModeActive, State: protocol.SessionActive}})
	a.send(protocol.Signal{Type: protocol.SignalControl, Holder: "v1"})
	if m := v.nextControl("mode", "holder"); m.T != "holder" {
		t.Fatalf("the agent took a mode the user never accepted: %+v", m)
	}

	// Not enabled: refused at once, nobody asked.
	v.sendControlMsg(protocol.ControlMsg{T: protocol.ControlModeRequest, Mode: protocol.ModeGuidance})
	if m := v.nextControl("mode_refused"); !strings.Contains(m.Text, "not enabled") {
		t.Errorf("refusal %+v", m)
	}

	// Declined by the user.
	v.sendControlMsg(protocol.ControlMsg{T: protocol.ControlModeRequest, Mode: protocol.ModeActive})
	req := <-h.ui.modeAsked
	if req.From != protocol.ModeMonitor || req.To != protocol.ModeActive || req.Technician != "Tess Tech" {
		t.Errorf("the user was asked %+v", req)
	}
	h.ui.modeAnswers <- false
	if m := v.nextControl("mode_refused"); m.Mode != protocol.ModeActive || !strings.Contains(m.Text, "declined") {
		t.Errorf("refusal %+v", m)
	}

	// Accepted: reported to the server with the current state.
	v.sendControlMsg(protocol.ControlMsg{T: protocol.ControlModeRequest, Mode: protocol.ModeActive})
	<-h.ui.modeAsked
	h.ui.modeAnswers <- true
	s := a.nextOfType(protocol.SignalState)
	if s.State != protocol.SessionActive || s.Mode != protocol.ModeActive {
		t.Fatalf("reported %+v, want state active with mode active", s)
	}
	// Input is still dropped until the server has recorded it.
	v.sendInput(protocol.InputEvent{T: "move", X: 1, Y: 1})
	h.expectDrop("v1:not allowed")
	a.send(protocol.Signal{Type: protocol.SignalSession, Session: &protocol.Session{ID: "s1", Mode: protocol.ModeActive, State: protocol.SessionActive, ControlHolder: "v1"}})
	m := v.nextControl("mode")
	if m.Mode != protocol.ModeActive || !slices.Contains(m.Features, protocol.FeatureFile) {
		t.Errorf("mode message %+v", m)
	}
	select {
	case n := <-h.ui.notices:
		if !strings.Contains(n, "control") {
			t.Errorf("the user was told %q", n)
		}
	case <-time.After(wait):
		t.Error("the user was not told of the change")
	}
	v.nextControl("monitors")
	v.sendInput(protocol.InputEvent{T: "move", X: 2, Y: 2})
	select {
	case <-h.inj.events:
	case d := <-h.drops:
		t.Fatalf("input dropped after the switch to Active: %s", d)
	case <-time.After(wait):
		t.Fatal("input never applied")
	}

	// The server refuses (its policy changed): the viewer hears why.
	v.sendControlMsg(protocol.ControlMsg{T: protocol.ControlModeRequest, Mode: protocol.ModeChat})
	<-h.ui.modeAsked
	h.ui.modeAnswers <- true
	a.nextOfType(protocol.SignalState)
	a.send(protocol.Signal{Type: protocol.SignalError, Message: `mode "chat" is not enabled by policy`})
	if m := v.nextControl("mode_refused"); !strings.Contains(m.Text, "server refused") {
		t.Errorf("refusal %+v", m)
	}
}

// TestChatRelay: lines go from a technician to the user's window and every
// viewer, and back (the user's also to the server); a viewer joining later gets the
// history.
func TestChatRelay(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: false, Mode: protocol.ModeChat}, unattendedPolicy())
	a := h.run()
	a.expectState(protocol.SessionConnecting, "")
	v := joinViewer(t, a, helloWith(protocol.ModeChat, "v1=Tess Tech", "v2=Otto Other"))
	v.say("Hello, can you see the error?")
	if l := <-h.chat.lines; l.Role != protocol.ChatTechnician || l.From != "Tess Tech" || l.Text != "Hello, can you see the error?" {
		t.Errorf("the user's window shows %+v", l)
	}
	// The viewer's chat channel may open after the first line: it then
	// gets that line in the "history" message instead.
	switch m := v.chatMsg(); {
	case m.T == "line" && m.Line != nil && m.Line.From == "Tess Tech":
	case m.T == "history" && len(m.Lines) == 1 && m.Lines[0].From == "Tess Tech":
	default:
		t.Errorf("the viewer got %+v", m)
	}
	h.chat.config().Say("Yes, it says disk full")
	// A history message (which replaces the viewer's log) may also come
	// between the two.
	m := v.chatMsg()
	for m.T == "history" {
		m = v.chatMsg()
	}
	if m.Line == nil || m.Line.Role != protocol.ChatUser || m.Line.Text != "Yes, it says disk full" {
		t.Errorf("the viewer got %+v", m)
	}
	// Only the user's line is reported: the technician's viewer reports its
	// own lines, so the first chat report is the user's.
	if s := a.nextOfType(protocol.SignalChat); s.ViewerID != "" || s.Chat == nil || s.Chat.Text != "Yes, it says disk full" {
		t.Errorf("reported %+v, want only the user's line", s)
	}
	<-h.chat.lines
	// Bad lines are dropped.
	v.say("   ")
	h.chat.config().Say("")
	v2 := joinAnother(t, a, "v2")
	m = v2.chatMsg()
	if m.T != "history" || len(m.Lines) != 2 || m.Lines[1].Role != protocol.ChatUser {
		t.Errorf("the late viewer got %+v", m)
	}
}

// TestFileToEndpoint: a technician's file, interrupted by a dropped
// channel and resumed from the next viewer connection, lands in Downloads
// under a plain name, checksum checked, never overwriting; the policy's
// limit, the mode and a bad checksum are refused.
func TestFileToEndpoint(t *testing.T) {
	pol := unattendedPolicy()
	pol.FileMaxBytes = 4 << 20
	h := newHarness(t, protocol.ScreenShareStart{Attended: false, Mode: protocol.ModeFile}, pol)
	dir := h.cfg.Downloads
	a := h.run()
	a.expectState(protocol.SessionConnecting, "")
	v := joinViewer(t, a, helloWith(protocol.ModeFile, "v1=Tess Tech", "v2=Tess Tech", "v3=Tess Tech"))
	data, sum := randomBytes(t, 3<<20+1234)

	v.sendFileMsg(protocol.FileMsg{T: protocol.FileOffer, ID: 1, Name: "../../etc/passwd", Size: int64(len(data)), SHA256: sum})
	if m := v.fileMsg(); m.T != protocol.FileAccept || m.Offset != 0 {
		t.Fatalf("got %+v, want accept at 0", m)
	}
	v.sendChunks(1, data, 0, 2<<20)
	var got int64
	for got < 1<<20 {
		m := v.fileMsg()
		if m.T != protocol.FileProgress {
			t.Fatalf("got %+v, want progress", m)
		}
		got = m.Offset
	}
	v.leave(a)

	// The same file from a new connection resumes where the endpoint is.
	v2 := joinAnother(t, a, "v2")
	v2.sendFileMsg(protocol.FileMsg{T: protocol.FileOffer, ID: 9, Name: "../../etc/passwd", Size: int64(len(data)), SHA256: sum})
	m := v2.fileMsg()
	if m.T != protocol.FileAccept || m.Offset < got || m.Offset > 2<<20 {
		t.Fatalf("got %+v, want accept resuming between %d and %d", m, got, 2<<20)
	}
	v2.sendChunks(9, data, int(m.Offset), len(data))
	for m = v2.fileMsg(); m.T == protocol.FileProgress; m = v2.fileMsg() {
	}
	if m.T != protocol.FileDone || m.Name != "passwd" {
		t.Fatalf("got %+v, want done as passwd", m)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "passwd")); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("Downloads/passwd: %d bytes, %v; want the file sent", len(b), err)
	}
	if s := a.nextOfType(protocol.SignalFile); s.File.Direction != protocol.FileToEndpoint || s.File.SHA256 != sum || s.File.Name != "passwd" || s.File.Viewer != "v2" {
		t.Errorf("reported %+v", s.File)
	}

	// The same name again: "passwd (1)", the first one untouched.
	small, smallSum := randomBytes(t, 1000)
	v2.sendFileMsg(protocol.FileMsg{T: protocol.FileOffer, ID: 10, Name: `C:\Windows\passwd`, Size: 1000, SHA256: smallSum})
	if m := v2.fileMsg(); m.T != protocol.FileAccept {
		t.Fatalf("got %+v", m)
	}
	v2.sendChunks(10, small, 0, len(small))
	if m := v2.fileMsg(); m.T != protocol.FileDone || m.Name != "passwd (1)" {
		t.Fatalf("got %+v, want done as passwd (1)", m)
	}

	// Too large for the policy.
	v2.sendFileMsg(protocol.FileMsg{T: protocol.FileOffer, ID: 11, Name: "big.iso", Size: 5 << 20, SHA256: smallSum})
	if m := v2.fileMsg(); m.T != protocol.FileReject || !strings.Contains(m.Error, "policy") {
		t.Errorf("got %+v, want a reject naming the policy", m)
	}
	// Damaged on the way: refused, nothing saved.
	v2.sendFileMsg(protocol.FileMsg{T: protocol.FileOffer, ID: 12, Name: "report.pdf", Size: 1000, SHA256: strings.Repeat("0", 64)})
	if m := v2.fileMsg(); m.T != protocol.FileAccept {
		t.Fatalf("got %+v", m)
	}
	v2.sendChunks(12, small, 0, len(small))
	if m := v2.fileMsg(); m.T != protocol.FileReject || !strings.Contains(m.Error, "checksum") {
		t.Errorf("got %+v, want a checksum reject", m)
	}
	// Out of order data is refused.
	v2.sendFileMsg(protocol.FileMsg{T: protocol.FileOffer, ID: 13, Name: "x", Size: 1000, SHA256: smallSum})
	v2.fileMsg()
	v2.sendChunks(13, small, 500, 1000)
	if m := v2.fileMsg(); m.T != protocol.FileReject {
		t.Errorf("got %+v, want a reject", m)
	}

	// Only the two files are in Downloads: no partials, nothing elsewhere.
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if want := []string{"passwd", "passwd (1)"}; !slices.Equal(names, want) {
		t.Errorf("Downloads holds %q, want %q", names, want)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "etc")); err == nil {
		t.Error("a directory was created outside Downloads")
	}

	// Leaving file transfer mode refuses new offers.
	a.send(protocol.Signal{Type: protocol.SignalSession, Session: &protocol.Session{ID: "s1", Mode: protocol.ModeChat, State: protocol.SessionActive}})
	for v2.nextControl("mode").Mode != protocol.ModeChat {
	}
	v2.sendFileMsg(protocol.FileMsg{T: protocol.FileOffer, ID: 14, Name: "x", Size: 1000, SHA256: smallSum})
	if m := v2.fileMsg(); m.T != protocol.FileReject || !strings.Contains(m.Error, "mode") {
		t.Errorf("got %+v, want a reject naming the mode", m)
	}
}

// TestFileFromEndpoint: a file the user picks goes to the viewer, resumes
// on the next connection after a drop, and is reported once delivered.
func TestFileFromEndpoint(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: false, Mode: protocol.ModeFile}, unattendedPolicy())
	a := h.run()
	a.expectState(protocol.SessionConnecting, "")
	v := joinViewer(t, a, helloWith(protocol.ModeFile, "v1=Tess Tech", "v2=Tess Tech"))
	data, sum := randomBytes(t, 3<<20+77)
	path := filepath.Join(t.TempDir(), "screenshot.png")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	waitChat := func(what string, cond func(*fakeChat) bool) {
		t.Helper()
		deadline := time.After(wait)
		for {
			h.chat.mu.Lock()
			ok := cond(h.chat)
			h.chat.mu.Unlock()
			if ok {
				return
			}
			select {
			case <-h.chat.changed:
			case <-deadline:
				t.Fatalf("the chat window never showed %s: %v", what, h.chat.status)
			}
		}
	}
	waitChat("Send file…", func(c *fakeChat) bool { return c.files && c.cfg.SendFile != nil })
	h.chat.config().SendFile(path)

	offer := v.fileMsg()
	if offer.T != protocol.FileOffer || offer.Name != "screenshot.png" || offer.SHA256 != sum || offer.Size != int64(len(data)) {
		t.Fatalf("offer %+v", offer)
	}
	v.sendFileMsg(protocol.FileMsg{T: protocol.FileAccept, ID: offer.ID})
	var recv []byte
	for len(recv) < 1<<20 {
		select {
		case m := <-v.fileIn:
			c, err := protocol.DecodeFileChunk(m.Data)
			if m.IsString || err != nil || c.ID != offer.ID || c.Offset != int64(len(recv)) {
				t.Fatalf("chunk %v at %d: %v", c.ID, c.Offset, err)
			}
			recv = append(recv, c.Data...)
		case <-time.After(wait):
			t.Fatal("no chunk")
		}
	}
	v.leave(a)

	v2 := joinAnother(t, a, "v2")
	offer2 := v2.fileMsg()
	if offer2.T != protocol.FileOffer || offer2.ID != offer.ID || offer2.SHA256 != sum {
		t.Fatalf("offer on the new connection %+v", offer2)
	}
	v2.sendFileMsg(protocol.FileMsg{T: protocol.FileAccept, ID: offer.ID, Offset: int64(len(recv))})
	for len(recv) < len(data) {
		select {
		case m := <-v2.fileIn:
			c, err := protocol.DecodeFileChunk(m.Data)
			if m.IsString || err != nil || c.Offset != int64(len(recv)) {
				t.Fatalf("chunk at %d (have %d): %v", c.Offset, len(recv), err)
			}
			recv = append(recv, c.Data...)
		case <-time.After(wait):
			t.Fatalf("no chunk after %d bytes", len(recv))
		}
	}
	if got := sha256.Sum256(recv); hex.EncodeToString(got[:]) != sum {
		t.Fatal("the received file's checksum differs")
	}
	v2.sendFileMsg(protocol.FileMsg{T: protocol.FileProgress, ID: offer.ID, Offset: int64(len(recv))})
	v2.sendFileMsg(protocol.FileMsg{T: protocol.FileDone, ID: offer.ID, Name: "screenshot.png"})
	if s := a.nextOfType(protocol.SignalFile); s.File.Direction != protocol.FileFromEndpoint || s.File.SHA256 != sum || s.File.Viewer != "v2" {
		t.Errorf("reported %+v", s.File)
	}
	waitChat("Sent", func(c *fakeChat) bool { return c.status[filexfer.StatusKey("out", path)] == "Sent screenshot.png" })
}

// TestClipboardSync: the holder's clipboard reaches the endpoint, the
// end user's copies reach the holder; other viewers' are ignored.
func TestClipboardSync(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: false, Mode: protocol.ModeActive}, unattendedPolicy())
	a := h.run()
	a.expectState(protocol.SessionConnecting, "")
	v := joinViewer(t, a, helloWith(protocol.ModeActive, "v1=Tess Tech", "v2=Otto"))
	v2 := joinAnother(t, a, "v2")
	a.send(protocol.Signal{Type: protocol.SignalControl, Holder: "v1"})
	v.waitHolder("v1")
	v2.waitHolder("v1")
	<-h.clip.watched
	v2.sendControlMsg(protocol.ControlMsg{T: protocol.ControlClipboard, Text: "not the holder"})
	v.sendControlMsg(protocol.ControlMsg{T: protocol.ControlClipboard, Text: "ticket #4711"})
	if got := <-h.clip.set; got != "ticket #4711" {
		t.Errorf("the endpoint's clipboard was set to %q, want the holder's", got)
	}
	h.clip.copy("C:\\logs\\error.txt")
	if m := v.nextControl("clipboard"); m.Text != "C:\\logs\\error.txt" {
		t.Errorf("the holder got %+v", m)
	}
}

// TestGuidanceDraws: in Guidance the technician's pointer and marks go to
// the overlay, and nothing is injected.
func TestGuidanceDraws(t *testing.T) {
	h := newHarness(t, protocol.ScreenShareStart{Attended: false, Mode: protocol.ModeGuidance}, unattendedPolicy())
	a := h.run()
	a.expectState(protocol.SessionConnecting, "")
	v := joinViewer(t, a, helloWith(protocol.ModeGuidance, "v1=Tess Tech"))
	v.nextControl("monitors")
	v.sendControlMsg(protocol.ControlMsg{T: protocol.ControlPointer, X: 10, Y: 20})
	if p := <-h.ov.pointers; p != image.Pt(10, 20) {
		t.Errorf("pointer at %v", p)
	}
	v.sendControlMsg(protocol.ControlMsg{T: protocol.ControlMark, Points: []int{1, 2, 30, 40, 500, 90}})
	if pts := <-h.ov.marks; !slices.Equal(pts, []image.Point{{1, 2}, {30, 40}, {127, 90}}) {
		t.Errorf("mark %v (clipped to the 128x96 monitor)", pts)
	}
	v.sendInput(protocol.InputEvent{T: "move", X: 3, Y: 3})
	h.expectDrop("v1:not allowed")
}

var _ = webrtc.DataChannelStateOpen
