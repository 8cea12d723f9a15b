//go:build linux

package e2e

// Session modes, chat, file transfer and clipboard end to end: the real
// server and agent (its helper on an Xvfb display with the Tk test client),
// the technician in headless Chromium. One environment serves every
// subtest of TestSessionModes.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Bounds of these tests' waits (ceilings, not timings).
const (
	transferTimeout = 3 * time.Minute // 50 MB through WebRTC and a JS SHA-256 on a loaded machine
	fileSize        = 50 << 20
)

// Window titles on the endpoint (agent/session).
const (
	chatWindowTitle   = "Tether chat"
	sendFileTitle     = "Tether: send a file"
	modeQuestionTitle = "Tether remote support: mode change"
)

// modesEnv is shareEnv with the endpoint's Downloads folder known.
type modesEnv struct {
	*shareEnv
	downloads string
}

func startModesEnv(t *testing.T) *modesEnv {
	t.Helper()
	e := &shareEnv{}
	e.s = startServer(t)
	requireSessionsAPI(t, e.s)
	e.display = startXvfb(t)
	me := &modesEnv{shareEnv: e, downloads: filepath.Join(userDir(t), "Downloads")}
	e.a = startAgentEnv(t, e.s, e.s.enrollmentToken(), t.TempDir(), "DISPLAY="+e.display, "XDG_DOWNLOAD_DIR="+me.downloads)
	e.ep = waitEndpoint(t, e.s.api, hostname(t))
	doc := map[string]any{"screenshare": map[string]any{
		"unattended_allowed": true, "acceptance_timeout_s": 30, "modes": protocol.Modes,
		"file_transfer": true, "file_max_bytes": 64 << 20, "clipboard_sync": true,
	}}
	if err := e.s.api.do(http.MethodPut, "/api/v1/policies/global", "", doc, nil); err != nil {
		t.Fatalf("PUT /api/v1/policies/global: %v", err)
	}
	if err := e.s.api.do(http.MethodPost, "/api/v1/users", "", protocol.CreateUserRequest{Name: tech1, Password: tech1Password,
		Roles: []string{perm.RoleAdministrator, perm.RoleScreenShareUnattended}}, nil); err != nil {
		t.Fatalf("create user: %v", err)
	}
	e.tech1 = e.s.userClient(tech1, tech1Password)
	e.br = startBrowser(t)
	tb := e.br.firstTab()
	tb.signIn(e.s.url, tech1, tech1Password)
	grantClipboard(t, tb, e.s.url)
	return me
}

// grantClipboard makes the viewer's clipboard work in tb as on a focused
// page with the user's permission.
func grantClipboard(t testing.TB, tb *tab, origin string) {
	t.Helper()
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(tb.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted, Origin: origin}); err != nil {
			t.Fatalf("granting %s: %v", name, err)
		}
	}
	if _, err := chromedp.Call(tb.ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatalf("focus emulation: %v", err)
	}
}

// holdingSession starts an unattended session in mode as tech1, shows it
// in tb and takes control there.
func (e *modesEnv) holdingSession(t testing.TB, tb *tab, mode protocol.Mode) protocol.Session {
	t.Helper()
	s := e.startSessionMode(t, false, mode)
	tb.openViewer(e.s.url, s.ID)
	st := tb.waitLive(liveTimeout)
	tb.waitMode(mode)
	control(t, e.tech1, s.ID, protocol.ControlRequestOp, st.ViewerID)
	waitHolder(t, st.ViewerID, tb)
	return s
}

// startSessionMode creates a session in mode as tech1; the cleanup ends it.
func (e *modesEnv) startSessionMode(t testing.TB, attended bool, mode protocol.Mode) protocol.Session {
	t.Helper()
	var s protocol.Session
	if err := e.tech1.do(http.MethodPost, "/api/v1/sessions", "", protocol.CreateSessionRequest{EndpointID: e.ep.ID, Attended: attended, Mode: mode}, &s); err != nil {
		t.Fatalf("POST /api/v1/sessions (mode %s): %v", mode, err)
	}
	if s.Mode != mode {
		t.Fatalf("session created in mode %q, want %q", s.Mode, mode)
	}
	t.Cleanup(func() {
		if got, err := e.session(s.ID); err == nil && got.State != protocol.SessionEnded {
			_ = e.tech1.do(http.MethodPost, "/api/v1/sessions/"+url.PathEscape(s.ID)+"/end", "", struct{}{}, nil)
			e.waitEnded(t, s.ID, paintTimeout, protocol.EndedByTechnician)
		}
	})
	return s
}

// waitMode waits until the viewer works in mode (the agent said so).
func (tb *tab) waitMode(mode protocol.Mode) {
	tb.t.Helper()
	testenv.Eventually(tb.t, liveTimeout, "the viewer to be in "+string(mode)+" mode", func() (bool, error) {
		m, err := evalJS[protocol.Mode](tb, `window.tetherStats.mode`)
		return err == nil && m == mode, fmt.Errorf("mode %q (%v)", m, err)
	})
}

// logCount counts the agent's log records with msg for session id.
func (a *agent) logCount(id, msg string) int {
	n := 0
	for _, rec := range a.logRecords() {
		if rec["session_id"] == id && rec["msg"] == msg {
			n++
		}
	}
	return n
}

// logRecordsOf returns the agent's log records with msg for session id.
func (a *agent) logRecordsOf(id, msg string) []map[string]any {
	var out []map[string]any
	for _, rec := range a.logRecords() {
		if rec["session_id"] == id && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// rawInput sends input events straight onto the viewer's input channel,
// past the viewer's own mode check.
func (tb *tab) rawInput(evs ...protocol.InputEvent) {
	tb.t.Helper()
	for _, ev := range evs {
		ok, err := evalJS[bool](tb, fmt.Sprintf(`window.tetherDebug.rawInput(%s)`, jsonValue(ev)))
		if err != nil || !ok {
			tb.t.Fatalf("sending raw input %+v: %v (channel open: %v)", ev, err, ok)
		}
	}
	tb.inputDrained()
}

func jsonValue(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// clickAndType is a click at 200,150 and the text "m" as input events.
var clickAndType = []protocol.InputEvent{
	{T: "move", X: 200, Y: 150}, {T: "down", X: 200, Y: 150}, {T: "up", X: 200, Y: 150},
	{T: "key", Key: "KeyM", Down: true}, {T: "key", Key: "KeyM"}, {T: "text", Text: "m"},
}

// chatWindow waits for the end user's chat window and returns its id.
func chatWindow(t testing.TB, display string) string {
	t.Helper()
	return waitEndpointWindow(t, display, chatWindowTitle)
}

// waitEndpointWindow waits for a window whose title matches title on the endpoint
// and returns its id.
func waitEndpointWindow(t testing.TB, display, title string) string {
	t.Helper()
	return waitWindowNamed(t, display, title, liveTimeout)
}

// userTypes focuses window win on the endpoint and types text as the end
// user would, then presses key (if any).
func userTypes(t testing.TB, display, win, text, key string) {
	t.Helper()
	if out, err := xdotool(t, display, 10*time.Second, "windowfocus", "--sync", win); err != nil {
		t.Fatalf("xdotool windowfocus %s: %v %s", win, err, out)
	}
	if text != "" {
		if out, err := xdotool(t, display, 20*time.Second, "type", "--delay", "20", text); err != nil {
			t.Fatalf("xdotool type: %v %s", err, out)
		}
	}
	if key != "" {
		if out, err := xdotool(t, display, 10*time.Second, "key", key); err != nil {
			t.Fatalf("xdotool key %s: %v %s", key, err, out)
		}
	}
}

// randomFile writes n random bytes and returns the path and SHA-256.
func randomFile(t testing.TB, dir, name string, n int) (string, string) {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(rand.Reader, int64(n))); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p, hex.EncodeToString(h.Sum(nil))
}

func fileSHA256(t testing.TB, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

type transferStat struct {
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	SavedAs string `json:"savedAs"`
}

func (tb *tab) transfers(which string) []transferStat {
	tb.t.Helper()
	v, err := evalJS[[]transferStat](tb, `window.tetherStats.`+which)
	if err != nil {
		tb.t.Fatalf("reading %s: %v", which, err)
	}
	return v
}

// fileList is the text of the viewer's file transfer list.
func (tb *tab) fileList() string {
	s, _ := evalJS[string](tb, `document.getElementById("file-list").innerText`)
	return s
}

func (tb *tab) intStat(name string) int {
	v, _ := evalJS[int](tb, `window.tetherStats.`+name)
	return v
}

func TestSessionModes(t *testing.T) {
	e := startModesEnv(t)

	// Acceptance 3: a Monitor session never injects input, even input
	// sent straight onto the channel by a viewer holding control; after
	// a switch to Active the same input lands, so the path works.
	t.Run("MonitorNeverInjects", func(t *testing.T) {
		tb := e.br.firstTab().on(t)
		w := startWish(t, e.display)
		s := e.holdingSession(t, tb, protocol.ModeMonitor)
		tb.waitStats(paintTimeout, "the monitor list", func(v viewerStats) bool { return v.Monitors >= 1 })
		before := e.a.logCount(s.ID, "input dropped")
		tb.rawInput(clickAndType...)
		testenv.Eventually(t, inputTimeout, "the agent to drop all six input events", func() (bool, error) {
			n := e.a.logCount(s.ID, "input dropped") - before
			return n >= len(clickAndType), fmt.Errorf("%d dropped", n)
		})
		for _, ev := range w.events() {
			if ev.kind == "press" || ev.kind == "release" || ev.kind == "key" {
				t.Errorf("a Monitor session injected input: the endpoint saw %+v", ev)
			}
		}
		// The viewer itself sends nothing in Monitor mode.
		r := tb.canvasRect()
		tb.mouse(r, chromedp.MousePressed, 300, 300, input.MouseButtonLeft, 1)
		tb.mouse(r, chromedp.MouseReleased, 300, 300, input.MouseButtonLeft, 0)
		if n := tb.inputDrained(); n != 0 {
			t.Errorf("the viewer sent %d input events in Monitor mode", n)
		}

		// A technician's switch to Active (unattended: no question), recorded
		// by the server; now the same input lands.
		if ok, err := evalJS[bool](tb, `window.tetherDebug.requestMode("active")`); err != nil || !ok {
			t.Fatalf("requestMode: %v", err)
		}
		tb.waitMode(protocol.ModeActive)
		testenv.Eventually(t, paintTimeout, "the server to record mode active", func() (bool, error) {
			got, err := e.session(s.ID)
			return err == nil && got.Mode == protocol.ModeActive, fmt.Errorf("mode %q (%v)", got.Mode, err)
		})
		tb.rawInput(clickAndType...)
		w.waitLine(inputTimeout, "the click at 200,150 in Active mode", func(l string) bool {
			ev, ok := parseEvent(l)
			return ok && ev.kind == "press" && ev.button == 1 && abs(ev.x-200) <= 2 && abs(ev.y-150) <= 2
		})
		tb.screenshot("viewer-monitor-to-active.png")
	})

	// Acceptance 3: a Chat session never captures or sends a frame; the
	// chat goes both ways and lands in the session's history.
	t.Run("ChatNeverSendsFrame", func(t *testing.T) {
		tb := e.br.firstTab().on(t)
		startWish(t, e.display)
		s := e.startSessionMode(t, false, protocol.ModeChat)
		tb.openViewer(e.s.url, s.ID)
		tb.waitMode(protocol.ModeChat)
		testenv.Eventually(t, liveTimeout, "the chat box to open", func() (bool, error) {
			dis, err := evalJS[bool](tb, `document.getElementById("chat-text").disabled`)
			return err == nil && !dis, err
		})
		tb.do("write to the user",
			chromedp.SendKeys(chromedp.ID("chat-text"), "Hello, I am looking at your ticket."),
			chromedp.Click(chromedp.ID("chat-send")))
		win := chatWindow(t, e.display)
		userTypes(t, e.display, win, "Thanks, the printer is jammed", "Return")
		testenv.Eventually(t, paintTimeout, "the user's reply in the viewer", func() (bool, error) {
			n, err := evalJS[int](tb, `window.tetherStats.chat.filter((l) => l.role === "user" && l.text === "Thanks, the printer is jammed").length`)
			return err == nil && n == 1, fmt.Errorf("%d (%v)", n, err)
		})
		tb.screenshot("viewer-chat.png")
		st, _ := tb.stats()
		if st.Messages != 0 || st.Sizes != 0 || st.Frames != 0 || st.Tiles != 0 {
			t.Errorf("a Chat session sent screen messages: %+v", st)
		}
		if m := e.a.captureMethods(s.ID); len(m) != 0 {
			t.Errorf("a Chat session opened the screen capture (%v)", m)
		}
		// The session's history keeps the chat, in order, with names.
		var hist struct {
			Sessions []protocol.SessionRecord `json:"sessions"`
		}
		testenv.Eventually(t, paintTimeout, "the chat in the session history", func() (bool, error) {
			if err := e.s.api.do(http.MethodGet, "/api/v1/audit/sessions?technician="+tech1, "", nil, &hist); err != nil {
				return false, err
			}
			for _, r := range hist.Sessions {
				if r.ID == s.ID {
					return len(r.Chat) == 2, fmt.Errorf("chat %+v", r.Chat)
				}
			}
			return false, fmt.Errorf("session %s not in the history", s.ID)
		})
		for _, r := range hist.Sessions {
			if r.ID != s.ID {
				continue
			}
			if c := r.Chat[0]; c.Role != protocol.ChatTechnician || c.From != tech1 || c.Text != "Hello, I am looking at your ticket." {
				t.Errorf("first line %+v", c)
			}
			if c := r.Chat[1]; c.Role != protocol.ChatUser || c.Text != "Thanks, the printer is jammed" {
				t.Errorf("second line %+v", c)
			}
		}
	})

	// Acceptance 4: 50 MB each way, interrupted once and resumed, checksum
	// equal; a sender's ../../etc/passwd lands as Downloads/passwd.
	t.Run("FileTransferBothWays", func(t *testing.T) {
		tb := e.br.firstTab().on(t)
		s := e.startSessionMode(t, false, protocol.ModeFile)
		tb.openViewer(e.s.url, s.ID)
		tb.waitMode(protocol.ModeFile)
		dir := userDir(t) // the user picks a file of theirs to send

		// Technician → endpoint, the connection dropped at 20 MB.
		src, sum := randomFile(t, dir, "install-log.tar.gz", fileSize)
		if _, err := evalJS[int](tb, `window.tetherDebug.dropAt = 20 << 20`); err != nil {
			t.Fatal(err)
		}
		resumes := tb.intStat("resumes")
		tb.do("pick the file", chromedp.SetUploadFiles(chromedp.ID("file-input"), []string{src}))
		var ups []transferStat
		testenv.Eventually(t, transferTimeout, "the upload to finish", func() (bool, error) {
			ups = tb.transfers("uploads")
			dbg, _ := evalJS[string](tb, `JSON.stringify({f: window.tetherStats.features, m: window.tetherStats.mode, e: window.tetherStats.errors, fm: window.tetherStats.fileMsgs, cs: window.tetherStats.chunksSent})`)
			return len(ups) == 1, fmt.Errorf("uploads %+v; the viewer shows %q %s", ups, tb.fileList(), dbg)
		})
		if ups[0].SavedAs != "install-log.tar.gz" || ups[0].SHA256 != sum {
			t.Errorf("upload %+v", ups[0])
		}
		if got := fileSHA256(t, filepath.Join(e.downloads, "install-log.tar.gz")); got != sum {
			t.Errorf("Downloads/install-log.tar.gz has SHA-256 %s, want %s", got, sum)
		}
		if n := tb.intStat("resumes"); n != resumes+1 {
			t.Errorf("resumes %d → %d, want one resume", resumes, n)
		}
		recs := e.a.logRecordsOf(s.ID, "resuming a received file")
		if len(recs) != 1 {
			t.Fatalf("the agent logged %d resumes of a received file, want 1", len(recs))
		}
		if off, _ := recs[0]["offset"].(float64); off <= 0 || off >= fileSize {
			t.Errorf("resumed at %v, want inside the file", recs[0]["offset"])
		}

		// A sender-chosen path: only its last element, in Downloads.
		if ok, err := evalJS[bool](tb, `window.tetherDebug.sendFile("../../etc/passwd", "root:x:0:0:not really:/root:/bin/sh\n")`); err != nil || !ok {
			t.Fatalf("sendFile: %v", err)
		}
		testenv.Eventually(t, paintTimeout, "the second upload to finish", func() (bool, error) {
			ups = tb.transfers("uploads")
			return len(ups) == 2, fmt.Errorf("uploads %+v; the viewer shows %q", ups, tb.fileList())
		})
		if ups[1].SavedAs != "passwd" {
			t.Errorf("../../etc/passwd saved as %q, want passwd", ups[1].SavedAs)
		}
		if b, err := os.ReadFile(filepath.Join(e.downloads, "passwd")); err != nil || !strings.HasPrefix(string(b), "root:x:0:0:not really") {
			t.Errorf("Downloads/passwd: %q, %v", b, err)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(e.downloads), "etc")); err == nil {
			t.Error("something was written outside Downloads")
		}

		// Endpoint → technician: the user picks a file in the chat window,
		// the viewer's connection drops at 20 MB and the transfer resumes.
		back, backSum := randomFile(t, dir, "screen recording.webm", fileSize)
		if _, err := evalJS[int](tb, `window.tetherDebug.dropAt = 20 << 20`); err != nil {
			t.Fatal(err)
		}
		resumes = tb.intStat("resumes")
		win := chatWindow(t, e.display)
		userTypes(t, e.display, win, "", "ctrl+o")
		userTypes(t, e.display, waitEndpointWindow(t, e.display, sendFileTitle), back, "Return")
		var downs []transferStat
		testenv.Eventually(t, transferTimeout, "the download to finish", func() (bool, error) {
			downs = tb.transfers("downloads")
			return len(downs) == 1, fmt.Errorf("downloads %+v; the viewer shows %q", downs, tb.fileList())
		})
		if downs[0].Name != "screen recording.webm" || downs[0].SHA256 != backSum || downs[0].Size != fileSize {
			t.Errorf("download %+v", downs[0])
		}
		// The browser's own SHA-256 over what it holds.
		if got, err := evalJS[string](tb, `window.tetherDebug.downloadSHA256(0)`); err != nil || got != backSum {
			t.Errorf("the received file hashes to %q (%v), want %s", got, err, backSum)
		}
		if n := tb.intStat("resumes"); n != resumes+1 {
			t.Errorf("resumes %d → %d, want one resume", resumes, n)
		}
		if n := len(e.a.logRecordsOf(s.ID, "resuming a sent file")); n != 1 {
			t.Errorf("the agent logged %d resumes of a sent file, want 1", n)
		}
		tb.screenshot("viewer-files.png")
		// Nothing half-done is left in Downloads.
		ents, _ := os.ReadDir(e.downloads)
		var names []string
		for _, d := range ents {
			names = append(names, d.Name())
		}
		slices.Sort(names)
		if want := []string{"install-log.tar.gz", "passwd"}; !slices.Equal(names, want) {
			t.Errorf("Downloads holds %q, want %q", names, want)
		}
	})

	// Guidance: the technician's marks are drawn on the endpoint's screen
	// (and so come back in the picture); nothing is injected.
	t.Run("GuidanceMarks", func(t *testing.T) {
		tb := e.br.firstTab().on(t)
		w := startWish(t, e.display)
		s := e.startSessionMode(t, false, protocol.ModeGuidance)
		tb.openViewer(e.s.url, s.ID)
		tb.waitLive(liveTimeout)
		tb.waitMode(protocol.ModeGuidance)
		tb.waitStats(paintTimeout, "the monitor list", func(v viewerStats) bool { return v.Monitors >= 1 })
		r := tb.canvasRect()
		tb.mouse(r, chromedp.MouseMoved, 150, 600, input.MouseButtonNone, 0)
		tb.mouse(r, chromedp.MousePressed, 150, 600, input.MouseButtonLeft, 1)
		for x := 170; x <= 450; x += 20 {
			tb.mouse(r, chromedp.MouseMoved, x, 600, input.MouseButtonLeft, 1)
		}
		tb.mouse(r, chromedp.MouseReleased, 450, 600, input.MouseButtonLeft, 0)
		tb.waitPixel(paintTimeout, "the orange mark over the blue quarter", 300, 600, [3]int{0xff, 0x80, 0x00})
		tb.screenshot("viewer-guidance.png")
		for _, ev := range w.events() {
			if ev.kind == "press" || ev.kind == "release" || ev.kind == "key" {
				t.Errorf("Guidance injected input: the endpoint saw %+v", ev)
			}
		}
	})

	// A technician asks to change mode in an attended session: the user
	// allows it on the endpoint (zenity), then declines another.
	t.Run("ModeChangeAsksTheUser", func(t *testing.T) {
		tb := e.br.firstTab().on(t)
		waitNoPrompt(t, e.display)
		s := e.startSessionMode(t, true, protocol.ModeMonitor)
		tb.openViewer(e.s.url, s.ID)
		win := waitPrompt(t, e.display, liveTimeout)
		answerPrompt(t, e.display, win, "Return")
		tb.waitLive(liveTimeout)
		tb.waitMode(protocol.ModeMonitor)
		// The session bar is up on the endpoint as well; the mode
		// question has a title of its own.
		if _, err := evalJS[bool](tb, `window.tetherDebug.requestMode("active")`); err != nil {
			t.Fatal(err)
		}
		q := waitEndpointWindow(t, e.display, modeQuestionTitle)
		answerPrompt(t, e.display, q, "Return")
		tb.waitMode(protocol.ModeActive)
		if got, err := e.session(s.ID); err != nil || got.Mode != protocol.ModeActive {
			t.Errorf("the server has mode %q (%v), want active", got.Mode, err)
		}
		testenv.Eventually(t, paintTimeout, "the mode question to close", func() (bool, error) {
			out, _ := xdotool(t, e.display, 10*time.Second, "search", "--name", modeQuestionTitle)
			return out == "", nil
		})
		if _, err := evalJS[bool](tb, `window.tetherDebug.requestMode("chat")`); err != nil {
			t.Fatal(err)
		}
		q = waitEndpointWindow(t, e.display, modeQuestionTitle)
		answerPrompt(t, e.display, q, "Escape")
		testenv.Eventually(t, paintTimeout, "the viewer to hear the refusal", func() (bool, error) {
			r, err := evalJS[string](tb, `window.tetherStats.modeRefused`)
			return err == nil && strings.Contains(r, "declined"), fmt.Errorf("%q (%v)", r, err)
		})
		if m, _ := evalJS[protocol.Mode](tb, `window.tetherStats.mode`); m != protocol.ModeActive {
			t.Errorf("mode %q after the refusal, want active", m)
		}
	})

	// Clipboard (text) both ways between the holder's browser and the
	// endpoint's X clipboard.
	t.Run("Clipboard", func(t *testing.T) {
		tb := e.br.firstTab().on(t)
		w := startWish(t, e.display)
		e.holdingSession(t, tb, protocol.ModeActive)
		// The technician copies, then comes back to the viewer.
		if _, err := evalJS[bool](tb, `navigator.clipboard.writeText("ticket 4711: reset the spooler").then(() => true)`); err != nil {
			t.Fatalf("browser clipboard: %v", err)
		}
		if ok, err := evalJS[bool](tb, `window.tetherDebug.sendClipboard()`); err != nil || !ok {
			e, _ := evalJS[string](tb, `document.getElementById("error").textContent + " | " + JSON.stringify(window.tetherStats.features)`)
			t.Fatalf("the viewer did not send its clipboard (%v): %s", err, e)
		}
		// The client's commands are single Tcl commands (one list each).
		w.eval(`proc getclip {} {if {[catch {clipboard get} c]} {set c {}}; puts clip:$c}`)
		testenv.Eventually(t, inputTimeout, "the endpoint's clipboard to hold the technician's text", func() (bool, error) {
			w.eval(`getclip`)
			for _, l := range w.lines() {
				if l == "clip:ticket 4711: reset the spooler" {
					return true, nil
				}
			}
			return false, nil
		})
		// The user copies on the endpoint.
		w.eval(`clipboard clear`)
		w.eval(`clipboard append {C:\temp\spool.log}`)
		testenv.Eventually(t, inputTimeout, "the viewer to get the endpoint's clipboard", func() (bool, error) {
			c, err := evalJS[string](tb, `window.tetherStats.clipboard`)
			return err == nil && c == `C:\temp\spool.log`, fmt.Errorf("%q (%v)", c, err)
		})
		if got, err := evalJS[string](tb, `navigator.clipboard.readText()`); err != nil || got != `C:\temp\spool.log` {
			t.Errorf("the browser's clipboard holds %q (%v)", got, err)
		}
	})
}
