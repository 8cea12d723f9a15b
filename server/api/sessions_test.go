package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tetherdesk/tether/server/app"
	"github.com/tetherdesk/tether/server/auth"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// wsPeer is a test websocket client that collects messages.
type wsPeer struct {
	t      *testing.T
	conn   *websocket.Conn
	msgs   chan protocol.Signal
	closed chan struct{}
	mu     sync.Mutex
	err    error
}

// dial opens a signalling websocket as c (its cookie jar or bearer) or,
// with bearer set, with that token.
func (e *env) dial(t *testing.T, c *client, path, bearer string, hdr http.Header) (*wsPeer, int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if hdr == nil {
		hdr = http.Header{}
	}
	opts := &websocket.DialOptions{HTTPHeader: hdr}
	if c != nil {
		opts.HTTPClient = c.hc
		if c.bearer != "" {
			hdr.Set("Authorization", "Bearer "+c.bearer)
		}
	}
	if bearer != "" {
		hdr.Set("Authorization", "Bearer "+bearer)
	}
	u := "ws" + strings.TrimPrefix(e.srv.URL, "http") + path
	conn, resp, err := websocket.Dial(ctx, u, opts)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	if err != nil {
		return nil, status, err
	}
	p := &wsPeer{t: t, conn: conn, msgs: make(chan protocol.Signal, 256), closed: make(chan struct{})}
	go func() {
		defer close(p.closed)
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				p.mu.Lock()
				p.err = err
				p.mu.Unlock()
				return
			}
			var s protocol.Signal
			if err := json.Unmarshal(b, &s); err != nil {
				t.Errorf("server sent non-JSON %q", b)
				continue
			}
			p.msgs <- s
		}
	}()
	t.Cleanup(func() { conn.CloseNow() })
	return p, status, nil
}

// expect waits for the next message of type typ, skipping others.
func (p *wsPeer) expect(typ protocol.SignalType) protocol.Signal {
	p.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-p.msgs:
			if m.Type == typ {
				return m
			}
		case <-p.closed:
			// Drain what arrived before the close.
			for {
				select {
				case m := <-p.msgs:
					if m.Type == typ {
						return m
					}
				default:
					p.t.Fatalf("socket closed (%v) while waiting for %q", p.err, typ)
				}
			}
		case <-deadline:
			p.t.Fatalf("no %q message within 10 s", typ)
		}
	}
}

// expectWhere waits for a message of type typ that satisfies ok.
func (p *wsPeer) expectWhere(typ protocol.SignalType, ok func(protocol.Signal) bool) protocol.Signal {
	p.t.Helper()
	for {
		m := p.expect(typ)
		if ok(m) {
			return m
		}
	}
}

func (p *wsPeer) send(s any) {
	p.t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		p.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.conn.Write(ctx, websocket.MessageText, b); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

// waitClosed waits until the server closed the socket.
func (p *wsPeer) waitClosed(within time.Duration) {
	p.t.Helper()
	select {
	case <-p.closed:
	case <-time.After(within):
		p.t.Fatalf("socket still open after %s", within)
	}
}

// sessionFixture: an endpoint, a policy allowing unattended sessions and
// users of every kind.
type sessionFixture struct {
	e                 *env
	epID, secret      string
	admin, ssAdmin    *client
	tech, tech2, nobd *client
	lastAction        string
}

func newSessionFixture(t *testing.T, opts ...envOpt) *sessionFixture {
	e := newEnv(t, opts...)
	f := &sessionFixture{e: e}
	f.epID, f.secret = e.enroll("share-pc", "Default", "10.1.2.3")
	f.admin = e.user("admin", perm.RoleAdministrator)
	f.ssAdmin = e.user("ssadmin", perm.RoleScreenShareAdmin)
	f.tech = e.user("tech", perm.RoleScreenShareAgent, perm.RoleScreenShareUnattended)
	f.tech2 = e.user("tech2", perm.RoleScreenShareAgent)
	f.nobd = e.user("reader", perm.RoleNotifyReadOnly)
	return f
}

func (f *sessionFixture) allowUnattended(t *testing.T, allowed bool) {
	t.Helper()
	doc := map[string]any{"screenshare": map[string]any{"unattended_allowed": allowed}}
	if st := f.admin.do("PUT", "/api/v1/policies/global", doc, nil); st != 200 {
		t.Fatalf("put policy: %d %s", st, f.admin.last)
	}
}

// create starts a session as c and returns it.
func (f *sessionFixture) create(t *testing.T, c *client, attended bool) protocol.Session {
	t.Helper()
	var s protocol.Session
	if st := c.do("POST", "/api/v1/sessions", protocol.CreateSessionRequest{EndpointID: f.epID, Attended: attended}, &s); st != 201 {
		t.Fatalf("create session: %d %s", st, c.last)
	}
	return s
}

// live creates a session as c and brings it to active with the agent's
// socket and c's viewer connected; the policy must allow it unattended.
func (f *sessionFixture) live(t *testing.T, c *client) (s protocol.Session, agent, viewer *wsPeer) {
	t.Helper()
	s = f.create(t, c, false)
	agent = f.agentConn(t, f.start(t))
	viewer, _ = f.viewerConn(t, c, s.ID)
	agent.send(protocol.Signal{Type: protocol.SignalState, State: protocol.SessionConnecting})
	agent.send(protocol.Signal{Type: protocol.SignalState, State: protocol.SessionActive})
	viewer.expectWhere(protocol.SignalSession, func(m protocol.Signal) bool { return m.Session.State == protocol.SessionActive })
	return s, agent, viewer
}

// start polls as the agent and returns the screenshare.start payload.
func (f *sessionFixture) start(t *testing.T) protocol.ScreenShareStart {
	t.Helper()
	resp, st := f.e.poll(f.secret, protocol.PollRequest{})
	if st != 200 {
		t.Fatalf("poll: %d", st)
	}
	for _, a := range resp.Actions {
		if a.Type == protocol.ActionScreenShareStart {
			var p protocol.ScreenShareStart
			if err := json.Unmarshal(a.Payload, &p); err != nil {
				t.Fatal(err)
			}
			f.e.poll(f.secret, protocol.PollRequest{Acks: []string{a.ID}})
			f.lastAction = a.ID
			return p
		}
	}
	t.Fatalf("no screenshare.start queued: %+v", resp.Actions)
	return protocol.ScreenShareStart{}
}

func (f *sessionFixture) queued(t *testing.T) []protocol.Action {
	t.Helper()
	resp, st := f.e.poll(f.secret, protocol.PollRequest{})
	if st != 200 {
		t.Fatalf("poll: %d", st)
	}
	return resp.Actions
}

// TestCreateSessionUnattendedChecks: unattended needs both the permission
// and a policy that allows it; otherwise 403 and nothing is queued.
func TestCreateSessionUnattendedChecks(t *testing.T) {
	cases := []struct {
		name     string
		user     func(f *sessionFixture) *client
		policyOK bool
		want     int
	}{
		{"no permission, policy allows", func(f *sessionFixture) *client { return f.tech2 }, true, 403},
		{"administrator lacks it too", func(f *sessionFixture) *client { return f.admin }, true, 403},
		{"permission, policy forbids", func(f *sessionFixture) *client { return f.tech }, false, 403},
		{"permission and policy", func(f *sessionFixture) *client { return f.tech }, true, 201},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newSessionFixture(t)
			f.allowUnattended(t, tc.policyOK)
			c := tc.user(f)
			c.t = t
			var s protocol.Session
			st := c.do("POST", "/api/v1/sessions", protocol.CreateSessionRequest{EndpointID: f.epID, Attended: false}, &s)
			if st != tc.want {
				t.Fatalf("status %d, want %d (%s)", st, tc.want, c.last)
			}
			if st == 403 {
				if msg := c.apiError().Error; !strings.Contains(msg, "unattended") {
					t.Errorf("403 message does not say why: %q", msg)
				}
				if acts := f.queued(t); len(acts) != 0 {
					t.Fatalf("refused session queued actions: %+v", acts)
				}
				if ss, _ := f.e.store.ListSessions(context.Background(), store.SessionFilter{}); len(ss) != 0 {
					t.Fatalf("refused session stored: %+v", ss)
				}
				return
			}
			if s.State != protocol.SessionRequested || s.Attended || s.Mode != protocol.ModeActive || s.Hostname != "share-pc" || s.Technician != "tech" {
				t.Fatalf("session = %+v", s)
			}
			p := f.start(t)
			want := protocol.ScreenShareStart{SessionID: s.ID, AgentToken: p.AgentToken, Attended: false, Mode: protocol.ModeActive,
				AllowedModes: protocol.Modes, Technician: "tech", AcceptanceTimeoutS: 30, UserMayEnd: true,
				SignalPath: "/api/agent/v1/sessions/" + s.ID + "/signal"}
			if b1, b2 := mustJSON(t, p), mustJSON(t, want); b1 != b2 {
				t.Fatalf("payload\n got  %s\n want %s", b1, b2)
			}
			if !strings.HasPrefix(p.AgentToken, "tss_") {
				t.Fatalf("agent token %q", p.AgentToken)
			}
			// Only the token's hash is stored; the stored action lacks it.
			ss, err := f.e.store.SessionByID(context.Background(), s.ID)
			if err != nil || ss.AgentTokenHash != auth.HashToken(p.AgentToken) {
				t.Fatalf("stored session %+v, %v", ss, err)
			}
			var as protocol.ActionStatus
			if st := f.admin.do("GET", "/api/v1/actions/"+f.lastAction, nil, &as); st != 200 || strings.Contains(string(as.Payload), p.AgentToken) {
				t.Fatalf("action status %d shows the agent token: %s", st, as.Payload)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCreateSessionAttendedAndPolicy: attended is the default; the policy's
// acceptance_required=false makes the agent skip the prompt; an offline
// endpoint is refused with 409 and nothing queued; a disabled mode is 400.
func TestCreateSessionAttendedAndPolicy(t *testing.T) {
	f := newSessionFixture(t)
	s := f.create(t, f.tech2, true)
	if !s.Attended {
		t.Fatalf("attended session = %+v", s)
	}
	if p := f.start(t); !p.Attended || p.AcceptanceTimeoutS != 30 {
		t.Fatalf("payload %+v", p)
	}

	doc := `{"screenshare":{"acceptance_required":false,"acceptance_timeout_s":45,"modes":["monitor","guidance"],"user_may_end":false}}`
	var pol protocol.Policy
	if st := f.ssAdmin.do("PUT", "/api/v1/policies/Default", doc, &pol); st != 200 {
		t.Fatalf("put group policy: %d %s", st, f.ssAdmin.last)
	}
	s = f.create(t, f.tech2, true)
	if s.Attended || s.Mode != protocol.ModeGuidance {
		t.Fatalf("session under a no-prompt policy = %+v", s)
	}
	p := f.start(t)
	if p.Attended || p.UserMayEnd || p.AcceptanceTimeoutS != 45 || !slices.Equal(p.AllowedModes, []protocol.Mode{protocol.ModeGuidance, protocol.ModeMonitor}) {
		t.Fatalf("payload %+v", p)
	}
	if st := f.tech2.do("POST", "/api/v1/sessions", protocol.CreateSessionRequest{EndpointID: f.epID, Attended: true, Mode: protocol.ModeActive}, nil); st != 400 {
		t.Fatalf("disabled mode: %d", st)
	}

	f.e.clock.Add(time.Minute) // beyond PollHold + grace: offline
	if st := f.tech2.do("POST", "/api/v1/sessions", protocol.CreateSessionRequest{EndpointID: f.epID, Attended: true}, nil); st != 409 || f.tech2.apiError().Code != protocol.CodeEndpointOffline {
		t.Fatalf("offline endpoint: %d %s", st, f.tech2.last)
	}
	resp, _ := f.e.poll(f.secret, protocol.PollRequest{})
	if len(resp.Actions) != 0 {
		t.Fatalf("offline refusal queued %+v", resp.Actions)
	}
}

// TestPoliciesAPI: validation, version bumps, scope.
func TestPoliciesAPI(t *testing.T) {
	f := newSessionFixture(t)
	var p protocol.Policy
	if st := f.admin.do("GET", "/api/v1/policies/global", nil, &p); st != 200 || p.Version != 1 {
		t.Fatalf("get global: %d %+v", st, p)
	}
	first, _ := f.e.poll(f.secret, protocol.PollRequest{})
	for _, bad := range []string{`[]`, `{"screenshare":{"acceptance_timeout_s":1}}`, `{"screenshare":{"modes":["x"]}}`, `{"screenshare":[]}`, `null`} {
		if st := f.admin.do("PUT", "/api/v1/policies/global", bad, nil); st != 400 {
			t.Errorf("PUT %s: %d, want 400", bad, st)
		}
	}
	if st := f.admin.do("PUT", "/api/v1/policies/global", `{"screenshare":{"unattended_allowed":true}}`, &p); st != 200 || p.Version != 2 {
		t.Fatalf("put: %d %+v", st, p)
	}
	next, _ := f.e.poll(f.secret, protocol.PollRequest{PolicyVersion: first.Policy.Version})
	if next.Policy == nil || !strings.Contains(string(next.Policy.Doc), "unattended_allowed") {
		t.Fatalf("agent did not get the new policy: %+v", next.Policy)
	}
	if st := f.admin.do("GET", "/api/v1/policies/NoSuchGroup", nil, nil); st != 404 {
		t.Fatalf("unknown group: %d", st)
	}
	scoped := f.e.user("scoped", perm.RoleScreenShareAdmin+"@Default")
	if st := scoped.do("PUT", "/api/v1/policies/global", `{}`, nil); st != 403 {
		t.Fatalf("group-scoped admin on global policy: %d", st)
	}
	if st := scoped.do("PUT", "/api/v1/policies/Default", `{}`, nil); st != 200 {
		t.Fatalf("group-scoped admin on own group: %d %s", st, scoped.last)
	}
}

// agentConn connects the fake agent side with the session token.
func (f *sessionFixture) agentConn(t *testing.T, p protocol.ScreenShareStart) *wsPeer {
	t.Helper()
	a, st, err := f.e.dial(t, nil, p.SignalPath, p.AgentToken, nil)
	if err != nil {
		t.Fatalf("agent dial: %d %v", st, err)
	}
	hello := a.expect(protocol.SignalHello)
	if hello.Session == nil || hello.Session.ID != p.SessionID || len(hello.ICEServers) == 0 || hello.ICETransportPolicy != "all" {
		t.Fatalf("agent hello = %+v", hello)
	}
	return a
}

func (f *sessionFixture) viewerConn(t *testing.T, c *client, sessionID string) (*wsPeer, string) {
	t.Helper()
	v, st, err := f.e.dial(t, c, "/api/v1/sessions/"+sessionID+"/signal", "", nil)
	if err != nil {
		t.Fatalf("viewer dial: %d %v", st, err)
	}
	hello := v.expect(protocol.SignalHello)
	if hello.ViewerID == "" || hello.Session == nil || hello.Session.ID != sessionID || len(hello.ICEServers) == 0 {
		t.Fatalf("viewer hello = %+v", hello)
	}
	return v, hello.ViewerID
}

func (f *sessionFixture) state(t *testing.T, id string) protocol.Session {
	t.Helper()
	var s protocol.Session
	if st := f.admin.do("GET", "/api/v1/sessions/"+id, nil, &s); st != 200 {
		t.Fatalf("get session: %d %s", st, f.admin.last)
	}
	return s
}

// TestAttendedStateMachine drives a session through its states over the
// agent socket: valid steps apply and are broadcast, invalid ones are
// answered with an error and change nothing.
func TestAttendedStateMachine(t *testing.T) {
	f := newSessionFixture(t)
	s := f.create(t, f.tech2, true)
	p := f.start(t)
	agent := f.agentConn(t, p)
	viewer, _ := f.viewerConn(t, f.tech2, s.ID)

	step := func(state protocol.SessionState, reason protocol.Reason, wantErr bool) {
		t.Helper()
		agent.send(protocol.Signal{Type: protocol.SignalState, State: state, Reason: reason})
		if wantErr {
			agent.expect(protocol.SignalError)
			return
		}
		viewer.expectWhere(protocol.SignalSession, func(m protocol.Signal) bool { return m.Session.State == state })
	}
	step(protocol.SessionActive, "", true)     // requested → active skips steps
	step(protocol.SessionConnecting, "", true) // attended must await acceptance
	step(protocol.SessionAwaitingAcceptance, "", false)
	step(protocol.SessionEnded, protocol.EndedByTechnician, true) // not an agent reason
	step(protocol.SessionConnecting, "", false)
	step(protocol.SessionEnded, protocol.EndedDeclined, true) // only while awaiting acceptance
	step(protocol.SessionActive, "", false)
	if got := f.state(t, s.ID); got.State != protocol.SessionActive || got.Started == nil {
		t.Fatalf("session = %+v", got)
	}
	agent.send(protocol.Signal{Type: protocol.SignalState, State: protocol.SessionEnded, Reason: protocol.EndedByUser})
	end := viewer.expect(protocol.SignalEnd)
	if end.Reason != protocol.EndedByUser {
		t.Fatalf("end = %+v", end)
	}
	viewer.waitClosed(2 * time.Second)
	agent.waitClosed(2 * time.Second)
	if got := f.state(t, s.ID); got.State != protocol.SessionEnded || got.Reason != protocol.EndedByUser || got.Ended == nil {
		t.Fatalf("session = %+v", got)
	}
	// The token is dead with the session.
	if _, st, err := f.e.dial(t, nil, p.SignalPath, p.AgentToken, nil); err == nil || st != 409 {
		t.Fatalf("agent dial after end: %d %v", st, err)
	}
	// Every change is in the audit, with session and endpoint.
	recs, _ := f.e.store.ListAudit(context.Background(), store.AuditFilter{Type: "session.*"})
	states := 0
	for _, r := range recs {
		if r.SessionID != s.ID || r.EndpointID != f.epID {
			t.Errorf("audit record %s lacks session/endpoint: %+v", r.Type, r)
		}
		if r.Type == protocol.AuditSessionState {
			states++
		}
	}
	if states != 4 {
		t.Errorf("%d session.state records, want 4", states)
	}
}

// TestStateRace: concurrent transitions from one state — exactly one wins.
func TestStateRace(t *testing.T) {
	f := newSessionFixture(t)
	s := f.create(t, f.tech2, true)
	ctx := context.Background()
	if _, err := f.e.svc.ReportState(ctx, s.ID, protocol.SessionAwaitingAcceptance, "", ""); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				_, errs[i] = f.e.svc.ReportState(ctx, s.ID, protocol.SessionConnecting, "", "")
			} else {
				_, errs[i] = f.e.svc.ReportState(ctx, s.ID, protocol.SessionEnded, protocol.EndedDeclined, "")
			}
		}()
	}
	wg.Wait()
	recs, _ := f.e.store.ListAudit(ctx, store.AuditFilter{Type: string(protocol.AuditSessionState)})
	fromAwaiting := 0
	for _, r := range recs {
		if strings.Contains(string(r.Details), `"from":"awaiting_acceptance"`) {
			fromAwaiting++
		}
	}
	if fromAwaiting != 1 {
		t.Fatalf("%d transitions out of awaiting_acceptance were applied, want 1 (errors %v)", fromAwaiting, errs)
	}
}

// TestSignallingRelay: a fake agent and two viewers over real websockets;
// offers, answers and candidates are routed by viewer id, and a viewer
// cannot speak for another.
func TestSignallingRelay(t *testing.T) {
	f := newSessionFixture(t)
	f.allowUnattended(t, true)
	s := f.create(t, f.tech, false)
	p := f.start(t)
	v1, id1 := f.viewerConn(t, f.tech, s.ID) // before the agent: it learns of v1 on connect
	agent := f.agentConn(t, p)
	if j := agent.expect(protocol.SignalViewerJoined); j.ViewerID != id1 {
		t.Fatalf("viewer_joined = %+v, want %s", j, id1)
	}
	v2, id2 := f.viewerConn(t, f.ssAdmin, s.ID) // an admin joins another's session
	if j := agent.expect(protocol.SignalViewerJoined); j.ViewerID != id2 {
		t.Fatalf("viewer_joined = %+v, want %s", j, id2)
	}
	if id1 == id2 {
		t.Fatal("viewers share an id")
	}

	cand := json.RawMessage(`{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0"}`)
	for _, tc := range []struct {
		viewer *wsPeer
		id     string
	}{{v1, id1}, {v2, id2}} {
		agent.send(protocol.Signal{Type: protocol.SignalOffer, ViewerID: tc.id, SDP: "offer-for-" + tc.id})
		agent.send(protocol.Signal{Type: protocol.SignalCandidate, ViewerID: tc.id, Candidate: cand})
		if o := tc.viewer.expect(protocol.SignalOffer); o.SDP != "offer-for-"+tc.id || o.ViewerID != tc.id {
			t.Fatalf("offer = %+v", o)
		}
		if c := tc.viewer.expect(protocol.SignalCandidate); string(c.Candidate) != string(cand) {
			t.Fatalf("candidate = %+v", c)
		}
	}
	// v2 claims to be v1: the server stamps v2's own id.
	v2.send(protocol.Signal{Type: protocol.SignalAnswer, ViewerID: id1, SDP: "answer-from-2"})
	if a := agent.expect(protocol.SignalAnswer); a.ViewerID != id2 || a.SDP != "answer-from-2" {
		t.Fatalf("answer = %+v, want stamped %s", a, id2)
	}
	v1.send(protocol.Signal{Type: protocol.SignalCandidate, Candidate: cand})
	if c := agent.expect(protocol.SignalCandidate); c.ViewerID != id1 {
		t.Fatalf("candidate = %+v, want from %s", c, id1)
	}
	// Viewers may not send offers or state; the agent may not address nobody.
	v1.send(protocol.Signal{Type: protocol.SignalState, State: protocol.SessionEnded, Reason: protocol.EndedByUser})
	v1.expect(protocol.SignalError)
	agent.send(protocol.Signal{Type: protocol.SignalOffer, ViewerID: "vnobody", SDP: "x"})
	agent.expect(protocol.SignalError)
	agent.send("not an object")
	agent.expect(protocol.SignalError)

	// A viewer leaving is told to the agent; a newer agent replaces the older.
	v2.conn.Close(websocket.StatusNormalClosure, "")
	if l := agent.expect(protocol.SignalViewerLeft); l.ViewerID != id2 {
		t.Fatalf("viewer_left = %+v", l)
	}
	agent2 := f.agentConn(t, p)
	agent.waitClosed(2 * time.Second)
	if j := agent2.expect(protocol.SignalViewerJoined); j.ViewerID != id1 {
		t.Fatalf("new agent viewer_joined = %+v", j)
	}
	agent2.send(protocol.Signal{Type: protocol.SignalOffer, ViewerID: id1, SDP: "second"})
	v1.expectWhere(protocol.SignalOffer, func(m protocol.Signal) bool { return m.SDP == "second" })
}

// TestViewerSocketRefused: no permission, no sign-in, another origin, a
// wrong agent token.
func TestViewerSocketRefused(t *testing.T) {
	f := newSessionFixture(t)
	s := f.create(t, f.tech2, true)
	p := f.start(t)
	path := "/api/v1/sessions/" + s.ID + "/signal"
	other := f.e.user("other-tech", perm.RoleScreenShareAgent)
	for _, tc := range []struct {
		name string
		c    *client
		hdr  http.Header
		want int
	}{
		{"another technician", other, nil, 403},
		{"no screen-share permission", f.nobd, nil, 403},
		{"anonymous", f.e.client(), nil, 401},
		{"cross-origin cookie", f.tech2, http.Header{"Origin": {"https://evil.example"}}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, st, err := f.e.dial(t, tc.c, path, "", tc.hdr)
			if err == nil || st != tc.want {
				t.Fatalf("dial: status %d err %v, want %d", st, err, tc.want)
			}
		})
	}
	if _, st, err := f.e.dial(t, nil, p.SignalPath, p.AgentToken+"x", nil); err == nil || st != 401 {
		t.Fatalf("wrong agent token: %d %v", st, err)
	}
	if _, st, err := f.e.dial(t, nil, "/api/agent/v1/sessions/other/signal", p.AgentToken, nil); err == nil || st != 401 {
		t.Fatalf("token of another session: %d %v", st, err)
	}
	// The owner with an API token (automation) may connect.
	var tok protocol.APIToken
	if st := f.tech2.do("POST", "/api/v1/api-tokens", protocol.CreateAPITokenRequest{Name: "viewer"}, &tok); st != 201 {
		t.Fatal(st)
	}
	bot := f.e.client()
	bot.bearer = tok.Token
	f.viewerConn(t, bot, s.ID)
}

// TestEndClosesAllSockets: ending a session sends "end" to the agent and
// every viewer and closes their sockets within 2 s.
func TestEndClosesAllSockets(t *testing.T) {
	f := newSessionFixture(t)
	s := f.create(t, f.tech2, true)
	p := f.start(t)
	agent := f.agentConn(t, p)
	v1, _ := f.viewerConn(t, f.tech2, s.ID)
	v2, _ := f.viewerConn(t, f.ssAdmin, s.ID)
	if st := f.tech.do("POST", "/api/v1/sessions/"+s.ID+"/end", map[string]any{}, nil); st != 404 && st != 403 {
		t.Fatalf("another technician ended the session: %d", st)
	}
	start := time.Now()
	var ended protocol.Session
	if st := f.tech2.do("POST", "/api/v1/sessions/"+s.ID+"/end", map[string]any{}, &ended); st != 200 || ended.State != protocol.SessionEnded || ended.Reason != protocol.EndedByTechnician {
		t.Fatalf("end: %d %+v", st, ended)
	}
	for _, peer := range []*wsPeer{agent, v1, v2} {
		if e := peer.expect(protocol.SignalEnd); e.Reason != protocol.EndedByTechnician {
			t.Fatalf("end = %+v", e)
		}
		peer.waitClosed(2*time.Second - time.Since(start) + 100*time.Millisecond)
	}
	// Idempotent; and nothing may join any more.
	if st := f.tech2.do("POST", "/api/v1/sessions/"+s.ID+"/end", map[string]any{}, nil); st != 200 {
		t.Fatalf("end again: %d", st)
	}
	if _, st, err := f.e.dial(t, f.tech2, "/api/v1/sessions/"+s.ID+"/signal", "", nil); err == nil || st != 409 {
		t.Fatalf("join ended session: %d %v", st, err)
	}
}

// TestControl: request, grant, release and take per role; every change is
// broadcast with the holder's id.
func TestControl(t *testing.T) {
	f := newSessionFixture(t)
	s := f.create(t, f.tech2, true) // tech2 owns it
	p := f.start(t)
	agent := f.agentConn(t, p)
	owner, ownerID := f.viewerConn(t, f.tech2, s.ID)
	adm, admID := f.viewerConn(t, f.ssAdmin, s.ID)
	path := "/api/v1/sessions/" + s.ID + "/control"
	ctl := func(c *client, op, viewer string, want int) protocol.Session {
		t.Helper()
		var out protocol.Session
		if st := c.do("POST", path, protocol.ControlRequest{Op: op, Viewer: viewer}, &out); st != want {
			t.Fatalf("%s %s: %d, want %d (%s)", op, viewer, st, want, c.last)
		}
		return out
	}
	holder := func(want string) {
		t.Helper()
		for _, peer := range []*wsPeer{agent, owner, adm} {
			peer.expectWhere(protocol.SignalControl, func(m protocol.Signal) bool { return m.Holder == want && m.ViewerID == "" })
		}
		if got := f.state(t, s.ID).ControlHolder; got != want {
			t.Fatalf("holder %q, want %q", got, want)
		}
	}

	ctl(f.tech2, protocol.ControlRequestOp, admID, 403) // not the caller's viewer
	if got := ctl(f.tech2, protocol.ControlRequestOp, ownerID, 200); got.ControlHolder != ownerID {
		t.Fatalf("request with nobody in control: holder %q", got.ControlHolder)
	}
	holder(ownerID)
	// The admin asks: nothing changes, the holder is told who asks.
	if got := ctl(f.ssAdmin, protocol.ControlRequestOp, admID, 200); got.ControlHolder != ownerID {
		t.Fatalf("request while held changed the holder to %q", got.ControlHolder)
	}
	owner.expectWhere(protocol.SignalControl, func(m protocol.Signal) bool { return m.ViewerID == admID && m.Holder == ownerID })
	ctl(f.tech, protocol.ControlGrant, admID, 403)      // not the holder, the owner or an admin
	ctl(f.ssAdmin, protocol.ControlRelease, "", 403)    // not the holder
	ctl(f.tech2, protocol.ControlGrant, "vnobody", 400) // not a viewer
	ctl(f.tech2, protocol.ControlGrant, admID, 200)     // the holder grants
	holder(admID)
	ctl(f.tech2, protocol.ControlTake, ownerID, 200) // the owner takes it back
	holder(ownerID)
	ctl(f.ssAdmin, protocol.ControlTake, admID, 200) // an all-sessions admin takes it
	holder(admID)
	ctl(f.ssAdmin, protocol.ControlRelease, "", 200)
	holder("")
	ctl(f.ssAdmin, protocol.ControlRequestOp, admID, 200)
	holder(admID)
	// The holder leaving frees control.
	adm.conn.Close(websocket.StatusNormalClosure, "")
	for _, peer := range []*wsPeer{agent, owner} {
		peer.expectWhere(protocol.SignalControl, func(m protocol.Signal) bool { return m.Holder == "" })
	}
	ctl(f.tech2, "steal", ownerID, 400)
	recs, _ := f.e.store.ListAudit(context.Background(), store.AuditFilter{Type: string(protocol.AuditSessionControl)})
	if len(recs) < 7 {
		t.Fatalf("%d control audit records, want every hand-off", len(recs))
	}

	// A Screen Sharing Agent who does not own the session cannot take control.
	ctl(f.tech, protocol.ControlTake, ownerID, 403)
}

// TestServerSideTimeouts: the server ends a session awaiting acceptance
// beyond its timeout plus grace (acceptance_timeout), one never picked up
// (agent_offline) and one stuck connecting (error), telling connected sockets.
func TestServerSideTimeouts(t *testing.T) {
	f := newSessionFixture(t, func(c *app.Config) { c.SessionSweep = time.Hour }) // the test sweeps
	ctx := context.Background()
	awaiting := f.create(t, f.tech2, true)
	p := f.start(t)
	agent := f.agentConn(t, p)
	viewer, _ := f.viewerConn(t, f.tech2, awaiting.ID)
	agent.send(protocol.Signal{Type: protocol.SignalState, State: protocol.SessionAwaitingAcceptance})
	viewer.expectWhere(protocol.SignalSession, func(m protocol.Signal) bool { return m.Session.State == protocol.SessionAwaitingAcceptance })
	never := f.create(t, f.tech2, true)
	connecting := f.create(t, f.tech2, true)
	for _, st := range []protocol.SessionState{protocol.SessionAwaitingAcceptance, protocol.SessionConnecting} {
		if _, err := f.e.svc.ReportState(ctx, connecting.ID, st, "", ""); err != nil {
			t.Fatal(err)
		}
	}

	f.e.clock.Add(30*time.Second + 5*time.Second) // within timeout + grace
	f.e.svc.SweepSessions(ctx)
	if got := f.state(t, awaiting.ID); got.State != protocol.SessionAwaitingAcceptance {
		t.Fatalf("ended early: %+v", got)
	}
	f.e.clock.Add(6 * time.Second) // 41 s: beyond 30 + 10
	f.e.svc.SweepSessions(ctx)
	if got := f.state(t, awaiting.ID); got.State != protocol.SessionEnded || got.Reason != protocol.EndedAcceptTimeout {
		t.Fatalf("awaiting session = %+v", got)
	}
	if e := viewer.expect(protocol.SignalEnd); e.Reason != protocol.EndedAcceptTimeout {
		t.Fatalf("end = %+v", e)
	}
	agent.expect(protocol.SignalEnd)
	if got := f.state(t, never.ID); got.State != protocol.SessionRequested {
		t.Fatalf("never-picked-up session ended too early: %+v", got)
	}
	f.e.clock.Add(20 * time.Second) // 61 s requested
	f.e.svc.SweepSessions(ctx)
	if got := f.state(t, never.ID); got.State != protocol.SessionEnded || got.Reason != protocol.EndedAgentOffline {
		t.Fatalf("never-picked-up session = %+v", got)
	}
	f.e.clock.Add(time.Minute) // > 2 min connecting
	f.e.svc.SweepSessions(ctx)
	if got := f.state(t, connecting.ID); got.State != protocol.SessionEnded || got.Reason != protocol.EndedError {
		t.Fatalf("stuck connecting session = %+v", got)
	}
}

// TestSweepOrphans: an active session no node serves (its helper and
// viewers sat on a node that died, or on this one before a restart) ends
// connection_lost once its agent grace and a margin have passed unserved;
// one whose agent is connected here stays.
func TestSweepOrphans(t *testing.T) {
	f := newSessionFixture(t)
	f.allowUnattended(t, true)
	ctx := context.Background()
	served, _, _ := f.live(t, f.tech)

	orphan := f.create(t, f.tech, false)
	for _, st := range []protocol.SessionState{protocol.SessionConnecting, protocol.SessionActive} {
		if _, err := f.e.svc.ReportState(ctx, orphan.ID, st, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	grace := f.e.svc.AgentGrace(ctx, orphan.ID)
	f.e.svc.SweepOrphans(ctx) // first seen unserved
	f.e.clock.Add(grace + 29*time.Second)
	f.e.svc.SweepOrphans(ctx)
	if got := f.state(t, orphan.ID); got.State != protocol.SessionActive {
		t.Fatalf("ended within its grace and margin: %+v", got)
	}
	f.e.clock.Add(2 * time.Second)
	f.e.svc.SweepOrphans(ctx)
	if got := f.state(t, orphan.ID); got.State != protocol.SessionEnded || got.Reason != protocol.EndedConnectionLost {
		t.Fatalf("unserved session = %+v, want ended connection_lost", got)
	}
	if got := f.state(t, served.ID); got.State != protocol.SessionActive {
		t.Fatalf("a served session was swept: %+v", got)
	}
}

// TestListSessions: own sessions for agents, all in their groups for
// screen-sharing administrators; ?state=active.
func TestListSessions(t *testing.T) {
	f := newSessionFixture(t)
	a := f.create(t, f.tech2, true)
	b := f.create(t, f.tech, true)
	if st := f.tech.do("POST", "/api/v1/sessions/"+b.ID+"/end", map[string]any{}, nil); st != 200 {
		t.Fatal(st)
	}
	list := func(c *client, q string) []string {
		t.Helper()
		var out struct{ Sessions []protocol.Session }
		if st := c.do("GET", "/api/v1/sessions"+q, nil, &out); st != 200 {
			t.Fatalf("list: %d %s", st, c.last)
		}
		var ids []string
		for _, s := range out.Sessions {
			ids = append(ids, s.ID)
		}
		return ids
	}
	for _, tc := range []struct {
		name string
		c    *client
		q    string
		want []string
	}{
		{"agent sees own", f.tech2, "", []string{a.ID}},
		{"other agent sees own", f.tech, "", []string{b.ID}},
		{"other agent, active", f.tech, "?state=active", nil},
		{"ss admin sees all", f.ssAdmin, "", []string{b.ID, a.ID}},
		{"ss admin, active", f.ssAdmin, "?state=active", []string{a.ID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.t = t
			if got := list(tc.c, tc.q); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	if st := f.tech.do("GET", "/api/v1/sessions?state=bogus", nil, nil); st != 400 {
		t.Fatalf("bad state filter: %d", st)
	}
	if st := f.tech.do("GET", "/api/v1/sessions/"+a.ID, nil, nil); st != 403 {
		t.Fatalf("another's session: %d", st)
	}
	if st := f.nobd.do("GET", "/api/v1/sessions", nil, nil); st != 403 {
		t.Fatalf("without screen-share permissions: %d", st)
	}
}
