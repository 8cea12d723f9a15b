//go:build linux

package e2e

// Issue 6, acceptance 2: a technician starts a broker session in the
// console; `tether-agent code` with the shown code on the endpoint starts
// it; the viewer shows the screen. A wrong and an expired code each get
// their message and start nothing. Real server (codes valid 30 s here, so
// one can expire within the test), real agent on Xvfb, headless Chromium.

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

const codeTTL = 30 * time.Second

// enterCode runs `tether-agent code` on the endpoint's identity.
func enterCode(t *testing.T, s *server, stateDir, code string) (string, int) {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bins.agent, "code", code, "--config", conf, "--server", s.url, "--state", stateDir)
	cmd.Env = childEnv()
	out, err := cmd.CombinedOutput()
	status := 0
	if ee, ok := err.(*exec.ExitError); ok {
		status = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run tether-agent code: %v", err)
	}
	return string(out), status
}

func TestBrokerSession(t *testing.T) {
	s := startServer(t, "--code-ttl", codeTTL.String())
	requireSessionsAPI(t, s)
	display := startXvfb(t)
	stateDir := t.TempDir()
	startAgentEnv(t, s, s.enrollmentToken(), stateDir, "DISPLAY="+display)
	ep := waitEndpoint(t, s.api, hostname(t))
	(&shareEnv{s: s}).putPolicy(t, 30)
	const tech, techPassword = "brooke", "correct horse battery brooke"
	if err := s.api.do(http.MethodPost, "/api/v1/users", "", protocol.CreateUserRequest{Name: tech, Password: techPassword, Roles: []string{perm.RoleScreenShareAgent}}, nil); err != nil {
		t.Fatal(err)
	}
	techAPI := s.userClient(tech, techPassword)
	// A code issued now and left alone expires while the rest runs.
	var stale protocol.ConnectionCode
	if err := techAPI.do(http.MethodPost, "/api/v1/codes", "", nil, &stale); err != nil {
		t.Fatalf("issue the code left to expire: %v", err)
	}
	activeSessions := func() int {
		var list struct{ Sessions []protocol.Session }
		if err := s.api.do(http.MethodGet, "/api/v1/sessions?state=active", "", nil, &list); err != nil {
			t.Fatal(err)
		}
		return len(list.Sessions)
	}

	startWish(t, display)
	br := startBrowser(t)
	tb := br.firstTab().on(t)
	tb.signIn(s.url, tech, techPassword)
	tb.goTo(s.url, "sessions", "sessions")
	tb.do("click Start Broker Session", chromedp.Click(chromedp.ID("ss-broker")))
	tb.waitJS(startTimeout, "the code, its countdown and “waiting for target”",
		`/^\d{3}-\d{3}-\d{3}$/.test(document.getElementById("broker-code").textContent) && Number(document.getElementById("broker-countdown").dataset.seconds) > 0 && document.getElementById("broker-state").textContent.includes("Waiting for target")`)
	code := tb.text("#broker-code")
	first, _ := evalJS[int](tb, `Number(document.getElementById("broker-countdown").dataset.seconds)`)
	tb.waitJS(startTimeout, "the countdown to tick", fmt.Sprintf(`Number(document.getElementById("broker-countdown").dataset.seconds) < %d`, first))
	tb.screenshot("console-broker-dialog.png")

	// A wrong code: its message, and nothing starts.
	d := []byte(strings.ReplaceAll(code, "-", ""))
	d[0] = '0' + (d[0]-'0'+1)%10
	out, st := enterCode(t, s, stateDir, protocol.FormatCode(string(d)))
	if st == 0 || !strings.Contains(out, "not valid") {
		t.Errorf("a wrong code: exit %d, %q; want a failure saying it is not valid", st, out)
	}
	if n := activeSessions(); n != 0 {
		t.Errorf("a wrong code started %d session(s)", n)
	}
	if !strings.Contains(tb.text("#broker-state"), "Waiting for target") {
		t.Errorf("the dialog after a wrong code: %q", tb.text("#broker-state"))
	}

	// The right code starts the session; the prompt is accepted on the
	// endpoint; the dialog opens the viewer, which shows the screen.
	out, st = enterCode(t, s, stateDir, code)
	if st != 0 || !strings.Contains(out, "Code accepted: "+tech) {
		t.Fatalf("the right code: exit %d, %q", st, out)
	}
	m := regexp.MustCompile(`session: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no session id in %q", out)
	}
	id := m[1]
	t.Cleanup(func() {
		_ = s.api.do(http.MethodPost, "/api/v1/sessions/"+url.PathEscape(id)+"/end", "", struct{}{}, nil)
	})
	win := waitPrompt(t, display, liveTimeout)
	answerPrompt(t, display, win, "Return")
	var viewer *target.Info
	testenv.Eventually(t, liveTimeout, "the broker dialog to open the viewer", func() (bool, error) {
		vs, err := viewerTargets(tb, id)
		if err != nil {
			return false, err
		}
		if len(vs) > 0 {
			viewer = vs[0]
			return true, nil
		}
		if ok, _ := evalJS[bool](tb, `!!document.querySelector('#broker-dialog a[href^="/view/"]')`); ok {
			tb.do("click Open the viewer", chromedp.Click(chromedp.CSS(`#broker-dialog a[href^="/view/"]`)))
		}
		state, _ := evalJS[string](tb, `(document.getElementById("broker-state") || {}).textContent || "(no dialog)"`)
		return false, fmt.Errorf("no viewer yet; the dialog says %q", state)
	})
	v := attachTab(t, tb, viewer.TargetID)
	v.waitLive(liveTimeout)
	checkShapes(t, v)
	v.screenshot("broker-viewer.png")
	var sess protocol.Session
	if err := s.api.do(http.MethodGet, "/api/v1/sessions/"+url.PathEscape(id), "", nil, &sess); err != nil {
		t.Fatal(err)
	}
	if sess.Technician != tech || sess.EndpointID != ep.ID {
		t.Errorf("the broker session: technician %q on %q, want %q on %q", sess.Technician, sess.EndpointID, tech, ep.ID)
	}
	// Single use: the same code again is refused.
	if out, st := enterCode(t, s, stateDir, code); st == 0 || !strings.Contains(out, "not valid") {
		t.Errorf("the used code again: exit %d, %q", st, out)
	}
	_ = s.api.do(http.MethodPost, "/api/v1/sessions/"+url.PathEscape(id)+"/end", "", struct{}{}, nil)

	// The code issued at the start has expired by now (or soon): its
	// message, and nothing starts.
	testenv.Eventually(t, codeTTL+startTimeout, "the first code to expire", func() (bool, error) {
		var c protocol.ConnectionCode
		err := techAPI.do(http.MethodGet, "/api/v1/codes/"+stale.ID, "", nil, &c)
		return err == nil && c.State == protocol.ConnCodeExpired, fmt.Errorf("state %q (%v)", c.State, err)
	})
	out, st = enterCode(t, s, stateDir, stale.Code)
	if st == 0 || !strings.Contains(out, "expired") {
		t.Errorf("an expired code: exit %d, %q; want a failure saying it expired", st, out)
	}
	testenv.Eventually(t, startTimeout, "no session to be active", func() (bool, error) {
		n := activeSessions()
		return n == 0, fmt.Errorf("%d active", n)
	})
}
