package session

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/tetherdesk/tether/agent/tools/terminal"
	"github.com/tetherdesk/tether/shared/policy"
	"github.com/tetherdesk/tether/shared/protocol"
)

// transcriptUpload is a terminal transcript the fake server received.
type transcriptUpload struct {
	auth, total string
	data        []byte
}

func (f *fakeServer) transcript(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	f.transcripts <- transcriptUpload{auth: r.Header.Get("Authorization"), total: r.Header.Get(protocol.TranscriptTotalHeader), data: b}
	w.WriteHeader(http.StatusCreated)
}

func toolHarness(t testing.TB, tool string, attended bool, pol policy.ScreenShare, serves ...string) *harness {
	h := newHarness(t, protocol.ScreenShareStart{Attended: attended, AcceptanceTimeoutS: 30, Tool: tool}, pol)
	h.cfg.NewSource, h.cfg.NewEncoder, h.cfg.NewInjector = nil, nil, nil // a tool needs none
	h.cfg.Tools = serves
	h.cfg.Terminal.Shell = []string{"/bin/sh"}
	return h
}

// TestToolSessionRefused: a tool session ends at once, with the reason,
// where this runner does not serve the tool or the policy asks the user
// and the server did not; declined, nothing is offered.
func TestToolSessionRefused(t *testing.T) {
	asking := policy.Default()
	for _, tc := range []struct {
		name     string
		tool     string
		attended bool
		serves   []string
		want     string
	}{
		{"not served here", protocol.ToolTerminalSystem, true, []string{protocol.ToolTerminal}, "does not run in this part of the agent"},
		{"system files in a helper", protocol.ToolFilesSystem, true, []string{protocol.ToolTerminal, protocol.ToolFiles}, "does not run in this part of the agent"},
		{"unknown tool", "debugger", true, []string{"debugger"}, "does not know the support tool"},
		{"policy asks, server did not", protocol.ToolTerminal, false, []string{protocol.ToolTerminal}, "tools_acceptance_required"},
		{"nobody logged on", protocol.ToolTerminalSystem, true, []string{protocol.ToolTerminalSystem}, "tools_without_user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := toolHarness(t, tc.tool, tc.attended, asking, tc.serves...)
			h.cfg.NoUser = tc.name == "nobody logged on"
			a := h.run()
			a.expectState(protocol.SessionEnded, protocol.EndedError)
			if r := h.ended(wait); r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
				t.Fatalf("Run = %q, %v; want an error saying %q", r.reason, r.err, tc.want)
			}
		})
	}
	t.Run("nobody logged on, allowed", func(t *testing.T) {
		pol := policy.Default()
		pol.ToolsWithoutUser = true
		h := toolHarness(t, protocol.ToolTerminalSystem, true, pol, protocol.ToolTerminalSystem)
		h.cfg.NoUser = true
		a := h.run()
		a.expectState(protocol.SessionAwaitingAcceptance, "")
		a.expectState(protocol.SessionConnecting, "")
		select {
		case req := <-h.ui.asked:
			t.Fatalf("asked %+v with nobody logged on", req)
		default:
		}
	})
	t.Run("declined", func(t *testing.T) {
		h := toolHarness(t, protocol.ToolTerminal, true, asking, protocol.ToolTerminal)
		a := h.run()
		a.send(protocol.Signal{Type: protocol.SignalHello})
		a.send(protocol.Signal{Type: protocol.SignalViewerJoined, ViewerID: "v1"})
		a.expectState(protocol.SessionAwaitingAcceptance, "")
		req := <-h.ui.asked
		if req.Tool != protocol.ToolTerminal || !strings.Contains(req.What(), "terminal") {
			t.Fatalf("prompt %+v (%q), want the terminal's", req, req.What())
		}
		h.ui.answers <- Answer{}
		a.expectState(protocol.SessionEnded, protocol.EndedDeclined)
		h.ended(wait)
		for s := range a.sigs {
			t.Errorf("signal after a declined tool: %+v", s)
		}
	})
}

// TestTerminalSession runs a terminal session through the relay: only
// the control and terminal channels open, the shell the session was
// opened for starts and answers, another is refused, and the transcript
// reaches the server when the session ends.
func TestTerminalSession(t *testing.T) {
	pol := policy.Default()
	pol.ToolsAcceptanceRequired = false
	h := toolHarness(t, protocol.ToolTerminal, false, pol, protocol.ToolTerminal)
	a := h.run()
	a.expectState(protocol.SessionConnecting, "")
	relayToolViewer(t, a)
	term := uint8(protocol.ChannelTerminalID)
	sendMsg := func(m protocol.TerminalMsg) {
		b, _ := json.Marshal(m)
		a.sendFrame(protocol.RelayFrame{ViewerID: "v1", Channel: term, Text: true, Payload: b})
	}
	var got uint64
	// next reads the terminal channel: control messages as such, output
	// into out; frames of other channels fail the test.
	var out strings.Builder
	nextMsg := func() protocol.TerminalMsg {
		t.Helper()
		for {
			f := a.nextFrame("v1", term, func(f protocol.RelayFrame) {
				if f.Channel != protocol.RelayAckChannel {
					t.Fatalf("a frame on channel %d in a terminal session", f.Channel)
				}
			})
			got += uint64(len(f.Payload))
			a.sendFrame(protocol.RelayFrame{ViewerID: "v1", Channel: protocol.RelayAckChannel, Payload: protocol.RelayAck(got)})
			if !f.Text {
				out.Write(f.Payload)
				continue
			}
			var m protocol.TerminalMsg
			if err := json.Unmarshal(f.Payload, &m); err != nil {
				t.Fatalf("terminal message %q: %v", f.Payload, err)
			}
			return m
		}
	}
	sendMsg(protocol.TerminalMsg{T: protocol.TerminalOpen, As: protocol.TerminalAsSystem, Cols: 80, Rows: 24})
	if m := nextMsg(); m.T != protocol.TerminalError || !strings.Contains(m.Error, "not a shell as system") {
		t.Fatalf("a root shell in a user's terminal session: %+v, want refused", m)
	}
	sendMsg(protocol.TerminalMsg{T: protocol.TerminalOpen, As: protocol.TerminalAsUser, Cols: 80, Rows: 24})
	if m := nextMsg(); m.T != protocol.TerminalOpened {
		t.Fatalf("open: %+v", m)
	}
	a.sendFrame(protocol.RelayFrame{ViewerID: "v1", Channel: term, Payload: []byte("echo tool-$((6*7)); exit 3\n")})
	if m := nextMsg(); m.T != protocol.TerminalExit || m.Code != 3 {
		t.Fatalf("exit: %+v", m)
	}
	if !strings.Contains(out.String(), "tool-42") {
		t.Fatalf("terminal output %q lacks the answer", out.String())
	}
	a.send(protocol.Signal{Type: protocol.SignalEnd})
	h.ended(wait)
	select {
	case tu := <-h.srv.transcripts:
		if tu.auth != "Bearer sess-token" || !strings.Contains(string(tu.data), "tool-42") || !strings.Contains(string(tu.data), "exit code 3") {
			t.Fatalf("transcript %q (auth %q)", tu.data, tu.auth)
		}
		if tu.total == "" || tu.total == "0" {
			t.Fatalf("transcript total %q", tu.total)
		}
	case <-time.After(wait):
		t.Fatal("no transcript uploaded")
	}
}

// relayToolViewer joins viewer v1 and moves it to the relay at once, then
// waits for the session to be active.
func relayToolViewer(t testing.TB, a *agentConn) {
	t.Helper()
	a.send(protocol.Signal{Type: protocol.SignalHello})
	a.send(protocol.Signal{Type: protocol.SignalViewerJoined, ViewerID: "v1"})
	if s := a.next(nil); s.Type != protocol.SignalOffer {
		t.Fatalf("got %+v, want the offer", s)
	}
	a.send(protocol.Signal{Type: protocol.SignalRelay, ViewerID: "v1", Reason: protocol.RelayICEFailed})
	for s := a.next(nil); s.Type != protocol.SignalState || s.State != protocol.SessionActive; s = a.next(nil) {
		if s.Type != protocol.SignalRelay && s.Type != protocol.SignalOffer {
			t.Fatalf("got %+v, want the relay's answer, then active", s)
		}
	}
}

// adminClient speaks the admin channel over the relay as a viewer,
// acknowledging every frame, and keeps the frames of other channels for
// next.
type adminClient struct {
	t       *testing.T
	a       *agentConn
	id      uint32
	got     uint64
	pending map[uint8][]protocol.RelayFrame
}

// next returns the next frame of channel ch.
func (c *adminClient) next(ch uint8) protocol.RelayFrame {
	c.t.Helper()
	if q := c.pending[ch]; len(q) > 0 {
		c.pending[ch] = q[1:]
		return q[0]
	}
	f := c.a.nextFrame("v1", ch, func(f protocol.RelayFrame) {
		if f.Channel == protocol.RelayAckChannel {
			return
		}
		c.ack(f)
		if c.pending == nil {
			c.pending = map[uint8][]protocol.RelayFrame{}
		}
		c.pending[f.Channel] = append(c.pending[f.Channel], f)
	})
	c.ack(f)
	return f
}

func (c *adminClient) ack(f protocol.RelayFrame) {
	c.got += uint64(len(f.Payload))
	c.a.sendFrame(protocol.RelayFrame{ViewerID: "v1", Channel: protocol.RelayAckChannel, Payload: protocol.RelayAck(c.got)})
}

func (c *adminClient) do(req protocol.AdminRequest) protocol.AdminResponse {
	c.t.Helper()
	c.id++
	req.ID = c.id
	b, _ := json.Marshal(req)
	ch := uint8(protocol.ChannelAdminID)
	c.a.sendFrame(protocol.RelayFrame{ViewerID: "v1", Channel: ch, Text: true, Payload: b})
	for {
		f := c.next(ch)
		var r protocol.AdminResponse
		if err := json.Unmarshal(f.Payload, &r); err != nil {
			c.t.Fatalf("admin response %q: %v", f.Payload, err)
		}
		if r.ID == c.id {
			return r
		}
	}
}

// TestProcessesSession lists and ends a process through a processes
// session, refuses services there, and reports the end to the audit log.
func TestProcessesSession(t *testing.T) {
	pol := policy.Default()
	pol.ToolsAcceptanceRequired = false
	h := toolHarness(t, protocol.ToolProcesses, false, pol, protocol.ToolProcesses)
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }()
	t.Cleanup(func() { cmd.Process.Kill() })
	a := h.run()
	a.expectState(protocol.SessionConnecting, "")
	relayToolViewer(t, a)
	c := &adminClient{t: t, a: a}
	r := c.do(protocol.AdminRequest{Op: protocol.AdminListProcesses})
	var sleep protocol.ProcessInfo
	for _, p := range r.Processes {
		if int(p.PID) == cmd.Process.Pid {
			sleep = p
		}
	}
	if r.Error != "" || sleep.Command != "sleep 600" || r.Taken.IsZero() {
		t.Fatalf("list: %q, sleep %+v among %d", r.Error, sleep, len(r.Processes))
	}
	if r := c.do(protocol.AdminRequest{Op: protocol.AdminStopService, Service: "cups"}); !strings.Contains(r.Error, "opened for processes") {
		t.Fatalf("a service in a processes session: %+v", r)
	}
	if r := c.do(protocol.AdminRequest{Op: protocol.AdminEndProcess, PID: sleep.PID, Started: sleep.Started}); r.Error != "" {
		t.Fatalf("end: %s", r.Error)
	}
	select {
	case <-waited:
	case <-time.After(wait):
		t.Fatal("the process still runs")
	}
	for s := a.next(nil); ; s = a.next(nil) {
		if s.Type == protocol.SignalToolAction {
			if s.ToolAction.Op != protocol.AdminEndProcess || s.ToolAction.Target != strconv.Itoa(cmd.Process.Pid) || s.ToolAction.Viewer != "v1" || s.ToolAction.Error != "" {
				t.Fatalf("action %+v", s.ToolAction)
			}
			break
		}
	}
}

// BenchmarkTerminalChannel: 1 MiB of a shell's output, from the command
// typed to its last byte on the viewer's side, through a terminal
// session's channel over WebRTC on loopback (the bridge's flow control
// and SCTP included); "pty" is the same burst read straight from a pty in
// the same run, the peer it is held against.
func BenchmarkTerminalChannel(b *testing.B) {
	const size = 1 << 20
	command := func(i int) (string, string) {
		// stty raw: exactly size bytes; EN''D: the command's own echo
		// does not end the wait.
		return fmt.Sprintf("stty raw -echo; head -c %d /dev/zero | tr '\\0' x; echo EN''D%d\n", size, i), fmt.Sprintf("END%d", i)
	}
	b.Run("pty", func(b *testing.B) {
		term, err := terminal.Start(terminal.Config{Shell: []string{"/bin/sh"}, Env: []string{"PATH=/usr/bin:/bin", "PS1="}})
		if err != nil {
			b.Fatal(err)
		}
		defer term.Close()
		buf := make([]byte, 64<<10)
		b.SetBytes(size)
		for i := 0; b.Loop(); i++ {
			cmd, want := command(i)
			io.WriteString(term, cmd)
			var seen []byte
			for !bytes.Contains(seen, []byte(want)) {
				n, err := term.Read(buf)
				if err != nil {
					b.Fatal(err)
				}
				seen = append(seen[max(0, len(seen)-16):], buf[:n]...)
			}
		}
	})
	b.Run("webrtc", func(b *testing.B) {
		pol := policy.Default()
		pol.ToolsAcceptanceRequired = false
		h := toolHarness(b, protocol.ToolTerminal, false, pol, protocol.ToolTerminal)
		h.cfg.Terminal = terminal.Config{Shell: []string{"/bin/sh"}, Env: []string{"PATH=/usr/bin:/bin", "PS1="}}
		a := h.run()
		a.expectState(protocol.SessionConnecting, "")
		a.send(protocol.Signal{Type: protocol.SignalHello})
		a.send(protocol.Signal{Type: protocol.SignalViewerJoined, ViewerID: "v1"})
		api := webrtc.NewAPI(webrtc.WithSettingEngine(*loopbackEngine()))
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			b.Fatal(err)
		}
		defer pc.Close()
		if _, err := pc.CreateDataChannel(protocol.ChannelControl, negotiated(protocol.ChannelControlID)); err != nil {
			b.Fatal(err)
		}
		term, err := pc.CreateDataChannel(protocol.ChannelTerminal, negotiated(protocol.ChannelTerminalID))
		if err != nil {
			b.Fatal(err)
		}
		out := make(chan []byte, 4096)
		ctl := make(chan protocol.TerminalMsg, 16)
		up := make(chan struct{})
		term.OnOpen(func() { close(up) })
		term.OnMessage(func(m webrtc.DataChannelMessage) {
			if m.IsString {
				var tm protocol.TerminalMsg
				json.Unmarshal(m.Data, &tm)
				ctl <- tm
				return
			}
			out <- append([]byte(nil), m.Data...)
		})
		v := &testViewer{t: b, id: "v1", pc: pc}
		v.connect(a)
		if s := a.next(v.addCandidate); s.Type != protocol.SignalState || s.State != protocol.SessionActive {
			b.Fatalf("got %+v, want active", s)
		}
		a.route(v)
		<-up
		open, _ := json.Marshal(protocol.TerminalMsg{T: protocol.TerminalOpen, As: protocol.TerminalAsUser, Cols: 200, Rows: 50})
		term.SendText(string(open))
		if m := <-ctl; m.T != protocol.TerminalOpened {
			b.Fatalf("open: %+v", m)
		}
		b.SetBytes(size)
		for i := 0; b.Loop(); i++ {
			cmd, want := command(i)
			term.Send([]byte(cmd))
			var seen []byte
			for !bytes.Contains(seen, []byte(want)) {
				select {
				case d := <-out:
					seen = append(seen[max(0, len(seen)-16):], d...)
				case <-time.After(wait):
					b.Fatal("the burst stopped coming")
				}
			}
		}
	})
}

// TestFilesSession lists a directory, downloads a file and uploads one
// through a files session (admin and file channels, over the relay), and
// refuses an upload whose partial file a local user replaced by a link.
func TestFilesSession(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 1<<20+123)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	pol := policy.Default()
	pol.ToolsAcceptanceRequired = false
	h := toolHarness(t, protocol.ToolFiles, false, pol, protocol.ToolFiles)
	h.cfg.Start.Write = true
	a := h.run()
	a.expectState(protocol.SessionConnecting, "")
	relayToolViewer(t, a)
	c := &adminClient{t: t, a: a}

	r := c.do(protocol.AdminRequest{Op: protocol.AdminListFiles, Path: dir})
	if r.Error != "" || r.Path != dir || len(r.Entries) != 1 || r.Entries[0].Name != "big.bin" || r.Entries[0].Size != int64(len(data)) || !r.Write {
		t.Fatalf("list: %+v", r)
	}
	// The user's files open first: the helper's user's home.
	if u, err := user.Current(); err != nil {
		t.Fatal(err)
	} else if r := c.do(protocol.AdminRequest{Op: protocol.AdminFileRoots}); r.Error != "" || len(r.Roots) < 2 || r.Roots[0] != u.HomeDir {
		t.Fatalf("roots %+v, want %s first", r, u.HomeDir)
	}
	if r := c.do(protocol.AdminRequest{Op: protocol.AdminListFiles, Path: dir + "/../"}); !strings.Contains(r.Error, `".."`) {
		t.Fatalf("a .. path: %+v", r)
	}

	fileCh := uint8(protocol.ChannelFileID)
	sendFile := func(m protocol.FileMsg) {
		b, _ := json.Marshal(m)
		a.sendFrame(protocol.RelayFrame{ViewerID: "v1", Channel: fileCh, Text: true, Payload: b})
	}
	nextFile := func() (protocol.FileMsg, []byte) {
		t.Helper()
		f := c.next(fileCh)
		if !f.Text {
			return protocol.FileMsg{}, f.Payload
		}
		m, err := protocol.DecodeFileMsg(f.Payload)
		if err != nil {
			t.Fatalf("file message %q: %v", f.Payload, err)
		}
		return m, nil
	}

	// Download.
	if r := c.do(protocol.AdminRequest{Op: protocol.AdminDownload, Path: dir + "/big.bin"}); r.Error != "" {
		t.Fatalf("download: %s", r.Error)
	}
	offer, _ := nextFile()
	sum := sha256.Sum256(data)
	if offer.T != protocol.FileOffer || offer.Name != "big.bin" || offer.Size != int64(len(data)) || offer.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("offer %+v", offer)
	}
	sendFile(protocol.FileMsg{T: protocol.FileAccept, ID: offer.ID})
	var got []byte
	for len(got) < len(data) {
		_, chunk := nextFile()
		ch, err := protocol.DecodeFileChunk(chunk)
		if err != nil || ch.ID != offer.ID || ch.Offset != int64(len(got)) {
			t.Fatalf("chunk %+v, %v at %d", ch, err, len(got))
		}
		got = append(got, ch.Data...)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("downloaded bytes differ")
	}
	// Audited once the last byte went, whatever the viewer says after.
	for s := a.next(nil); s.Type != protocol.SignalToolAction || s.ToolAction.Op != protocol.AdminDownload; s = a.next(nil) {
	}

	// Upload, twice: the second gets a name of its own.
	up := []byte("uploaded by the technician\n")
	upSum := sha256.Sum256(up)
	if r := c.do(protocol.AdminRequest{Op: protocol.AdminUploadTo, Path: dir}); r.Error != "" {
		t.Fatalf("upload_to: %s", r.Error)
	}
	for i, want := range []string{"note.txt", "note (2).txt"} {
		id := uint32(100 + i)
		sendFile(protocol.FileMsg{T: protocol.FileOffer, ID: id, Name: "note.txt", Size: int64(len(up)), SHA256: hex.EncodeToString(upSum[:])})
		if m, _ := nextFile(); m.T != protocol.FileAccept || m.Offset != 0 {
			t.Fatalf("upload %d: %+v", i, m)
		}
		a.sendFrame(protocol.RelayFrame{ViewerID: "v1", Channel: fileCh, Payload: protocol.AppendFileChunk(nil, protocol.FileChunk{ID: id, Data: up})})
		if m, _ := nextFile(); m.T != protocol.FileDone || m.Name != want {
			t.Fatalf("upload %d: %+v, want done as %q", i, m, want)
		}
		if b, err := os.ReadFile(filepath.Join(dir, want)); err != nil || !bytes.Equal(b, up) {
			t.Fatalf("%s: %q, %v", want, b, err)
		}
		if fi, err := os.Stat(filepath.Join(dir, want)); err != nil || fi.Mode().Perm() != 0o644 {
			t.Fatalf("%s: mode %v, %v; want 0644", want, fi.Mode(), err)
		}
	}

	// A partial file swapped for a link is not written through.
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("keep"), 0o644)
	evil := []byte("evil content")
	evilSum := hex.EncodeToString(func() []byte { s := sha256.Sum256(evil); return s[:] }())
	if err := os.Symlink(victim, filepath.Join(dir, ".tether-"+evilSum[:16]+fmt.Sprintf("-%d.part", len(evil)))); err != nil {
		t.Fatal(err)
	}
	sendFile(protocol.FileMsg{T: protocol.FileOffer, ID: 200, Name: "evil.txt", Size: int64(len(evil)), SHA256: evilSum})
	if m, _ := nextFile(); m.T != protocol.FileReject {
		t.Fatalf("an upload through a planted link: %+v", m)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Fatalf("the link's target was written: %q", b)
	}

	// A partial file another user made (or a second name of another
	// file) is not written to either.
	if os.Geteuid() == 0 {
		other := []byte("other user's upload")
		otherSum := hex.EncodeToString(func() []byte { s := sha256.Sum256(other); return s[:] }())
		planted := filepath.Join(dir, ".tether-"+otherSum[:16]+fmt.Sprintf("-%d.part", len(other)))
		if err := os.WriteFile(planted, nil, 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(planted, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		sendFile(protocol.FileMsg{T: protocol.FileOffer, ID: 201, Name: "other.txt", Size: int64(len(other)), SHA256: otherSum})
		if m, _ := nextFile(); m.T != protocol.FileReject {
			t.Fatalf("an upload into another user's partial file: %+v", m)
		}
	}
}

// TestTerminalResume: the viewer's connection drops and comes back; its
// shell, kept meanwhile, goes on where it was. A session's end ends it
// and records it.
func TestTerminalResume(t *testing.T) {
	pol := policy.Default()
	pol.ToolsAcceptanceRequired = false
	h := toolHarness(t, protocol.ToolTerminal, false, pol, protocol.ToolTerminal)
	a := h.run()
	a.expectState(protocol.SessionConnecting, "")
	relayToolViewer(t, a)
	c := &adminClient{t: t, a: a}
	term := uint8(protocol.ChannelTerminalID)
	open := func() protocol.TerminalMsg {
		t.Helper()
		b, _ := json.Marshal(protocol.TerminalMsg{T: protocol.TerminalOpen, As: protocol.TerminalAsUser, Cols: 80, Rows: 24})
		a.sendFrame(protocol.RelayFrame{ViewerID: "v1", Channel: term, Text: true, Payload: b})
		for {
			f := c.next(term)
			if f.Text {
				var m protocol.TerminalMsg
				json.Unmarshal(f.Payload, &m)
				return m
			}
		}
	}
	waitOut := func(want string) {
		t.Helper()
		var seen []byte
		for !bytes.Contains(seen, []byte(want)) {
			f := c.next(term)
			if !f.Text {
				seen = append(seen, f.Payload...)
			}
		}
	}
	if m := open(); m.T != protocol.TerminalOpened || m.Resumed {
		t.Fatalf("first open: %+v", m)
	}
	a.sendFrame(protocol.RelayFrame{ViewerID: "v1", Channel: term, Payload: []byte("X=kept-$((6*7)); echo set\n")})
	waitOut("set")

	// The connection drops: the server says the viewer left and joined
	// again, and the new connection goes through the relay.
	a.send(protocol.Signal{Type: protocol.SignalViewerLeft, ViewerID: "v1"})
	a.send(protocol.Signal{Type: protocol.SignalViewerJoined, ViewerID: "v1"})
	for s := a.next(nil); s.Type != protocol.SignalOffer; s = a.next(nil) {
	}
	a.send(protocol.Signal{Type: protocol.SignalRelay, ViewerID: "v1", Reason: protocol.RelayICEFailed})
	for s := a.next(nil); s.Type != protocol.SignalRelay; s = a.next(nil) {
	}
	c.pending, c.got = nil, 0 // a new relay link counts afresh
	if m := open(); m.T != protocol.TerminalOpened || !m.Resumed {
		t.Fatalf("open after the drop: %+v, want the kept shell", m)
	}
	a.sendFrame(protocol.RelayFrame{ViewerID: "v1", Channel: term, Payload: []byte("echo got-$X\n")})
	waitOut("got-kept-42")

	a.send(protocol.Signal{Type: protocol.SignalEnd})
	h.ended(wait)
	select {
	case tu := <-h.srv.transcripts:
		if !strings.Contains(string(tu.data), "got-kept-42") {
			t.Fatalf("transcript %q", tu.data)
		}
	case <-time.After(wait):
		t.Fatal("no transcript")
	}
}
