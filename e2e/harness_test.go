//go:build unix

// Package e2e starts the real tether-server and tether-agent binaries and
// drives them through the server's HTTP API, the way an operator would.
//
// TestMain builds both binaries once. Every test gets its own server (own
// data directory, own port) and its own agents, so tests never share state.
// Nothing here sleeps to synchronise: every wait is a condition polled until
// a deadline, and the deadlines are bounds, generous enough for a loaded
// two-core CI machine, never timing assertions.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/protocol"
)

// pollHold is the server's --poll-hold in these tests; onlineGrace is the
// server's fixed grace added to it to decide whether an agent is online.
const (
	pollHold    = 3 * time.Second
	onlineGrace = 10 * time.Second
)

// Bounds for waiting. They only cap how long a test waits for something
// that should happen much sooner.
const (
	startTimeout  = 30 * time.Second // a process is up and ready
	exitTimeout   = 20 * time.Second // a signalled or failing process exits
	actionTimeout = 45 * time.Second // a queued action's result is visible
)

// bins holds the paths of the binaries TestMain built.
var bins struct{ server, agent string }

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode (starts real binaries)")
		os.Exit(0)
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tether-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// An agent running as root runs a desktop's helper as that desktop's
	// user (a desktops file's uid), who must be able to run the binary.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := testenv.BuildBinaries(ctx, dir,
		"github.com/tetherdesk/tether/server/cmd/tether-server",
		"github.com/tetherdesk/tether/agent/cmd/tether-agent"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the binaries:", err)
		return 1
	}
	bins.server = filepath.Join(dir, "tether-server")
	bins.agent = filepath.Join(dir, "tether-agent")
	return m.Run()
}

// childEnv is the environment of the started binaries: the test's own,
// without TETHER_* settings that would override the flags under test.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TETHER_") {
			env = append(env, kv)
		}
	}
	return env
}

// proc is one started binary: a testenv.Proc whose output is collected
// and which the test's cleanup kills.
type proc struct {
	*testenv.Proc
	name           string
	stdout, stderr *testenv.Lines
}

// startProc starts bin with args in its own process group. The test's
// cleanup kills whatever is left of the group and, if the test failed (or
// E2E_LOGS is set), logs the process's output.
func startProc(t testing.TB, name, bin string, args ...string) *proc {
	t.Helper()
	return startCmd(t, name, exec.Command(bin, args...))
}

// startCmd is startProc for a prepared command: its Env (childEnv when nil),
// Stdin and ExtraFiles are kept; stdout and stderr are collected.
func startCmd(t testing.TB, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	if cmd.Env == nil {
		cmd.Env = childEnv()
	}
	cmd.Stdout, cmd.Stderr = nil, nil
	tp, err := testenv.Start(name, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return trackProc(t, tp)
}

// trackProc has the test's cleanup kill p's group and, if the test failed
// (or E2E_LOGS is set), log its output.
func trackProc(t testing.TB, tp *testenv.Proc) *proc {
	p := &proc{Proc: tp, name: tp.Name, stdout: tp.Stdout, stderr: tp.Stderr}
	args := tp.Cmd.Args[1:]
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("E2E_LOGS") != "" {
			t.Logf("--- %s: %s\n--- stdout:\n%s\n--- stderr:\n%s", p.name, strings.Join(args, " "), p.stdout, p.stderr)
		}
	})
	t.Cleanup(p.Kill) // runs before the log dump above: the output is then complete
	return p
}

// signal sends sig to the process itself (not its group), as a service
// manager would.
func (p *proc) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.Signal(sig); err != nil && !p.Exited() {
		t.Fatalf("signal %s to %s: %v", sig, p.name, err)
	}
}

// waitExit waits for the process to end and returns its exit code.
func (p *proc) waitExit(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.Done():
		return p.State().ExitCode()
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s", p.name, timeout)
		return -1
	}
}

// stop sends SIGTERM and waits for a clean exit (status 0).
func (p *proc) stop(t testing.TB) {
	t.Helper()
	p.signal(t, syscall.SIGTERM)
	if code := p.waitExit(t, exitTimeout); code != 0 {
		t.Fatalf("%s exited with status %d after SIGTERM, want 0", p.name, code)
	}
}

// ---- server ----

// server is a tether-server on a private data directory.
type server struct {
	t    testing.TB
	args []string // extra serve flags
	data string
	addr string // host:port, fixed after the first start
	url  string // http://host:port
	proc *proc
	ts   *testenv.Server
	api  *apiClient
	runs int      // how many times serve was started, to label the logs
	bin  string   // the server binary when not bins.server
	env  []string // added to the server's environment
}

// startServer starts a server on a fresh data directory and an ephemeral
// loopback port, and signs in as the first administrator.
func startServer(t testing.TB, extraArgs ...string) *server {
	t.Helper()
	s := &server{t: t, data: t.TempDir(), addr: "127.0.0.1:0", args: extraArgs}
	s.start()
	s.api = s.newAPIClient()
	return s
}

// start runs `serve` on s.data and s.addr and waits until it is ready.
func (s *server) start() {
	t := s.t
	t.Helper()
	s.runs++
	bin := bins.server
	if s.bin != "" {
		bin = s.bin
	}
	ts, err := testenv.StartServer(context.Background(), testenv.ServerConfig{
		Bin: bin, Data: s.data, Listen: s.addr, Timeout: startTimeout,
		Name:    fmt.Sprintf("tether-server (start %d)", s.runs),
		Args:    append([]string{"--poll-hold", pollHold.String(), "--log-level", "debug", "--turn-listen", "127.0.0.1:0"}, s.args...),
		Prepare: func(c *exec.Cmd) { c.Env = append(childEnv(), s.env...) },
	})
	if err != nil {
		t.Fatal(err)
	}
	s.ts = ts
	s.proc = trackProc(t, ts.Proc)
	s.url, s.addr = ts.URL, ts.Addr
}

// stop shuts the server down with SIGTERM and expects a clean exit.
func (s *server) stop() {
	s.t.Helper()
	s.proc.stop(s.t)
}

// restart stops the server and starts it again on the same data directory
// and port.
func (s *server) restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

// enrollmentToken makes a token with `tether-server token create`.
func (s *server) enrollmentToken() string {
	s.t.Helper()
	tok, err := s.ts.EnrollmentToken(context.Background(), childEnv())
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// metricLabelled reads one labelled sample, e.g. ("x_total", `code="200"`).
func (s *server) metricLabelled(name, labels string) (float64, error) {
	return s.metric(name + "{" + labels + "}")
}

// metric reads one sample from GET /metrics: a bare name, or a name with
// its labels exactly as the server writes them.
func (s *server) metric(name string) (float64, error) {
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("/metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("metric %s not exported", name)
}

// waitPollHeld waits until the server holds exactly one agent poll.
func (s *server) waitPollHeld() {
	s.t.Helper()
	testenv.Eventually(s.t, startTimeout, "tether_agent_polls_held 1", func() (bool, error) {
		v, err := s.metric("tether_agent_polls_held")
		return v == 1, err
	})
}

// ---- API client ----

// apiClient calls the console/automation API with a bearer API token. The
// token lives in the server's store, so it survives restarts.
type apiClient struct {
	base  string // http://host:port; a restart keeps the port
	token string
	hc    *http.Client
}

// apiError is a non-2xx answer.
type apiError struct {
	Status int
	Body   string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body) }

// newAPIClient signs in as the first administrator (password from the data
// directory) and creates an API token with the cookie session.
func (s *server) newAPIClient() *apiClient {
	t := s.t
	t.Helper()
	pw := adminPassword(t, s)
	if !strings.Contains(s.proc.stdout.String(), "First administrator created.") {
		t.Fatalf("server did not announce the first administrator on stdout:\n%s", s.proc.stdout)
	}
	return s.userClient("admin", pw)
}

// userClient signs in as name and creates an API token with the cookie
// session.
func (s *server) userClient(name, password string) *apiClient {
	s.t.Helper()
	return signInClient(s.t, s.url, nil, name, password)
}

// signInClient signs in at base as name over rt (nil: the default
// transport) and creates an API token with the cookie session.
func signInClient(t testing.TB, base string, rt http.RoundTripper, name, password string) *apiClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	login := &apiClient{base: base, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: rt}}
	var me protocol.Me
	if err := login.do(http.MethodPost, "/api/v1/login", "", protocol.LoginRequest{Name: name, Password: password}, &me); err != nil {
		t.Fatalf("sign in as %s: %v", name, err)
	}
	if me.CSRFToken == "" {
		t.Fatalf("login answer carries no csrf_token: %+v", me)
	}
	var tok protocol.APIToken
	if err := login.do(http.MethodPost, "/api/v1/api-tokens", me.CSRFToken, protocol.CreateAPITokenRequest{Name: "e2e"}, &tok); err != nil {
		t.Fatalf("create API token: %v", err)
	}
	if tok.Token == "" {
		t.Fatalf("API token answer carries no token: %+v", tok)
	}
	return &apiClient{base: base, token: tok.Token, hc: &http.Client{Timeout: 30 * time.Second, Transport: rt}}
}

func (c *apiClient) do(method, path, csrf string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if csrf != "" {
		req.Header.Set(protocol.HeaderCSRF, csrf)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &apiError{Status: resp.StatusCode, Body: strings.TrimSpace(string(data))}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decoding %q: %w", method, path, data, err)
		}
	}
	return nil
}

// search is GET /api/v1/endpoints?q=.
func (c *apiClient) search(q string) ([]protocol.Endpoint, error) {
	var l protocol.EndpointList
	err := c.do(http.MethodGet, "/api/v1/endpoints?q="+url.QueryEscape(q), "", nil, &l)
	return l.Endpoints, err
}

// endpoint is GET /api/v1/endpoints/{id}.
func (c *apiClient) endpoint(id string) (protocol.Endpoint, error) {
	var ep protocol.Endpoint
	err := c.do(http.MethodGet, "/api/v1/endpoints/"+url.PathEscape(id), "", nil, &ep)
	return ep, err
}

// queueEcho queues an echo action and expects 202 with state queued.
func (c *apiClient) queueEcho(t testing.TB, endpointID, message string, delay time.Duration) protocol.ActionStatus {
	t.Helper()
	payload, _ := json.Marshal(protocol.EchoPayload{Message: message, DelayMS: delay.Milliseconds()})
	var st protocol.ActionStatus
	if err := c.do(http.MethodPost, "/api/v1/endpoints/"+url.PathEscape(endpointID)+"/actions", "",
		protocol.QueueActionRequest{Type: protocol.ActionEcho, Payload: payload}, &st); err != nil {
		t.Fatalf("queue echo action: %v", err)
	}
	if st.ID == "" || st.EndpointID != endpointID {
		t.Fatalf("queue answer %+v: want an id and endpoint_id %s", st, endpointID)
	}
	return st
}

// action is GET /api/v1/actions/{id}.
func (c *apiClient) action(id string) (protocol.ActionStatus, error) {
	var st protocol.ActionStatus
	err := c.do(http.MethodGet, "/api/v1/actions/"+url.PathEscape(id), "", nil, &st)
	return st, err
}

// waitActionFinished waits until the action is done or failed and returns it.
func (c *apiClient) waitActionFinished(t testing.TB, id string) protocol.ActionStatus {
	t.Helper()
	var st protocol.ActionStatus
	testenv.Eventually(t, actionTimeout, "action "+id+" to finish", func() (bool, error) {
		var err error
		st, err = c.action(id)
		return err == nil && (st.State == protocol.ActionDone || st.State == protocol.ActionFailed), err
	})
	return st
}

// checkEchoDone asserts that an echo action finished OK with message.
func checkEchoDone(t testing.TB, st protocol.ActionStatus, message string) {
	t.Helper()
	if st.State != protocol.ActionDone {
		t.Fatalf("action %s: state %q (error %q), want %q", st.ID, st.State, st.Error, protocol.ActionDone)
	}
	var out struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(st.Output, &out); err != nil || out.Message != message {
		t.Fatalf("action %s: output %s, want {\"message\":%q} (decode error: %v)", st.ID, st.Output, message, err)
	}
	if st.Completed == nil {
		t.Errorf("action %s: done without a completed time", st.ID)
	}
}

// lastLine is the last non-empty line of out.
func lastLine(out *testenv.Lines) string {
	ls := out.Lines()
	for i := len(ls) - 1; i >= 0; i-- {
		if strings.TrimSpace(ls[i]) != "" {
			return ls[i]
		}
	}
	return ""
}

// ---- agent ----

// agent is a `tether-agent run` with its own state directory.
type agent struct {
	t     testing.TB
	state string
	proc  *proc
}

// startAgent runs the agent against s with token, on a fresh state
// directory, logging JSON to stderr.
func startAgent(t testing.TB, s *server, token string) *agent {
	t.Helper()
	return startAgentIn(t, s, token, t.TempDir())
}

// startAgentIn is startAgent on a given state directory.
func startAgentIn(t testing.TB, s *server, token, stateDir string) *agent {
	t.Helper()
	return startAgentEnv(t, s, token, stateDir)
}

// startAgentEnv is startAgentIn with extra environment variables
// ("DISPLAY=:5"), which override the test's own.
//
// Where the tests run as root, so does the agent, and the desktop on
// DISPLAY is given to desktopUser (through the agent's desktops file, a
// development aid), so that the session helper runs as that user, as the
// service runs it for a real desktop: a helper running as root shows no
// window but the acceptance prompt (agent/session, privileged.go). HOME is
// then a directory of that user's (userDir).
func startAgentEnv(t testing.TB, s *server, token, stateDir string, env ...string) *agent {
	t.Helper()
	return startAgentOpts(t, agentOpts{server: s.url, token: token, state: stateDir, env: env})
}

// agentOpts is how startAgentOpts runs the agent.
type agentOpts struct {
	server, token, state string
	env                  []string // "K=V", over the test's own
	args                 []string // more flags of `run`
	wrap                 func(*exec.Cmd)
}

// startAgentOpts is startAgentEnv with more flags, and wrap to change the
// command before it starts (run it in a network namespace).
func startAgentOpts(t testing.TB, o agentOpts) *agent {
	t.Helper()
	a := &agent{t: t, state: o.state}
	env := o.env
	// An empty config file of its own keeps a host's /etc/tether/agent.yaml out.
	conf := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if wl := envOf(env, "WAYLAND_DISPLAY"); wl != "" && asDesktopUser() && envOf(env, "TETHER_DESKTOPS_FILE") == "" {
		// A Wayland desktop: its compositor runs as desktopUser already.
		desks := filepath.Join(t.TempDir(), "desktops.json")
		uid, gid := desktopUser()
		b, _ := json.Marshal(map[string]any{"active": "own:wayland", "desktops": []map[string]any{
			{"key": "own:wayland", "wayland": wl, "runtime_dir": envOf(env, "XDG_RUNTIME_DIR"),
				"dbus": envOf(env, "DBUS_SESSION_BUS_ADDRESS"), "uid": uid, "gid": gid}}})
		if err := os.WriteFile(desks, b, 0o600); err != nil {
			t.Fatal(err)
		}
		env = append(env, "TETHER_DESKTOPS_FILE="+desks, "HOME="+userDir(t))
	} else if display := envOf(env, "DISPLAY"); display != "" && asDesktopUser() && envOf(env, "TETHER_DESKTOPS_FILE") == "" {
		desks := filepath.Join(t.TempDir(), "desktops.json")
		uid, gid := desktopUser()
		b, _ := json.Marshal(map[string]any{"active": "own:" + display, "desktops": []map[string]any{
			{"key": "own:" + display, "display": display, "uid": uid, "gid": gid}}})
		if err := os.WriteFile(desks, b, 0o600); err != nil {
			t.Fatal(err)
		}
		env = append(env, "TETHER_DESKTOPS_FILE="+desks, "HOME="+userDir(t))
	}
	cmd := exec.Command(bins.agent, append([]string{"run", "--config", conf,
		"--server", o.server, "--token", o.token, "--state", a.state, "--log-format", "json", "--log-level", "debug"}, o.args...)...)
	cmd.Env = append(childEnv(), env...)
	if o.wrap != nil {
		o.wrap(cmd)
	}
	a.proc = startCmd(t, "tether-agent", cmd)
	return a
}

// desktopUser is the user the agent's session helpers run as where the
// tests run as root (startAgentEnv): nobody (testenv.DesktopUser).
func desktopUser() (uid, gid int) { return testenv.DesktopUser() }

// asDesktopUser reports whether the agent's session helpers run as
// desktopUser: whether the tests run as root.
func asDesktopUser() bool { return os.Geteuid() == 0 }

// userDir is a new directory of the desktop's user (desktopUser where the
// helpers run as that user), for what the helper reads or writes: its
// home, Downloads, a file the user sends. The test's cleanup removes it.
func userDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tether-e2e-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if asDesktopUser() {
		uid, gid := desktopUser()
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// envOf is key's value in env ("K=V" entries); the last one counts.
func envOf(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// logRecords decodes the agent's JSON log lines; other lines are skipped.
func (a *agent) logRecords() []map[string]any {
	var out []map[string]any
	for _, l := range a.proc.stderr.Lines() {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil {
			out = append(out, rec)
		}
	}
	return out
}

// logged returns the positions, in the agent's log, of the records with
// message msg and, if actionID is not empty, that action_id attribute.
func (a *agent) logged(msg, actionID string) []int {
	var at []int
	for i, rec := range a.logRecords() {
		if rec["msg"] == msg && (actionID == "" || rec["action_id"] == actionID) {
			at = append(at, i)
		}
	}
	return at
}

// runs counts the agent's `running action` log records for action id.
func (a *agent) runs(id string) int { return len(a.logged("running action", id)) }

// waitLogged waits until cond holds over the agent's log, failing at once
// if the agent exits.
func (a *agent) waitLogged(what string, cond func() bool) {
	a.t.Helper()
	testenv.Eventually(a.t, actionTimeout, "the agent to log "+what, func() (bool, error) {
		if a.proc.Exited() {
			a.t.Fatalf("agent exited with status %d while waiting for it to log %s", a.proc.State().ExitCode(), what)
		}
		return cond(), nil
	})
}

// waitRunning waits until the agent logs that it started action id.
func (a *agent) waitRunning(id string) {
	a.t.Helper()
	a.waitLogged("`running action` for "+id, func() bool { return a.runs(id) > 0 })
}

// checkRanOnce stops the agent, so that its log is complete, and asserts it
// ran each action exactly once.
func (a *agent) checkRanOnce(ids ...string) {
	a.t.Helper()
	if !a.proc.Exited() {
		a.proc.stop(a.t)
	}
	for _, id := range ids {
		if n := a.runs(id); n != 1 {
			a.t.Errorf("agent logged `running action` %d times for action %s, want exactly 1", n, id)
		}
	}
}

// waitEndpoint waits until exactly one endpoint with this machine's
// hostname is listed, online, and returns it.
func waitEndpoint(t testing.TB, c *apiClient, hostname string) protocol.Endpoint {
	t.Helper()
	var ep protocol.Endpoint
	testenv.Eventually(t, startTimeout, "the endpoint "+hostname+" to be listed online", func() (bool, error) {
		eps, err := c.search(hostname)
		if err != nil {
			return false, err
		}
		if len(eps) > 1 {
			t.Fatalf("search %q lists %d endpoints, want 1: %+v", hostname, len(eps), eps)
		}
		if len(eps) == 0 {
			return false, errors.New("not listed yet")
		}
		ep = eps[0]
		return ep.Online, fmt.Errorf("listed but online=%v", ep.Online)
	})
	return ep
}

func hostname(t testing.TB) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil || h == "" {
		t.Fatalf("os.Hostname: %q, %v", h, err)
	}
	return h
}

// swapCase upper-cases lower-case letters and vice versa.
func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsUpper(r) {
			return unicode.ToLower(r)
		}
		return unicode.ToUpper(r)
	}, s)
}

// adminPassword reads the first administrator's password.
func adminPassword(t testing.TB, s *server) string {
	t.Helper()
	pw, err := s.ts.AdminPassword()
	if err != nil {
		t.Fatal(err)
	}
	return pw
}
