//go:build linux

package e2e

// TestNetworkPaths: the server, the agent and the technician's browser on
// three hosts of a lab network (netlab_test.go), and a session through
// each kind of network a customer has: open; no UDP anywhere; nothing but
// TCP 443 to the server; and nothing but an authenticating HTTP proxy
// (Debian's squid) from the agent's host.

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// labServer is a tether-server on the lab's server host, port 443.
type labServer struct {
	url, fingerprint, data string
	proc                   *proc
	api                    *apiClient
}

var fingerprintLine = regexp.MustCompile(`TLS certificate SHA-256 fingerprint: ([0-9a-fA-F:]+)`)

func startLabServer(t *testing.T, l *netLab) *labServer {
	t.Helper()
	s := &labServer{data: t.TempDir(), url: "https://" + labIP("srv") + ":443"}
	cmd := exec.Command(bins.server, "serve", "--data", s.data, "--listen", labIP("srv")+":443",
		"--turn-listen", labIP("srv")+":3478", "--tls-hosts", labIP("srv"), "--turn-allow-private", "true",
		"--poll-hold", pollHold.String(), "--log-level", "debug")
	l.in("srv")(cmd)
	s.proc = startCmd(t, "tether-server (lab)", cmd)
	testenv.Eventually(t, startTimeout, "the lab server to listen", func() (bool, error) {
		if s.proc.Exited() {
			t.Fatalf("the lab server exited: %s", s.proc.stderr)
		}
		m := fingerprintLine.FindStringSubmatch(s.proc.stdout.String())
		if m == nil || !strings.Contains(s.proc.stdout.String(), "listening; console: "+s.url) {
			return false, fmt.Errorf("stdout: %s", s.proc.stdout)
		}
		s.fingerprint = m[1]
		return true, nil
	})
	hc := &http.Client{Transport: l.transport("srv"), Timeout: 10 * time.Second}
	testenv.Eventually(t, startTimeout, "/readyz", func() (bool, error) {
		resp, err := hc.Get(s.url + "/readyz")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Errorf("%s", resp.Status)
	})
	pw, err := os.ReadFile(filepath.Join(s.data, "initial-admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	s.api = signInClient(t, s.url, l.transport("srv"), "admin", strings.TrimSpace(string(pw)))
	return s
}

func (s *labServer) enrollmentToken(t *testing.T) string {
	t.Helper()
	tok, err := (&testenv.Server{Bin: bins.server, Data: s.data}).EnrollmentToken(context.Background(), childEnv())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// squid is Debian's squid on the lab's proxy host, port 3128, asking for
// Basic credentials and allowing CONNECT to port 443 only (its default).
type squid struct {
	user, password string
	dir            string
	proc           *proc
}

func startSquid(t *testing.T, l *netLab) *squid {
	t.Helper()
	bin, err := exec.LookPath("squid")
	if err != nil {
		t.Fatal("squid not found: install it (scripts/deps.sh test)")
	}
	// squid drops to its own user: its files live where that user may go.
	dir, err := os.MkdirTemp("", "tether-squid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	q := &squid{user: "tech", password: "proxy pass 1", dir: dir}
	hash, err := exec.Command("openssl", "passwd", "-apr1", q.password).Output()
	if err != nil {
		t.Fatalf("openssl passwd: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(q.user+":"+strings.TrimSpace(string(hash))+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`http_port %[1]s:3128
visible_hostname tether-lab-proxy
pid_filename %[2]s/squid.pid
cache_log %[2]s/cache.log
access_log stdio:%[2]s/access.log
coredump_dir %[2]s
cache deny all
cache_mem 8 MB
shutdown_lifetime 1 seconds
auth_param basic program /usr/lib/squid/basic_ncsa_auth %[2]s/passwd
auth_param basic realm tether-lab
acl authed proxy_auth REQUIRED
acl SSL_ports port 443
acl CONNECT method CONNECT
http_access deny CONNECT !SSL_ports
http_access allow authed
http_access deny all
`, labIP("prx"), dir)
	confPath := filepath.Join(dir, "squid.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-N", "-f", confPath)
	l.in("prx")(cmd)
	q.proc = startCmd(t, "squid", cmd)
	testenv.Eventually(t, startTimeout, "squid to accept connections", func() (bool, error) {
		c, err := l.dial("srv")(context.Background(), "tcp", labIP("prx")+":3128")
		if err != nil {
			return false, err
		}
		c.Close()
		return true, nil
	})
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "cache.log"))
			a, _ := os.ReadFile(filepath.Join(dir, "access.log"))
			t.Logf("--- squid cache.log:\n%s\n--- squid access.log:\n%s", b, a)
		}
	})
	return q
}

// url is the proxy URL with its credentials.
func (q *squid) url() string {
	return (&url.URL{Scheme: "http", User: url.UserPassword(q.user, q.password), Host: labIP("prx") + ":3128"}).String()
}

// connects lists the CONNECT targets squid let through.
func (q *squid) connects() []string {
	f, err := os.Open(filepath.Join(q.dir, "access.log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) > 6 && fs[5] == "CONNECT" && strings.Contains(fs[3], "/200") {
			out = append(out, fs[6])
		}
	}
	return out
}

// Rulesets of the lab's hosts. Loopback always passes: the agent's helpers
// reach the service's proxy relay there.
const (
	ruleNoUDP = `table inet lab {
	chain out {
		type filter hook output priority 0;
		oif "lo" accept
		meta l4proto udp drop
	}
}
`
	// ruleOnly443 lets a host open TCP to the server's port 443 and
	// nothing else, and lets nothing in that it did not open.
	ruleOnly443 = `table inet lab {
	chain out {
		type filter hook output priority 0; policy drop;
		oif "lo" accept
		ct state established,related accept
		ip daddr ` + labNet + `.1 tcp dport 443 accept
	}
	chain in {
		type filter hook input priority 0; policy drop;
		iif "lo" accept
		ct state established,related accept
	}
}
`
	// ruleNoRelayUDP drops the relay's UDP to itself: the one path between
	// two relayed peers. With ruleOnly443 on both sides, WebRTC then has
	// no path at all.
	ruleNoRelayUDP = `table inet lab {
	chain out {
		type filter hook output priority 0;
		ip saddr ` + labNet + `.1 ip daddr ` + labNet + `.1 meta l4proto udp drop
	}
}
`
	// ruleOnlyProxy lets a host open TCP to the proxy and nothing else,
	// and lets nothing in that it did not open.
	ruleOnlyProxy = `table inet lab {
	chain out {
		type filter hook output priority 0; policy drop;
		oif "lo" accept
		ct state established,related accept
		ip daddr ` + labNet + `.4 tcp dport 3128 accept
	}
	chain in {
		type filter hook input priority 0; policy drop;
		iif "lo" accept
		ct state established,related accept
	}
}
`
)

// labSession is the lab with everything a session needs: the server, an
// Xvfb display with the end user's client, the technician signed in (API
// and browser on the viewer's host), and an enrollment token.
type labSession struct {
	l       *netLab
	s       *labServer
	display string
	w       *wishClient
	tech    *apiClient
	br      *browser
	token   string
}

func startLabSession(t *testing.T) *labSession {
	t.Helper()
	e := &labSession{l: newNetLab(t)}
	e.s = startLabServer(t, e.l)
	e.display = startXvfb(t)
	e.w = startWish(t, e.display)
	// A press of the left button turns the white mark cyan: the click's
	// effect comes back to the viewer as pixels.
	// (Appended to the client's own <ButtonPress> script: a binding for
	// <ButtonPress-1> would be more specific and replace it.)
	e.w.eval(`bind .c <ButtonPress> {+if {%b == 1} {.c itemconfigure mark -fill #00e0e0}}`)
	doc := map[string]any{"screenshare": map[string]any{"unattended_allowed": true, "acceptance_timeout_s": 30}}
	if err := e.s.api.do(http.MethodPut, "/api/v1/policies/global", "", doc, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.s.api.do(http.MethodPost, "/api/v1/users", "", protocol.CreateUserRequest{Name: tech1, Password: tech1Password,
		Roles: []string{perm.RoleAdministrator, perm.RoleScreenShareUnattended}}, nil); err != nil {
		t.Fatal(err)
	}
	e.tech = signInClient(t, e.s.url, e.l.transport("srv"), tech1, tech1Password)
	e.br = startBrowserOpts(t, chromedp.IgnoreCertErrors, chromedp.ModifyCmdFunc(e.l.in("vwr")))
	e.br.firstTab().signIn(e.s.url, tech1, tech1Password)
	e.token = e.s.enrollmentToken(t)
	return e
}

// startAgent runs the agent on the lab's agent host with args more.
func (e *labSession) startAgent(t *testing.T, state string, more ...string) *agent {
	t.Helper()
	a := startAgentOpts(t, agentOpts{server: e.s.url, token: e.token, state: state, env: []string{"DISPLAY=" + e.display},
		args: append([]string{"--fingerprint", e.s.fingerprint}, more...), wrap: e.l.in("agt")})
	waitPolled(t, a)
	return a
}

// roundTrip clicks the canvas and waits for the click's effect (the mark
// turning cyan) to come back, then puts the mark back.
func (e *labSession) roundTrip(t *testing.T, tb *tab) {
	t.Helper()
	r := tb.canvasRect()
	tb.mouse(r, chromedp.MouseMoved, 160, 600, input.MouseButtonNone, 0)
	tb.mouse(r, chromedp.MousePressed, 160, 600, input.MouseButtonLeft, 1)
	tb.mouse(r, chromedp.MouseReleased, 160, 600, input.MouseButtonLeft, 0)
	e.w.waitLine(inputTimeout, "the click at 160,600", func(l string) bool {
		ev, ok := parseEvent(l)
		return ok && ev.kind == "press" && ev.button == 1 && abs(ev.x-160) <= 2 && abs(ev.y-600) <= 2
	})
	tb.waitPixel(paintTimeout, "the mark turned cyan by the click", 640, 120, [3]int{0, 0xe0, 0xe0})
	e.w.eval(`.c itemconfigure mark -fill #ffffff`)
	tb.waitPixel(paintTimeout, "the mark white again", 640, 120, [3]int{0xff, 0xff, 0xff})
}

func TestNetworkPaths(t *testing.T) {
	e := startLabSession(t)
	l, s, tech, br := e.l, e.s, e.tech, e.br
	q := startSquid(t, l)
	state := t.TempDir()
	var ep protocol.Endpoint
	for _, tc := range []struct {
		name  string
		rules map[string]string
		proxy bool
		query string   // of the viewer's page
		paths []string // acceptable viewer paths
	}{
		{"open", nil, false, "", []string{"direct"}},
		{"no-udp", map[string]string{"srv": ruleNoUDP, "agt": ruleNoUDP, "vwr": ruleNoUDP}, false, "", []string{"relay-tcp", "relay-tls"}},
		{"tcp443-only", map[string]string{"agt": ruleOnly443, "vwr": ruleOnly443}, false, "", []string{"relay-tcp", "relay-tls"}},
		{"proxy-only", map[string]string{"agt": ruleOnlyProxy}, true, "", []string{"relay-remote", "relay-udp", "relay-tcp", "relay-tls"}},
		// Nothing but HTTPS gets through: the viewer gives ICE its time,
		// then asks for the websocket relay.
		{"https-only", map[string]string{"srv": ruleNoRelayUDP, "agt": ruleOnly443, "vwr": ruleOnly443}, false, "", []string{"websocket"}},
		// The relay at once, as the benchmark and a technician's setting ask.
		{"websocket-asked", map[string]string{"agt": ruleOnly443, "vwr": ruleOnly443}, false, "?transport=websocket", []string{"websocket"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l.clearFirewalls(t)
			l.firewall(t, tc.rules)
			var more []string
			if tc.proxy {
				more = append(more, "--proxy", q.url())
			}
			a := e.startAgent(t, state, more...)
			defer func() {
				if !a.proc.Exited() {
					a.proc.stop(t)
				}
			}()
			if ep.ID == "" {
				ep = waitEndpoint(t, s.api, hostname(t))
			}
			tb := br.firstTab().on(t)
			t0 := time.Now()
			var sess protocol.Session
			if err := tech.do(http.MethodPost, "/api/v1/sessions", "", protocol.CreateSessionRequest{EndpointID: ep.ID}, &sess); err != nil {
				t.Fatal(err)
			}
			defer func() {
				_ = tech.do(http.MethodPost, "/api/v1/sessions/"+url.PathEscape(sess.ID)+"/end", "", struct{}{}, nil)
			}()
			tb.do("open the viewer", chromedp.Navigate(s.url+"/view/"+sess.ID+tc.query), chromedp.WaitVisible(chromedp.ID("screen")))
			st := tb.waitLive(liveTimeout)
			firstFrame := time.Since(t0)
			checkShapes(t, tb)
			st = tb.waitStats(paintTimeout, "the toolbar to show the path", func(s viewerStats) bool { return s.Path != "" })
			t.Logf("%s: path %s, first frame %v after the session was created", tc.name, st.Path, firstFrame.Round(time.Millisecond))
			ok := false
			for _, p := range tc.paths {
				ok = ok || st.Path == p
			}
			if !ok {
				t.Errorf("path %q, want one of %v", st.Path, tc.paths)
			}

			control(t, tech, sess.ID, protocol.ControlRequestOp, st.ViewerID)
			waitHolder(t, st.ViewerID, tb)
			e.roundTrip(t, tb)

			if tc.proxy {
				// squid logs a tunnel when it closes: stop the agent first.
				a.proc.stop(t)
				testenv.Eventually(t, startTimeout, "squid to log the agent's tunnels to the server", func() (bool, error) {
					got := q.connects()
					return slices.Contains(got, labIP("srv")+":443"), fmt.Errorf("tunnels %v", got)
				})
			}
		})
	}
}

var polledRE = regexp.MustCompile(`"msg":"server state".*"state":"connected"`)

// waitPolled waits until the agent has been answered by the server since
// it started.
func waitPolled(t *testing.T, a *agent) {
	t.Helper()
	testenv.Eventually(t, startTimeout, "the agent to reach the server", func() (bool, error) {
		return polledRE.MatchString(a.proc.stderr.String()), fmt.Errorf("no poll answered yet")
	})
}

// ruleBlackhole lets nothing in or out of a host but its loopback, and
// resets nothing: an outage.
const ruleBlackhole = `table inet lab {
	chain in {
		type filter hook input priority 0; policy drop;
		iif "lo" accept
	}
	chain out {
		type filter hook output priority 0; policy drop;
		oif "lo" accept
	}
}
`

// TestSignalDropReconnect: an attended session, accepted once, rides out
// its signalling connections being cut by the server on either side, and
// 20 s outages of either host: the same session, the same viewer seat and
// control holder, a click still round-trips, and nobody is asked again. A
// 90 s outage of the endpoint's host (past the 60 s outage limit) ends it
// connection_lost, as the viewer and the endpoint both say.
func TestSignalDropReconnect(t *testing.T) {
	e := startLabSession(t)
	a := e.startAgent(t, t.TempDir())
	ep := waitEndpoint(t, e.s.api, hostname(t))
	var sess protocol.Session
	if err := e.tech.do(http.MethodPost, "/api/v1/sessions", "", protocol.CreateSessionRequest{EndpointID: ep.ID, Attended: true}, &sess); err != nil {
		t.Fatal(err)
	}
	tb := e.br.firstTab().on(t)
	tb.openViewer(e.s.url, sess.ID)
	answerPrompt(t, e.display, waitPrompt(t, e.display, liveTimeout), "Return")
	st := tb.waitLive(liveTimeout)
	seat := st.ViewerID
	control(t, e.tech, sess.ID, protocol.ControlRequestOp, seat)
	waitHolder(t, seat, tb)
	e.roundTrip(t, tb)

	prompts := func() int {
		n := 0
		for _, rec := range a.logRecords() {
			if rec["msg"] == "session state" && rec["session_id"] == sess.ID && rec["state"] == string(protocol.SessionAwaitingAcceptance) {
				n++
			}
		}
		return n
	}
	goesOn := func(what string) {
		t.Helper()
		t.Logf("%s: checking the session goes on", what)
		tb.waitStats(liveTimeout, what+": the viewer live again in its seat", func(s viewerStats) bool {
			return s.State == "live" && s.ViewerID == seat && s.Holder == seat
		})
		testenv.Eventually(t, liveTimeout, what+": the input channel open", func() (bool, error) {
			st, err := evalJS[string](tb, `window.tetherDebug.channels().input || ""`)
			return st == "open", fmt.Errorf("input channel %q (%v)", st, err)
		})
		var got protocol.Session
		if err := e.tech.do(http.MethodGet, "/api/v1/sessions/"+url.PathEscape(sess.ID), "", nil, &got); err != nil {
			t.Fatal(err)
		}
		if got.State != protocol.SessionActive || got.ControlHolder != seat {
			t.Fatalf("%s: session %s %s, control %q; want active, control %q", what, got.State, got.Reason, got.ControlHolder, seat)
		}
		e.roundTrip(t, tb)
		if n := prompts(); n != 1 || promptShown(t, e.display) {
			t.Fatalf("%s: the user was asked %d times (a prompt shown now: %v); want once", what, n, promptShown(t, e.display))
		}
	}
	outage := func(role string, d time.Duration) {
		t.Helper()
		t.Logf("%s: nothing in or out for %s", role, d)
		e.l.firewall(t, map[string]string{role: ruleBlackhole})
		// The outage's length is what is tested: it is waited out.
		time.Sleep(d)
		e.l.clearFirewalls(t)
	}

	// The server cuts each side's connections (ss -K resets them).
	e.l.run(t, "srv", "ss", "-K", "dst", labIP("agt"))
	goesOn("the agent's connections cut by the server")
	e.l.run(t, "srv", "ss", "-K", "dst", labIP("vwr"))
	goesOn("the viewer's connections cut by the server")
	outage("agt", 20*time.Second)
	goesOn("20 s outage of the endpoint")
	outage("vwr", 20*time.Second)
	goesOn("20 s outage of the viewer")

	// Past the limit: the server gives the endpoint 60 s + 15 s, the
	// endpoint gives the server 60 s after it noticed.
	t.Log("agt: nothing in or out for 90 s")
	e.l.firewall(t, map[string]string{"agt": ruleBlackhole})
	tb.waitStats(100*time.Second, "the viewer to say the session ended, connection lost", func(s viewerStats) bool {
		return s.State == "ended" && s.Reason == string(protocol.EndedConnectionLost)
	})
	testenv.Eventually(t, 100*time.Second, "the endpoint to end the session connection_lost", func() (bool, error) {
		for _, rec := range a.logRecords() {
			if rec["msg"] == "session state" && rec["session_id"] == sess.ID && rec["state"] == string(protocol.SessionEnded) {
				return rec["reason"] == string(protocol.EndedConnectionLost), fmt.Errorf("ended %v", rec["reason"])
			}
		}
		return false, fmt.Errorf("not ended")
	})
	e.l.clearFirewalls(t)
	var got protocol.Session
	if err := e.tech.do(http.MethodGet, "/api/v1/sessions/"+url.PathEscape(sess.ID), "", nil, &got); err != nil {
		t.Fatal(err)
	}
	if got.State != protocol.SessionEnded || got.Reason != protocol.EndedConnectionLost {
		t.Fatalf("the server has the session %s %s; want ended connection_lost", got.State, got.Reason)
	}
	if shown, _ := evalJS[string](tb, `document.getElementById("state").textContent`); !strings.Contains(shown, "onnection") {
		t.Errorf("the viewer says %q; want the connection named as the reason", shown)
	}
}
