//go:build linux

package e2e

// Screen sharing end to end: the real server and agent, the endpoint on an
// Xvfb display with a Tk client on it, and the technician in headless
// Chromium on /view/{id}. One server, agent, display and browser serve all
// subtests of TestScreenShare; TestScreenShareRelayOnly has its own server
// (with --ice-relay-only).

import (
	"errors"
	"fmt"
	"image"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Bounds for the screen-share waits. They cap a wait; they time nothing.
const (
	liveTimeout  = 60 * time.Second // session created → first frame drawn
	paintTimeout = 20 * time.Second // a change on the endpoint → on the canvas
	inputTimeout = 20 * time.Second // input in the browser → recorded on the endpoint
	endWithin    = 2 * time.Second  // the acceptance bound for ending a session
)

// Technicians the tests sign in as.
const (
	tech1, tech1Password = "tech1", "correct horse battery staple 1"
	tech2, tech2Password = "tech2", "correct horse battery staple 2"
)

// shareEnv is a server, an agent on its own display, two technicians and a
// browser.
type shareEnv struct {
	s       *server
	a       *agent
	display string
	ep      protocol.Endpoint
	br      *browser
	tech1   *apiClient // tech1's API token: Administrator + unattended
	tech2   *apiClient // tech2's: Administrator
	// live is set once a session drew a frame; later subtests skip without
	// it rather than each waiting out the same failure.
	live bool
}

// needLive skips a subtest when no session has gone live yet.
func (e *shareEnv) needLive(t *testing.T) {
	t.Helper()
	if !e.live {
		t.Skip("skipped: no session went live in ViewerShowsScreen (see its failure)")
	}
}

// requireSessionsAPI skips the test when the server has no session routes
// yet (another engineer's part, landing at the same time as these tests).
func requireSessionsAPI(t *testing.T, s *server) {
	t.Helper()
	err := s.api.do(http.MethodPost, "/api/v1/sessions", "", protocol.CreateSessionRequest{}, nil)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound && strings.Contains(ae.Body, "no such API route") {
		t.Skip("the server has no POST /api/v1/sessions yet (SERVER engineer's part)")
	}
}

func startShareEnv(t *testing.T, serverArgs ...string) *shareEnv {
	t.Helper()
	return startShareEnvCapture(t, "", serverArgs...)
}

// startShareEnvCapture starts the agent with TETHER_CAPTURE=method (empty:
// the automatic choice, the X11 shared-memory path on Xvfb).
func startShareEnvCapture(t *testing.T, method string, serverArgs ...string) *shareEnv {
	t.Helper()
	display := startXvfb(t)
	e := startShareEnvOn(t, []string{"DISPLAY=" + display, "TETHER_CAPTURE=" + method}, serverArgs...)
	e.display = display
	return e
}

// startShareEnvOn is startShareEnv with the agent on the desktop that
// agentEnv names (DISPLAY, or WAYLAND_DISPLAY and XDG_RUNTIME_DIR).
func startShareEnvOn(t *testing.T, agentEnv []string, serverArgs ...string) *shareEnv {
	t.Helper()
	e := &shareEnv{}
	e.s = startServer(t, serverArgs...)
	requireSessionsAPI(t, e.s)
	e.a = startAgentEnv(t, e.s, e.s.enrollmentToken(), t.TempDir(), agentEnv...)
	e.ep = waitEndpoint(t, e.s.api, hostname(t))
	e.putPolicy(t, 30)
	for _, u := range []struct {
		name, pw string
		roles    []string
	}{
		{tech1, tech1Password, []string{perm.RoleAdministrator, perm.RoleScreenShareUnattended}},
		{tech2, tech2Password, []string{perm.RoleAdministrator}},
	} {
		if err := e.s.api.do(http.MethodPost, "/api/v1/users", "", protocol.CreateUserRequest{Name: u.name, Password: u.pw, Roles: u.roles}, nil); err != nil {
			t.Fatalf("create user %s: %v", u.name, err)
		}
	}
	e.tech1 = e.s.userClient(tech1, tech1Password)
	e.tech2 = e.s.userClient(tech2, tech2Password)
	e.br = startBrowser(t)
	e.br.firstTab().signIn(e.s.url, tech1, tech1Password)
	return e
}

// putPolicy allows unattended sessions and sets the prompt's timeout.
func (e *shareEnv) putPolicy(t testing.TB, acceptanceTimeoutS int) {
	t.Helper()
	doc := map[string]any{"screenshare": map[string]any{"unattended_allowed": true, "acceptance_timeout_s": acceptanceTimeoutS}}
	if err := e.s.api.do(http.MethodPut, "/api/v1/policies/global", "", doc, nil); err != nil {
		t.Fatalf("PUT /api/v1/policies/global: %v", err)
	}
}

// startSession creates a session as tech1; the test's cleanup ends it.
func (e *shareEnv) startSession(t testing.TB, attended bool) protocol.Session {
	t.Helper()
	var s protocol.Session
	if err := e.tech1.do(http.MethodPost, "/api/v1/sessions", "", protocol.CreateSessionRequest{EndpointID: e.ep.ID, Attended: attended}, &s); err != nil {
		t.Fatalf("POST /api/v1/sessions (attended %v): %v", attended, err)
	}
	if s.ID == "" {
		t.Fatalf("POST /api/v1/sessions answered %+v: no id", s)
	}
	t.Cleanup(func() {
		if got, err := e.session(s.ID); err == nil && got.State != protocol.SessionEnded {
			_ = e.tech1.do(http.MethodPost, "/api/v1/sessions/"+url.PathEscape(s.ID)+"/end", "", struct{}{}, nil)
		}
	})
	return s
}

func (e *shareEnv) session(id string) (protocol.Session, error) {
	var s protocol.Session
	err := e.tech1.do(http.MethodGet, "/api/v1/sessions/"+url.PathEscape(id), "", nil, &s)
	return s, err
}

// waitEnded waits until the session has ended and checks the reason.
func (e *shareEnv) waitEnded(t testing.TB, id string, timeout time.Duration, reason protocol.Reason) protocol.Session {
	t.Helper()
	var s protocol.Session
	testenv.Eventually(t, timeout, "session "+id+" to end "+string(reason), func() (bool, error) {
		var err error
		s, err = e.session(id)
		return err == nil && s.State == protocol.SessionEnded, fmt.Errorf("state %q reason %q (%v)", s.State, s.Reason, err)
	})
	if s.Reason != reason {
		t.Errorf("session %s ended %q, want %q", id, s.Reason, reason)
	}
	return s
}

// waitViewerEnded waits until the viewer shows the session ended with reason.
func (tb *tab) waitViewerEnded(timeout time.Duration, reason protocol.Reason) viewerStats {
	tb.t.Helper()
	return tb.waitStats(timeout, "the viewer to show the session ended "+string(reason), func(v viewerStats) bool {
		return v.State == "ended" && v.Reason == string(reason)
	})
}

// control posts a control operation as c.
func control(t testing.TB, c *apiClient, id, op, viewer string) {
	t.Helper()
	if err := c.do(http.MethodPost, "/api/v1/sessions/"+url.PathEscape(id)+"/control", "", protocol.ControlRequest{Op: op, Viewer: viewer}, nil); err != nil {
		t.Fatalf("control %s for viewer %s: %v", op, viewer, err)
	}
}

// waitHolder waits until every tab shows holder as the control holder.
func waitHolder(t testing.TB, holder string, tabs ...*tab) {
	t.Helper()
	for _, tb := range tabs {
		tb.waitStats(inputTimeout, "the viewer to show "+holder+" in control", func(s viewerStats) bool { return s.Holder == holder })
	}
}

// checkShapes asserts the canvas shows clientScript's shapes.
func checkShapes(t testing.TB, tb *tab) {
	t.Helper()
	for _, sh := range clientShapes {
		tb.waitPixel(paintTimeout, sh.name, sh.x, sh.y, sh.rgb)
	}
}

func TestScreenShare(t *testing.T) { testScreenShare(t, "") }

// TestScreenSharePortableCapture runs the same pixel and input tests on the
// portable capture path (kbinani/screenshot), the fallback of every
// platform fast path.
func TestScreenSharePortableCapture(t *testing.T) { testScreenShare(t, "portable") }

func testScreenShare(t *testing.T, captureMethod string) {
	e := startShareEnvCapture(t, captureMethod)

	// Acceptance 1: the canvas shows what the endpoint paints, and later
	// changes too.
	t.Run("ViewerShowsScreen", func(t *testing.T) {
		tb := e.br.firstTab().on(t)
		w := startWish(t, e.display)
		created := time.Now()
		s := e.startSession(t, false)
		tb.openViewer(e.s.url, s.ID)
		st := tb.waitLive(liveTimeout)
		e.live = true
		t.Logf("first frame %s after POST /api/v1/sessions", time.Since(created).Round(10*time.Millisecond))
		checkShapes(t, tb)
		// The picture came through the capture path this run is about.
		wantMethod := captureMethod
		if wantMethod == "" {
			wantMethod = "x11shm" // the automatic choice on a local X server
		}
		if got := e.a.captureMethods(s.ID); len(got) == 0 || got[len(got)-1] != wantMethod {
			t.Errorf("the helper captured with %v, want %s", got, wantMethod)
		}
		r := tb.canvasRect()
		if r.W != displayW || r.H != displayH {
			t.Errorf("canvas is %dx%d, want the monitor's %dx%d", r.W, r.H, displayW, displayH)
		}
		if st.Monitors < 1 {
			tb.waitStats(paintTimeout, "the monitor picker to list the display", func(v viewerStats) bool { return v.Monitors >= 1 })
		}
		w.eval(".c itemconfigure q2 -fill #c020c0")
		tb.waitPixel(paintTimeout, "q2 repainted magenta", clientShapes[1].x, clientShapes[1].y, [3]int{0xc0, 0x20, 0xc0})
		w.eval(".c create rectangle 100 400 300 500 -fill #00e0e0 -outline {} -tags late")
		tb.waitPixel(paintTimeout, "a new cyan rectangle", 200, 450, [3]int{0x00, 0xe0, 0xe0})
		if st, _ := tb.stats(); st.Errors != 0 {
			t.Errorf("viewer counted %d decode errors: %+v", st.Errors, st)
		}
		// The endpoint's pointer position reaches the viewer.
		if out, err := xdotool(t, e.display, startTimeout, "mousemove", "210", "130"); err != nil {
			t.Fatalf("xdotool mousemove: %v %s", err, out)
		}
		testenv.Eventually(t, paintTimeout, "the viewer to show the endpoint's pointer at 210,130", func() (bool, error) {
			xy, err := evalJS[string](tb, `window.tetherStats.cursor ? window.tetherStats.cursor.x + "," + window.tetherStats.cursor.y : ""`)
			return err == nil && xy == "210,130", fmt.Errorf("cursor %q (%v)", xy, err)
		})
		tb.screenshot("viewer.png")
	})

	// Acceptance 2: pointer and keyboard reach the endpoint at the right
	// place through the viewer's scaling.
	t.Run("InputReachesEndpoint", func(t *testing.T) {
		e.needLive(t)
		tb := e.br.firstTab().on(t)
		w := startWish(t, e.display)
		s := e.startSession(t, false)
		tb.openViewer(e.s.url, s.ID)
		st := tb.waitLive(liveTimeout)
		control(t, e.tech1, s.ID, protocol.ControlRequestOp, st.ViewerID)
		waitHolder(t, st.ViewerID, tb)
		r := tb.canvasRect()
		t.Logf("canvas %dx%d shown at %.0fx%.0f CSS px (scale %.3f)", r.W, r.H, r.Width, r.Height, r.Width/float64(r.W))

		pointer := func(what string, want event) {
			t.Helper()
			w.waitLine(inputTimeout, what, func(l string) bool {
				ev, ok := parseEvent(l)
				return ok && ev.kind == want.kind && ev.button == want.button && abs(ev.x-want.x) <= 2 && abs(ev.y-want.y) <= 2
			})
		}
		// Left click.
		tb.mouse(r, chromedp.MouseMoved, 200, 150, input.MouseButtonNone, 0)
		tb.mouse(r, chromedp.MousePressed, 200, 150, input.MouseButtonLeft, 1)
		tb.mouse(r, chromedp.MouseReleased, 200, 150, input.MouseButtonLeft, 0)
		pointer("a left press at 200,150", event{kind: "press", button: 1, x: 200, y: 150})
		pointer("a left release at 200,150", event{kind: "release", button: 1, x: 200, y: 150})
		// Right click (DOM button 2 is X button 3).
		tb.mouse(r, chromedp.MouseMoved, 900, 500, input.MouseButtonNone, 0)
		tb.mouse(r, chromedp.MousePressed, 900, 500, input.MouseButtonRight, 2)
		tb.mouse(r, chromedp.MouseReleased, 900, 500, input.MouseButtonRight, 0)
		pointer("a right press at 900,500", event{kind: "press", button: 3, x: 900, y: 500})
		pointer("a right release at 900,500", event{kind: "release", button: 3, x: 900, y: 500})
		// Drag.
		tb.mouse(r, chromedp.MouseMoved, 300, 400, input.MouseButtonNone, 0)
		tb.mouse(r, chromedp.MousePressed, 300, 400, input.MouseButtonLeft, 1)
		for i := 1; i <= 5; i++ {
			tb.mouse(r, chromedp.MouseMoved, 300+40*i, 400+10*i, input.MouseButtonLeft, 1)
		}
		tb.mouse(r, chromedp.MouseReleased, 500, 450, input.MouseButtonLeft, 0)
		pointer("a drag's press at 300,400", event{kind: "press", button: 1, x: 300, y: 400})
		pointer("the pointer dragged to 500,450", event{kind: "motion", x: 500, y: 450})
		pointer("a drag's release at 500,450", event{kind: "release", button: 1, x: 500, y: 450})
		// Wheel: three notches down are X buttons 5.
		before := countPress(w, 5)
		for range 3 {
			tb.wheel(r, 640, 200, 100)
		}
		testenv.Eventually(t, inputTimeout, "three wheel notches down (button 5)", func() (bool, error) {
			n := countPress(w, 5) - before
			return n >= 3, fmt.Errorf("%d notches", n)
		})
		if n := countPress(w, 5) - before; n != 3 {
			t.Errorf("three wheel notches down arrived as %d button-5 presses", n)
		}
		if n := countPress(w, 4); n != 0 {
			t.Errorf("wheel down also scrolled up %d times", n)
		}

		// Keys: ASCII typed key by key, non-ASCII committed as by an IME,
		// then Enter as a key.
		tb.mouse(r, chromedp.MousePressed, 640, 200, input.MouseButtonLeft, 1) // focus the canvas
		tb.mouse(r, chromedp.MouseReleased, 640, 200, input.MouseButtonLeft, 0)
		tb.do("type abc", chromedp.KeyEvent("abc"))
		waitTyped(t, w, "abc")
		tb.insertText("é✓ж")
		waitTyped(t, w, "abcé✓ж")
		tb.do("press Enter", chromedp.KeyEvent("\r"))
		w.waitLine(inputTimeout, "Return", func(l string) bool { return strings.HasPrefix(l, "key Return") })
		if got := w.typed(); got != "abcé✓ж\r" {
			t.Errorf("the endpoint received the text %q, want %q (each character once)", got, "abcé✓ж\r")
		}
		tb.screenshot("viewer-input.png")
	})

	// Acceptance 6: ending from the viewer closes everything within 2 s.
	t.Run("EndSession", func(t *testing.T) {
		e.needLive(t)
		tb := e.br.firstTab().on(t)
		startWish(t, e.display)
		s := e.startSession(t, false)
		tb.openViewer(e.s.url, s.ID)
		tb.waitLive(liveTimeout)
		logsBefore := len(e.a.sessionLogs(s.ID))
		clicked := time.Now()
		tb.do("click End session", chromedp.Click(chromedp.ID("end")))
		e.waitEnded(t, s.ID, endWithin, protocol.EndedByTechnician)
		t.Logf("session ended %s after the click", time.Since(clicked).Round(time.Millisecond))
		tb.waitViewerEnded(endWithin, protocol.EndedByTechnician)
		state, _ := evalJS[string](tb, `document.getElementById("state").textContent`)
		if !strings.Contains(state, "Ended") {
			t.Errorf("#state reads %q", state)
		}
		testenv.Eventually(t, endWithin+time.Second, "the agent to log the session's teardown", func() (bool, error) {
			for _, m := range e.a.sessionLogs(s.ID)[logsBefore:] {
				if teardownMsg(m) {
					return true, nil
				}
			}
			return false, fmt.Errorf("session log since the click: %q", e.a.sessionLogs(s.ID)[logsBefore:])
		})
		tb.screenshot("viewer-ended.png")
	})

	// The end user's side: the session bar at the top of the endpoint's
	// screen offers End session (the policy allows it by default); a real
	// click on it ends the session ended_by_user everywhere.
	t.Run("UserEndsSession", func(t *testing.T) {
		e.needLive(t)
		tb := e.br.firstTab().on(t)
		waitNoPrompt(t, e.display)
		s := e.startSession(t, false)
		tb.openViewer(e.s.url, s.ID)
		tb.waitLive(liveTimeout)
		_, bar := waitSessionBar(t, e.display, liveTimeout)
		checkSessionBarPlace(t, bar)
		var end image.Point
		testenv.Eventually(t, paintTimeout, "the bar's End session button", func() (bool, error) {
			var ok bool
			end, ok = barButton(t, e.display, bar, sessionBarEnd)
			return ok, fmt.Errorf("no button of #%06x in the bar at %v", sessionBarEnd, bar)
		})
		saveDisplay(t, e.display, "endpoint-session-bar.png")
		if out, err := xdotool(t, e.display, 10*time.Second, "mousemove", "--sync", strconv.Itoa(end.X), strconv.Itoa(end.Y), "click", "1"); err != nil {
			t.Fatalf("xdotool click: %v %s", err, out)
		}
		e.waitEnded(t, s.ID, paintTimeout, protocol.EndedByUser)
		tb.waitViewerEnded(endWithin, protocol.EndedByUser)
		// The pointer leaves the bar's place: on this display with no
		// window manager, a Tk client that took the focus when the
		// pointer entered it gives it up to PointerRoot when the pointer
		// enters another window, such as the next session's bar, and its
		// keys would go astray.
		if out, err := xdotool(t, e.display, 10*time.Second, "mousemove", "--sync", "100", "400"); err != nil {
			t.Fatalf("xdotool mousemove: %v %s", err, out)
		}
		waitNoPrompt(t, e.display)
	})

	// Acceptance 3: the attended prompt on the endpoint, answered with real
	// key events.
	t.Run("AttendedPrompt", func(t *testing.T) {
		e.needLive(t)
		tb := e.br.firstTab().on(t)
		waitNoPrompt(t, e.display)

		// Declined: ended declined, no frame ever sent.
		s := e.startSession(t, true)
		tb.openViewer(e.s.url, s.ID)
		win := waitPrompt(t, e.display, liveTimeout)
		tb.waitStats(paintTimeout, "the viewer to show it waits for the user", func(v viewerStats) bool { return v.State == "waiting" })
		tb.screenshot("viewer-waiting.png")
		answerPrompt(t, e.display, win, "Escape")
		e.waitEnded(t, s.ID, paintTimeout, protocol.EndedDeclined)
		st := tb.waitViewerEnded(paintTimeout, protocol.EndedDeclined)
		if st.Messages != 0 || st.Sizes != 0 || st.Frames != 0 {
			t.Errorf("a declined session sent screen messages to the viewer: %+v", st)
		}
		tb.screenshot("viewer-declined.png")
		waitNoPrompt(t, e.display)

		// Accepted: goes live.
		s = e.startSession(t, true)
		tb.openViewer(e.s.url, s.ID)
		win = waitPrompt(t, e.display, liveTimeout)
		answerPrompt(t, e.display, win, "Return")
		tb.waitLive(liveTimeout)
		if got, err := e.session(s.ID); err != nil || got.State != protocol.SessionActive {
			t.Errorf("accepted session: %+v, %v: want active", got, err)
		}
		if err := e.tech1.do(http.MethodPost, "/api/v1/sessions/"+url.PathEscape(s.ID)+"/end", "", struct{}{}, nil); err != nil {
			t.Fatalf("end: %v", err)
		}
		e.waitEnded(t, s.ID, paintTimeout, protocol.EndedByTechnician)
		waitNoPrompt(t, e.display)

		// No answer: acceptance_timeout after the policy's 5 s.
		e.putPolicy(t, 5)
		defer e.putPolicy(t, 30)
		s = e.startSession(t, true)
		tb.openViewer(e.s.url, s.ID)
		waitPrompt(t, e.display, liveTimeout)
		e.waitEnded(t, s.ID, 5*time.Second+paintTimeout, protocol.EndedAcceptTimeout)
		// The server's own times: the prompt came after the session was
		// created, so an end less than 5 s after creation would be early.
		// (The test's view of when the prompt appeared lags under load.)
		if got, err := e.session(s.ID); err != nil || got.Ended == nil || got.Ended.Sub(got.Created) < 5*time.Second {
			t.Errorf("the session timed out before the policy's 5 s: %+v, %v", got, err)
		}
		st = tb.waitViewerEnded(paintTimeout, protocol.EndedAcceptTimeout)
		if st.Messages != 0 {
			t.Errorf("an unanswered session sent screen messages: %+v", st)
		}
		waitNoPrompt(t, e.display)
	})

	// Acceptance 5: two viewers see the screen; only the holder's input
	// lands, before and after a hand-off.
	t.Run("TwoViewersControlHandOff", func(t *testing.T) {
		e.needLive(t)
		tb := e.br.firstTab().on(t)
		w := startWish(t, e.display)
		s := e.startSession(t, false)
		a := tb
		b := e.br.newProfileTab(t)
		b.signIn(e.s.url, tech2, tech2Password)
		a.openViewer(e.s.url, s.ID)
		b.openViewer(e.s.url, s.ID)
		stA := a.waitLive(liveTimeout)
		stB := b.waitLive(liveTimeout)
		if stA.ViewerID == "" || stB.ViewerID == "" || stA.ViewerID == stB.ViewerID {
			t.Fatalf("viewer ids %q and %q: want two distinct ids", stA.ViewerID, stB.ViewerID)
		}
		checkShapes(t, a)
		checkShapes(t, b)
		b.screenshot("viewer-second.png")

		control(t, e.tech1, s.ID, protocol.ControlRequestOp, stA.ViewerID)
		waitHolder(t, stA.ViewerID, a, b)
		focusCanvas(t, a)
		focusCanvas(t, b)

		// B is not in control: its text must not land; A's must.
		b.insertText("x")
		b.inputDrained()
		a.insertText("y")
		waitTyped(t, w, "y")

		// Hand-off: B asks (through its toolbar), A's technician grants.
		b.do("click Request control", chromedp.Click(chromedp.ID("request")))
		control(t, e.tech1, s.ID, protocol.ControlGrant, stB.ViewerID)
		waitHolder(t, stB.ViewerID, a, b)
		a.insertText("p")
		a.inputDrained()
		b.insertText("q")
		waitTyped(t, w, "yq")
		if got := w.typed(); got != "yq" {
			t.Errorf("the endpoint received %q, want %q: only the control holder's text lands", got, "yq")
		}
	})
}

// TestScreenShareRelayOnly: with host candidates disabled (the server tells
// both sides to use relayed candidates only) the session still connects
// through the embedded TURN relay.
func TestScreenShareRelayOnly(t *testing.T) {
	out, _ := exec.Command(bins.server, "serve", "--help").CombinedOutput()
	if !strings.Contains(string(out), "--ice-relay-only") {
		t.Skip("tether-server serve has no --ice-relay-only flag yet (SERVER engineer's part)")
	}
	e := startShareEnv(t, "--ice-relay-only")
	tb := e.br.firstTab()
	startWish(t, e.display)
	s := e.startSession(t, false)
	tb.openViewer(e.s.url, s.ID)
	tb.waitLive(liveTimeout)
	checkShapes(t, tb)
	typ, err := evalJS[string](tb, `window.tetherDebug.candidateType()`)
	if err != nil || typ != "relay" {
		t.Errorf("the viewer's selected local candidate is %q (%v), want relay", typ, err)
	}
	// The toolbar says so: UDP to the relay on loopback.
	tb.waitStats(paintTimeout, "the toolbar to show the relay path", func(s viewerStats) bool { return s.Path == "relay-udp" })
	if shown, _ := evalJS[string](tb, `document.getElementById("path").textContent`); shown != "Relay (UDP)" {
		t.Errorf("the toolbar's path reads %q, want Relay (UDP)", shown)
	}
	tb.screenshot("viewer-relay.png")
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// countPress counts the client's presses of X button b.
func countPress(w *wishClient, b int) int {
	n := 0
	for _, e := range w.events() {
		if e.kind == "press" && e.button == b {
			n++
		}
	}
	return n
}

// waitTyped waits until the client has received exactly want as text.
func waitTyped(t testing.TB, w *wishClient, want string) {
	t.Helper()
	testenv.Eventually(t, inputTimeout, fmt.Sprintf("the endpoint to receive %q", want), func() (bool, error) {
		got := w.typed()
		if len(got) > len(want) || !strings.HasPrefix(want, got) {
			t.Fatalf("the endpoint received %q, want %q", got, want)
		}
		return got == want, fmt.Errorf("received %q", got)
	})
}

// focusCanvas clicks the canvas's top-left corner so the keyboard goes to
// the viewer (the click itself is input, sent like any other).
func focusCanvas(t testing.TB, tb *tab) {
	t.Helper()
	tb.do("focus the canvas", chromedp.Focus(chromedp.ID("screen")))
	ok, err := evalJS[bool](tb, `document.activeElement && document.activeElement.id === "keys"`)
	if err != nil || !ok {
		t.Fatalf("focusing the canvas did not capture the keyboard (%v)", err)
	}
}

// waitNoPrompt waits until no attended prompt is on the display.
func waitNoPrompt(t testing.TB, display string) {
	t.Helper()
	noWindowNamed(t, display, promptTitle, paintTimeout)
}

// sessionLogs returns the messages of the agent's log records about
// session id.
func (a *agent) sessionLogs(id string) []string {
	var out []string
	for _, rec := range a.logRecords() {
		if rec["session_id"] == id || rec["session"] == id {
			msg, _ := rec["msg"].(string)
			out = append(out, msg)
		}
	}
	return out
}

// captureMethods lists the capture methods the helper logged for a session.
func (a *agent) captureMethods(id string) []string {
	var out []string
	for _, rec := range a.logRecords() {
		if rec["session_id"] == id && rec["msg"] == "capturing the screen" {
			m, _ := rec["method"].(string)
			out = append(out, m)
		}
	}
	return out
}

// teardownMsg recognises the agent's log line for a session torn down.
func teardownMsg(msg string) bool {
	m := strings.ToLower(msg)
	return slices.ContainsFunc([]string{"ended", "teardown", "torn down", "closed", "stopped", "exited"}, func(w string) bool {
		return strings.Contains(m, w)
	})
}
