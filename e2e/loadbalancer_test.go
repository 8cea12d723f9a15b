//go:build linux

package e2e

// Two server nodes behind HAProxy, configured as deploy/haproxy.cfg says.

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Signalling routes of lbConfig.
const (
	pinSplit = "split"
	pinA     = "a"
)

// shippedHAProxy is the configuration the README tells operators to use.
const shippedHAProxy = "../deploy/haproxy.cfg"

// lbConfig turns the shipped configuration into one for nodes a and b on
// loopback, plain HTTP: the TLS options go, the two nodes take the
// example's places, and the connection limit fits a test machine. pin
// adds routes for the signalling websockets: pinSplit sends the viewers'
// to a and the session helpers' to b, so that a session always spans
// both; pinA sends both to a while a is up.
func lbConfig(t *testing.T, listen string, a, b *server, pin string) string {
	t.Helper()
	src, err := os.ReadFile(shippedHAProxy)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	servers := 0
	for _, l := range strings.Split(string(src), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) > 0 && f[0] == "bind":
			l = "\tbind " + listen
		case len(f) > 0 && f[0] == "maxconn":
			l = "\tmaxconn 2000" // within a test machine's open-files limit
		case len(f) > 0 && f[0] == "default-server":
			l, _, _ = strings.Cut(l, " ssl ")
		case len(f) > 2 && f[0] == "server":
			servers++
			switch servers {
			case 1:
				l = "\tserver a " + a.addr
			case 2:
				l = "\tserver b " + b.addr
			default:
				continue
			}
		case len(f) > 0 && f[0] == "default_backend" && pin == pinSplit:
			out = append(out,
				`	use_backend only_b if { path_reg ^/api/agent/v1/sessions/[^/]+/signal$ }`,
				`	use_backend only_a if { path_reg ^/api/v1/sessions/[^/]+/signal$ }`)
		case len(f) > 0 && f[0] == "default_backend" && pin == pinA:
			out = append(out, `	use_backend only_a if { path_reg ^/api/(agent/)?v1/sessions/[^/]+/signal$ } { nbsrv(only_a) gt 0 }`)
		}
		out = append(out, l)
	}
	if servers != 2 {
		t.Fatalf("%s lists %d servers, want the two example nodes", shippedHAProxy, servers)
	}
	if pin != "" {
		for _, n := range []struct {
			name string
			s    *server
		}{{"a", a}, {"b", b}} {
			out = append(out, "backend only_"+n.name, "\toption httpchk GET /readyz", "\tserver "+n.name+" "+n.s.addr+" check inter 1s fall 2", "")
		}
	}
	return strings.Join(out, "\n")
}

// startLoadBalancer runs HAProxy with cfg until the test ends and waits
// until it serves /readyz. It returns the balancer's base URL.
func startLoadBalancer(t *testing.T, listen, cfg string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("haproxy", "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, cfg)
	}
	p := startProc(t, "haproxy", "haproxy", "-db", "-f", path)
	base := "http://" + listen
	testenv.Eventually(t, startTimeout, "HAProxy to serve /readyz", func() (bool, error) {
		if p.Exited() {
			t.Fatalf("haproxy exited:\n%s", p.stderr)
		}
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Errorf("%s", resp.Status)
	})
	return base
}

// TestHAProxyConfig: the shipped configuration is valid as it stands
// (with a certificate where it names one).
func TestHAProxyConfig(t *testing.T) {
	src, err := os.ReadFile(shippedHAProxy)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
		"-subj", "/CN=tether.example", "-days", "1", "-keyout", key, "-out", cert).CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	c, _ := os.ReadFile(cert)
	k, _ := os.ReadFile(key)
	pem := filepath.Join(dir, "tether.pem")
	if err := os.WriteFile(pem, append(c, k...), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("/etc/haproxy/tether.pem", pem, "/etc/haproxy/tether-ca.pem", cert).Replace(string(src))
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("haproxy", "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c on the shipped configuration: %v\n%s", err, out)
	}
}

// TestMultiNode: HAProxy in front of two nodes on one PostgreSQL store,
// joined by NATS. The console signs in and the agent polls through the
// balancer; the viewers' signalling is pinned to node a and the session
// helper's to node b, so the session spans both: the viewers show the
// endpoint's screen and control passes from one to the other. An action
// queued on the node that does not hold the agent's poll reaches the agent
// at once.
func TestMultiNode(t *testing.T) {
	a, b := startNodes(t, "--trusted-proxies", "127.0.0.1")
	listen := freeTCPAddr(t)
	lbURL := startLoadBalancer(t, listen, lbConfig(t, listen, a, b, pinSplit))
	lb := &server{t: t, url: lbURL}
	lb.api = lb.userClient("admin", adminPassword(t, a))
	for _, u := range []struct {
		name, pw string
		roles    []string
	}{
		{tech1, tech1Password, []string{perm.RoleAdministrator, perm.RoleScreenShareUnattended}},
		{tech2, tech2Password, []string{perm.RoleAdministrator}},
	} {
		if err := lb.api.do(http.MethodPost, "/api/v1/users", "", protocol.CreateUserRequest{Name: u.name, Password: u.pw, Roles: u.roles}, nil); err != nil {
			t.Fatalf("create user %s: %v", u.name, err)
		}
	}
	doc := map[string]any{"screenshare": map[string]any{"unattended_allowed": true}}
	if err := lb.api.do(http.MethodPut, "/api/v1/policies/global", "", doc, nil); err != nil {
		t.Fatalf("PUT /api/v1/policies/global: %v", err)
	}

	display := startXvfb(t)
	w := startWish(t, display)
	ag := startAgentOpts(t, agentOpts{server: lbURL, token: apiEnrollmentToken(t, lb.api), state: t.TempDir(), env: []string{"DISPLAY=" + display}})
	ep := waitEndpoint(t, lb.api, hostname(t))

	// The console through the balancer, two technicians.
	br := startBrowser(t)
	tabA := br.firstTab()
	tabA.signIn(lbURL, tech1, tech1Password)
	tabB := br.newProfileTab(t)
	tabB.signIn(lbURL, tech2, tech2Password)
	tech := lb.userClient(tech1, tech1Password)
	var s protocol.Session
	if err := tech.do(http.MethodPost, "/api/v1/sessions", "", protocol.CreateSessionRequest{EndpointID: ep.ID}, &s); err != nil {
		t.Fatalf("POST /api/v1/sessions: %v", err)
	}
	t.Cleanup(func() {
		_ = tech.do(http.MethodPost, "/api/v1/sessions/"+url.PathEscape(s.ID)+"/end", "", struct{}{}, nil)
	})
	tabA.openViewer(lbURL, s.ID)
	tabB.openViewer(lbURL, s.ID)
	stA, stB := tabA.waitLive(liveTimeout), tabB.waitLive(liveTimeout)
	checkShapes(t, tabA)
	checkShapes(t, tabB)
	for _, c := range []struct {
		node *server
		side string
		want float64
	}{{a, "viewer", 2}, {a, "agent", 0}, {b, "viewer", 0}, {b, "agent", 1}} {
		if n, err := c.node.metricLabelled("tether_signal_sockets", `side="`+c.side+`"`); err != nil || n != c.want {
			t.Errorf("node %s serves %v %s signalling sockets (%v), want %v", c.node.readyz(t).Node, n, c.side, err, c.want)
		}
	}

	// Control: tech1's viewer, then handed to tech2's; only the holder's
	// text lands.
	control(t, tech, s.ID, protocol.ControlRequestOp, stA.ViewerID)
	waitHolder(t, stA.ViewerID, tabA, tabB)
	focusCanvas(t, tabA)
	focusCanvas(t, tabB)
	tabA.insertText("y")
	waitTyped(t, w, "y")
	control(t, tech, s.ID, protocol.ControlGrant, stB.ViewerID)
	waitHolder(t, stB.ViewerID, tabA, tabB)
	tabA.insertText("p")
	tabA.inputDrained()
	tabB.insertText("q")
	waitTyped(t, w, "yq")

	// An action queued on the node that does not hold the agent's poll.
	holder, other := pollHolder(t, a, b)
	queued := time.Now()
	st := other.api.queueEcho(t, ep.ID, "through the other node", 0)
	testenv.Eventually(t, multiHold/4, "the agent to run the action queued on the other node", func() (bool, error) {
		return ag.runs(st.ID) == 1, nil
	})
	t.Logf("queued on node %s, running on the agent polling node %s after %v", other.readyz(t).Node, holder.readyz(t).Node, time.Since(queued).Round(time.Millisecond))
	if got := lb.api.waitActionFinished(t, st.ID); got.State != protocol.ActionDone {
		t.Errorf("the action ended %+v", got)
	}
}
