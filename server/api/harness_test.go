package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/server/api"
	"github.com/tetherdesk/tether/server/app"
	"github.com/tetherdesk/tether/server/auth"
	"github.com/tetherdesk/tether/server/console"
	"github.com/tetherdesk/tether/server/park"
	"github.com/tetherdesk/tether/server/signal"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/server/store/sqlstore"
	"github.com/tetherdesk/tether/shared/protocol"
)

// clock is a settable clock for presence and throttling tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

type env struct {
	t     *testing.T
	srv   *httptest.Server
	svc   *app.Service
	store store.Store
	clock *clock
	hub   *signal.Hub
}

type envOpt func(*app.Config)

func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "tether.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Now().UTC()}
	// Light password hashing: the cost is auth's business and its own tests'.
	// Tests sweep for unserved sessions themselves, on the test clock.
	cfg := app.Config{Store: st, Now: clk.Now, PollHold: 30 * time.Second, AccountFailures: 5, IPFailures: 1000,
		PasswordParams: auth.Params{Time: 1, Memory: 1024, Threads: 1}, OrphanSweep: time.Hour}
	for _, o := range opts {
		o(&cfg)
	}
	hub, err := signal.New(signal.Config{ICE: testICE})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Events == nil {
		cfg.Events = hub
	}
	svc, err := app.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Held polls park, as in tether-server; twoNodes' second node holds
	// them in the handler, so both ways are tested.
	lot, err := park.New(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lot.Close)
	h, err := api.Handler(api.Config{Service: svc, Signal: hub, Extra: console.Register, Park: lot})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = lot.Listener(srv.Listener)
	srv.Start()
	// Close the service first: it releases held polls so the server can close.
	t.Cleanup(srv.Close)
	t.Cleanup(hub.Close)
	t.Cleanup(svc.Close)
	return &env{t: t, srv: srv, svc: svc, store: st, clock: clk, hub: hub}
}

// twoNodes is newEnv on a fresh PostgreSQL database with a second server
// node on the same database (its own store handle and service, no NATS:
// what the test exercises is shared through the store). It returns the
// second node's service and URL.
func twoNodes(t *testing.T, opts ...envOpt) (*env, *app.Service, string) {
	t.Helper()
	db := testenv.FreshPostgres(t, testenv.PostgresDSN(t))
	open := func() store.Store {
		st, err := sqlstore.OpenPostgres(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	e := newEnv(t, append(opts, func(c *app.Config) { c.Store = open() })...)
	cfg := app.Config{Store: open(), Now: e.clock.Now, PollHold: 30 * time.Second, AccountFailures: 5, IPFailures: 1000,
		PasswordParams: auth.Params{Time: 1, Memory: 1024, Threads: 1}}
	for _, o := range opts {
		o(&cfg)
	}
	svc2, err := app.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.Handler(api.Config{Service: svc2})
	if err != nil {
		t.Fatal(err)
	}
	node2 := httptest.NewServer(h)
	t.Cleanup(node2.Close)
	t.Cleanup(svc2.Close)
	return e, svc2, node2.URL
}

// user creates an account with roles and returns a signed-in client.
func (e *env) user(name string, roles ...string) *client {
	e.t.Helper()
	if _, err := e.svc.AddUser(context.Background(), protocol.CreateUserRequest{Name: name, Password: "correct horse battery", Roles: roles}); err != nil {
		e.t.Fatalf("add user %s: %v", name, err)
	}
	c := e.client()
	var me protocol.Me
	if st := c.do("POST", "/api/v1/login", protocol.LoginRequest{Name: name, Password: "correct horse battery"}, &me); st != 200 {
		e.t.Fatalf("login %s: status %d", name, st)
	}
	c.csrf = me.CSRFToken
	return c
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: e.t, base: e.srv.URL, hc: &http.Client{Jar: jar, Timeout: 60 * time.Second}}
}

// enroll registers a simulated agent into group and returns its secret.
func (e *env) enroll(hostname, group string, ips ...string) (id, secret string) {
	e.t.Helper()
	tok, err := e.svc.IssueEnrollmentToken(context.Background(), protocol.CreateTokenRequest{Group: group}, "test", true)
	if err != nil {
		e.t.Fatal(err)
	}
	var resp protocol.EnrollResponse
	st := e.client().do("POST", protocol.PathEnroll, protocol.EnrollRequest{Token: tok.Token, Protocol: protocol.Version,
		Inventory: protocol.Inventory{Hostname: hostname, IPs: ips, OS: "linux", Arch: "amd64", AgentVersion: "test", Tools: protocol.Tools}}, &resp)
	if st != http.StatusCreated {
		e.t.Fatalf("enroll %s: status %d", hostname, st)
	}
	return resp.AgentID, resp.Secret
}

type client struct {
	t      *testing.T
	base   string
	hc     *http.Client
	csrf   string
	bearer string
	// last holds the body of the last answer, for error messages.
	last []byte
}

// do sends body as JSON (a string or []byte is sent raw) and decodes the
// answer into out when given; it returns the status.
func (c *client) do(method, path string, body, out any) int {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" {
		req.Header.Set(protocol.HeaderCSRF, c.csrf)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	c.last, _ = io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(c.last, out); err != nil {
			c.t.Fatalf("%s %s: decode %q: %v", method, path, c.last, err)
		}
	}
	return resp.StatusCode
}

// apiError decodes the last answer as a protocol.Error.
func (c *client) apiError() protocol.Error {
	var e protocol.Error
	_ = json.Unmarshal(c.last, &e)
	return e
}

// poll sends an agent poll with the agent's secret.
func (e *env) poll(secret string, req protocol.PollRequest) (protocol.PollResponse, int) {
	e.t.Helper()
	c := e.client()
	c.bearer = secret
	req.Protocol = protocol.Version
	var resp protocol.PollResponse
	st := c.do("POST", protocol.PathPoll, req, &resp)
	return resp, st
}

// testICE stands in for the TURN relay's credentials.
func testICE(sessionID, subject string) []protocol.ICEServer {
	return []protocol.ICEServer{{URLs: []string{"turn:127.0.0.1:3478?transport=udp"}, Username: "0:" + sessionID + ":" + subject, Credential: "x"}}
}
