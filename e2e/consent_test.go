//go:build linux

package e2e

// Consent does not carry over: an attended session accepted by one user
// must never go on, unasked, on another user's desktop or the login
// screen. The attack reproduced: user A accepts a technician's session,
// then the endpoint's active desktop becomes user B's (a fast user switch)
// or the login screen (a logout); before, the agent handed the live
// session, with control, to the new desktop's helper without a prompt.
//
// Real processes as in desktopswitch_test.go: Xvfb displays stand for the
// desktops, each with the Tk client on it; the agent takes its desktops
// from a file (TETHER_DESKTOPS_FILE, a development aid) that names each
// desktop's user (uid) or marks it a login screen, and the test rewrites
// it to switch the active one. The prompt is answered on A's display with
// real key events.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Users of the consent test's desktops: uids no real account is likely to
// have (where the agent runs as root, helpers run as them).
const (
	aliceUID = 64101
	bobUID   = 64102
)

// consentDesk is one desktop of the agent's desktops file.
type consentDesk struct {
	Key     string `json:"key"`
	Display string `json:"display"`
	UID     *int   `json:"uid,omitempty"`
	User    string `json:"user,omitempty"`
	Greeter bool   `json:"greeter,omitempty"`
}

// writeDesktopsOf writes the agent's desktops file atomically.
func writeDesktopsOf(t testing.TB, path, active string, desks ...consentDesk) {
	t.Helper()
	b, err := json.Marshal(struct {
		Active   string        `json:"active"`
		Desktops []consentDesk `json:"desktops"`
	}{active, desks})
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestConsentDoesNotCarryOverToAnotherUser(t *testing.T) {
	s := startServer(t)
	requireSessionsAPI(t, s)
	uid := func(n int) *int { return &n }
	var (
		alice1  = consentDesk{Key: "alice-1", Display: startXvfb(t), UID: uid(aliceUID), User: "alice"}
		alice2  = consentDesk{Key: "alice-2", Display: startXvfb(t), UID: uid(aliceUID), User: "alice"}
		bob     = consentDesk{Key: "bob", Display: startXvfb(t), UID: uid(bobUID), User: "bob"}
		greeter = consentDesk{Key: "login-screen", Display: startXvfb(t), Greeter: true}
	)
	wA1, wA2, wB, wG := startWish(t, alice1.Display), startWish(t, alice2.Display), startWish(t, bob.Display), startWish(t, greeter.Display)
	// Each desktop shows its own colour at q1.
	colourA1, colourA2 := [3]int{0xe0, 0x20, 0x20}, [3]int{0x20, 0xa0, 0xf0}
	wA2.eval(".c itemconfigure q1 -fill #20a0f0")
	wB.eval(".c itemconfigure q1 -fill #20c040")
	wG.eval(".c itemconfigure q1 -fill #c0c0c0")
	at := clientShapes[0]

	file := filepath.Join(t.TempDir(), "desktops.json")
	writeDesktopsOf(t, file, alice1.Key, alice1, alice2, bob)
	a := startAgentEnv(t, s, s.enrollmentToken(), t.TempDir(), "TETHER_DESKTOPS_FILE="+file)
	ep := waitEndpoint(t, s.api, hostname(t))
	// The default policy: attended sessions ask the user.
	doc := map[string]any{"screenshare": map[string]any{"acceptance_timeout_s": 60}}
	if err := s.api.do(http.MethodPut, "/api/v1/policies/global", "", doc, nil); err != nil {
		t.Fatalf("PUT /api/v1/policies/global: %v", err)
	}
	if err := s.api.do(http.MethodPost, "/api/v1/users", "", protocol.CreateUserRequest{Name: tech1, Password: tech1Password,
		Roles: []string{perm.RoleAdministrator}}, nil); err != nil {
		t.Fatalf("create user: %v", err)
	}
	tech := s.userClient(tech1, tech1Password)
	br := startBrowser(t)
	br.firstTab().on(t).signIn(s.url, tech1, tech1Password)

	// attended starts an attended session, opens the viewer, has the user
	// of display accept it on the prompt, and takes control. The session
	// lives until the end of the whole test (its subtests go on with it).
	top := t
	attended := func(t *testing.T, display string, colour [3]int) (protocol.Session, *tab, viewerStats) {
		t.Helper()
		var sess protocol.Session
		if err := tech.do(http.MethodPost, "/api/v1/sessions", "", protocol.CreateSessionRequest{EndpointID: ep.ID, Attended: true}, &sess); err != nil {
			t.Fatalf("POST /api/v1/sessions: %v", err)
		}
		top.Cleanup(func() {
			if got, err := sessionState(tech, sess.ID); err == nil && got.State != protocol.SessionEnded {
				_ = tech.do(http.MethodPost, "/api/v1/sessions/"+sess.ID+"/end", "", struct{}{}, nil)
			}
		})
		tb := br.firstTab().on(t)
		tb.openViewer(s.url, sess.ID)
		answerPrompt(t, display, waitPrompt(t, display, liveTimeout), "Return")
		st := tb.waitLive(liveTimeout)
		tb.waitPixel(paintTimeout, "the accepting user's desktop", at.x, at.y, colour)
		control(t, tech, sess.ID, protocol.ControlRequestOp, st.ViewerID)
		waitHolder(t, st.ViewerID, tb)
		return sess, tb, st
	}
	switchStatsOf := func(tb *tab) (switchStats, error) {
		return evalJS[switchStats](tb, `JSON.parse(JSON.stringify(window.tetherStats))`)
	}
	// switchAway makes active the desktop the session must not follow to,
	// clicking on the canvas while the viewer is live, and checks that the
	// session ends user_changed within switchTimeout, everywhere, and that
	// the new desktop never got the session: no prompt, no input.
	switchAway := func(t *testing.T, sess protocol.Session, tb *tab, to consentDesk, w *wishClient, desks ...consentDesk) {
		t.Helper()
		r := tb.canvasRect()
		pressesBefore, logsBefore := countPress(w, 1), len(a.sessionLogs(sess.ID))
		writeDesktopsOf(t, file, to.Key, desks...)
		switched := time.Now()
		clicks := 0
		testenv.Eventually(t, switchTimeout, "the session to end "+string(protocol.EndedUserChanged)+" after the switch to "+to.Key, func() (bool, error) {
			cur, err := switchStatsOf(tb)
			if err != nil {
				return false, err
			}
			if cur.State == "ended" {
				return true, nil
			}
			if cur.State == "live" {
				// What the technician does meanwhile: click on the
				// screen shown.
				tb.mouse(r, chromedp.MouseMoved, 300, 200, input.MouseButtonNone, 0)
				tb.mouse(r, chromedp.MousePressed, 300, 200, input.MouseButtonLeft, 1)
				tb.mouse(r, chromedp.MouseReleased, 300, 200, input.MouseButtonLeft, 0)
				clicks++
			}
			return false, fmt.Errorf("the viewer is %s (reconnects %d); %d clicks sent since the switch, %d reached %s's desktop",
				cur.State, cur.Reconnects, clicks, countPress(w, 1)-pressesBefore, to.Key)
		})
		t.Logf("ended %s after the switch (%d clicks sent meanwhile)", time.Since(switched).Round(10*time.Millisecond), clicks)
		tb.waitViewerEnded(endWithin, protocol.EndedUserChanged)
		if got, err := sessionState(tech, sess.ID); err != nil || got.State != protocol.SessionEnded || got.Reason != protocol.EndedUserChanged {
			t.Errorf("session on the server: %+v, %v; want ended %s", got, err, protocol.EndedUserChanged)
		}
		if n := countPress(w, 1) - pressesBefore; n != 0 {
			t.Errorf("%d clicks reached %s's desktop: the technician controlled it without its user's consent", n, to.Key)
		}
		if promptShown(t, to.Display) {
			t.Errorf("a prompt is up on %s for a session that has ended", to.Key)
		}
		for _, m := range a.sessionLogs(sess.ID)[logsBefore:] {
			if strings.Contains(m, "taken over") {
				t.Errorf("a helper took the session over after the switch (%q)", m)
			}
		}
	}

	// The same user on another desktop: the consent carries, the session
	// goes on there without a prompt.
	var (
		sess protocol.Session
		tb   *tab
	)
	if !t.Run("SameUserKeepsSession", func(t *testing.T) {
		var st viewerStats
		sess, tb, st = attended(t, alice1.Display, colourA1)
		before, err := switchStatsOf(tb)
		if err != nil {
			t.Fatal(err)
		}
		writeDesktopsOf(t, file, alice2.Key, alice1, alice2, bob)
		testenv.Eventually(t, switchTimeout, "the viewer to follow alice to her other desktop", func() (bool, error) {
			cur, err := switchStatsOf(tb)
			if cur.State == "ended" {
				t.Fatalf("the session ended on a switch between desktops of the same user: %+v", cur)
			}
			return err == nil && cur.Reconnects > before.Reconnects && cur.Offers > before.Offers, err
		})
		tb.waitPixel(switchTimeout, "alice's second desktop", at.x, at.y, colourA2)
		after := tb.waitStats(switchTimeout, "the viewer to be live again", func(v viewerStats) bool { return v.State == "live" })
		if after.Holder != st.ViewerID {
			t.Errorf("holder after the switch %q, want %q", after.Holder, st.ViewerID)
		}
		if promptShown(t, alice2.Display) {
			t.Error("alice was asked again on her own desktop")
		}
		r := tb.canvasRect()
		tb.mouse(r, chromedp.MouseMoved, 300, 200, input.MouseButtonNone, 0)
		tb.mouse(r, chromedp.MousePressed, 300, 200, input.MouseButtonLeft, 1)
		tb.mouse(r, chromedp.MouseReleased, 300, 200, input.MouseButtonLeft, 0)
		testenv.Eventually(t, inputTimeout, "the click to reach alice's second desktop", func() (bool, error) {
			return countPress(wA2, 1) >= 1, nil
		})
		if n := countPress(wA1, 1); n != 0 {
			t.Errorf("the desktop alice left received %d clicks", n)
		}
	}) {
		return
	}

	// Another user's desktop: the session alice accepted ends.
	if !t.Run("AnotherUserEndsIt", func(t *testing.T) {
		switchAway(t, sess, tb.on(t), bob, wB, alice1, alice2, bob)
	}) {
		return
	}

	// Bob accepts a session of his own; then the login screen comes to
	// the front (bob logged out: his desktop is gone): it ends too.
	t.Run("LoginScreenEndsIt", func(t *testing.T) {
		sess, tb, _ := attended(t, bob.Display, [3]int{0x20, 0xc0, 0x40})
		switchAway(t, sess, tb, greeter, wG, alice1, alice2, greeter)
	})
}
