//go:build unix

package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/protocol"
)

// TestEnrollFindOnlineOffline enrolls an agent, finds its endpoint by
// computer name and address, and sees it go offline once the agent stops.
func TestEnrollFindOnlineOffline(t *testing.T) {
	s := startServer(t)
	host := hostname(t)
	a := startAgent(t, s, s.enrollmentToken())

	ep := waitEndpoint(t, s.api, host)
	if ep.Hostname != host {
		t.Errorf("endpoint hostname %q, want %q", ep.Hostname, host)
	}
	if len(ep.IPs) == 0 || ep.IPs[0] != "127.0.0.1" {
		t.Errorf("endpoint IPs %v: want the address the server sees, 127.0.0.1, first", ep.IPs)
	}
	checkIdentity(t, a, ep.ID)

	queries := []string{host, swapCase(host), "127.0.0.1", "127.0"}
	if len(host) > 1 {
		queries = append(queries, swapCase(host[1:]), strings.ToUpper(host[:len(host)-1]))
	}
	for _, q := range queries {
		eps, err := s.api.search(q)
		if err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
		if len(eps) != 1 || eps[0].ID != ep.ID {
			t.Errorf("search %q: got %s, want exactly endpoint %s", q, endpointIDs(eps), ep.ID)
		}
	}
	nomatch := []string{host + "-no-such-host", "10.254.253.", "127.0.0.2"}
	if !strings.ContainsAny(host, "%_") {
		nomatch = append(nomatch, "%", "_") // LIKE wildcards match literally
	}
	for _, q := range nomatch {
		eps, err := s.api.search(q)
		if err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
		if len(eps) != 0 {
			t.Errorf("search %q: got %s, want none", q, endpointIDs(eps))
		}
	}

	a.proc.stop(t)
	stopped := time.Now()
	// Offline comes at most poll hold + grace after the agent's last poll
	// started; the extra margin only absorbs a slow machine.
	testenv.Eventually(t, pollHold+onlineGrace+20*time.Second, "the endpoint to show offline", func() (bool, error) {
		got, err := s.api.endpoint(ep.ID)
		return err == nil && !got.Online, err
	})
	t.Logf("offline %s after the agent stopped (online window %s)", time.Since(stopped).Round(100*time.Millisecond), pollHold+onlineGrace)
	if eps, err := s.api.search(host); err != nil || len(eps) != 1 || eps[0].Online {
		t.Errorf("search %q after stop: %+v, %v: want the endpoint, offline", host, eps, err)
	}
}

// TestActionDeliveredOnceAndResultVisible queues an action while the agent
// waits in a held poll; the agent runs it once and the result is visible.
func TestActionDeliveredOnceAndResultVisible(t *testing.T) {
	s := startServer(t)
	a := startAgent(t, s, s.enrollmentToken())
	ep := waitEndpoint(t, s.api, hostname(t))
	s.waitPollHeld()

	const msg = "hello from e2e"
	queued := s.api.queueEcho(t, ep.ID, msg, 0)
	if queued.State != protocol.ActionQueued || queued.Type != protocol.ActionEcho {
		t.Errorf("queue answer: state %q type %q, want %q %q", queued.State, queued.Type, protocol.ActionQueued, protocol.ActionEcho)
	}
	st := s.api.waitActionFinished(t, queued.ID)
	checkEchoDone(t, st, msg)
	if st.Delivered == nil {
		t.Errorf("action %s: done without a delivered time", st.ID)
	}
	if woken, err := s.metricLabelled("tether_agent_polls_total", `outcome="woken"`); err != nil || woken < 1 {
		// Queued between two polls rather than during a hold: still a
		// valid delivery, just not the path this test aims at.
		t.Logf("no woken poll counted (%v, %v): the action was picked up by a fresh poll", woken, err)
	}

	// Let the agent poll again after reporting: a re-offer would arrive now.
	s.waitPollHeld()
	a.checkRanOnce(queued.ID)
	if st2, err := s.api.action(queued.ID); err != nil || st2.State != protocol.ActionDone {
		t.Errorf("action after the agent stopped: %+v, %v: want still done", st2, err)
	}
}

// TestActionSurvivesServerRestart restarts the server while the agent is
// idle, while it runs an action, and while a finished result waits to be
// reported: the agent reconnects by itself, keeps its identity, and every
// action runs once with its result delivered.
func TestActionSurvivesServerRestart(t *testing.T) {
	s := startServer(t)
	host := hostname(t)
	a := startAgent(t, s, s.enrollmentToken())
	ep := waitEndpoint(t, s.api, host)
	s.waitPollHeld()

	// (a) Take the server away until the agent notices (a poll fails), then
	// bring it back on the same data and port: the agent reconnects by
	// itself and runs what was queued meanwhile.
	failedBefore := len(a.logged("poll failed", ""))
	s.stop()
	a.waitLogged("a failed poll while the server is down", func() bool {
		return len(a.logged("poll failed", "")) > failedBefore
	})
	s.start()
	idle := s.api.queueEcho(t, ep.ID, "after restart", 0)
	checkEchoDone(t, s.api.waitActionFinished(t, idle.ID), "after restart")

	// (b) Restart while an action runs on the agent; the new server gets
	// the result.
	const delay = 3 * time.Second
	running := s.api.queueEcho(t, ep.ID, "across restart", delay)
	a.waitRunning(running.ID)
	downAt := time.Now()
	s.restart()
	if d := time.Since(downAt); d > delay {
		t.Logf("the restart took %s, longer than the action's %s: it may have finished before the server went down", d, delay)
	}
	checkEchoDone(t, s.api.waitActionFinished(t, running.ID), "across restart")

	// (c) The action finishes while the server is down: the agent keeps the
	// result through failed polls and delivers it once the server is back.
	outage := s.api.queueEcho(t, ep.ID, "during outage", 2*time.Second)
	a.waitRunning(outage.ID)
	s.stop()
	a.waitLogged("a failed poll after "+outage.ID+" finished", func() bool {
		fin, failed := a.logged("action finished", outage.ID), a.logged("poll failed", "")
		return len(fin) > 0 && len(failed) > 0 && failed[len(failed)-1] > fin[0]
	})
	s.start()
	checkEchoDone(t, s.api.waitActionFinished(t, outage.ID), "during outage")

	// Same identity: one endpoint with this hostname, the original one,
	// online again.
	if got := waitEndpoint(t, s.api, host); got.ID != ep.ID {
		t.Errorf("after restarts the endpoint is %s, want the original %s", got.ID, ep.ID)
	}
	checkIdentity(t, a, ep.ID)
	if a.proc.Exited() {
		t.Fatalf("agent exited with status %d across the restarts", a.proc.State().ExitCode())
	}
	a.checkRanOnce(idle.ID, running.ID, outage.ID)
}

// TestBadEnrollmentToken: an agent with a made-up token exits with status 3
// and says why; nothing is enrolled.
func TestBadEnrollmentToken(t *testing.T) {
	s := startServer(t)
	const madeUp = "tet_thisTokenWasNeverIssuedByTheServer0000000"
	a := startAgent(t, s, madeUp)

	if code := a.proc.waitExit(t, exitTimeout); code != 3 {
		t.Errorf("agent exited with status %d, want 3", code)
	}
	stderr := a.proc.stderr.String()
	if last := lastLine(a.proc.stderr); !strings.Contains(last, "enrollment token rejected") {
		t.Errorf("agent's last stderr line %q lacks %q; stderr:\n%s", last, "enrollment token rejected", stderr)
	}
	if strings.Contains(stderr, madeUp) {
		t.Errorf("agent stderr shows the enrollment token:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(a.state, "identity.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("identity.json after a rejected enrollment: stat error %v, want not-exist", err)
	}
	eps, err := s.api.search("")
	if err != nil {
		t.Fatalf("list endpoints: %v", err)
	}
	if len(eps) != 0 {
		t.Errorf("endpoints after a rejected enrollment: %s, want none", endpointIDs(eps))
	}
}

// TestRevokedAgent: revoking an endpoint makes its running agent exit with
// status 4 and a clear message.
func TestRevokedAgent(t *testing.T) {
	s := startServer(t)
	token := s.enrollmentToken()
	a := startAgent(t, s, token)
	ep := waitEndpoint(t, s.api, hostname(t))
	s.waitPollHeld()

	if err := s.api.do(http.MethodPost, "/api/v1/endpoints/"+ep.ID+"/revoke", "", struct{}{}, nil); err != nil {
		t.Fatalf("revoke endpoint: %v", err)
	}
	checkRevokedExit(t, a)

	// Started again on the same state, the agent neither runs nor enrolls
	// anew with its old token.
	again := startAgentIn(t, s, token, a.state)
	checkRevokedExit(t, again)
	var ae *apiError
	if _, err := s.api.endpoint(ep.ID); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Errorf("GET revoked endpoint: %v, want 404", err)
	}
	if eps, err := s.api.search(""); err != nil || len(eps) != 0 {
		t.Errorf("endpoints after revoke: %s, %v: want none", endpointIDs(eps), err)
	}
}

// checkRevokedExit asserts that a revoked agent exits with status 4 and
// says so in its last line.
func checkRevokedExit(t testing.TB, a *agent) {
	t.Helper()
	if code := a.proc.waitExit(t, exitTimeout); code != 4 {
		t.Errorf("agent exited with status %d, want 4", code)
	}
	if last := lastLine(a.proc.stderr); !strings.Contains(last, "revoked") || !strings.Contains(last, "rejected") {
		t.Errorf("agent's last stderr line %q does not say its credentials were rejected as revoked", last)
	}
}

// checkIdentity asserts that the agent's identity file names endpoint id.
func checkIdentity(t testing.TB, a *agent, id string) {
	t.Helper()
	// The server lists the endpoint as it answers the enrollment; the
	// agent writes its identity when the answer arrives, a moment later.
	var data []byte
	testenv.Eventually(t, startTimeout, "the agent to store its identity", func() (bool, error) {
		var err error
		data, err = os.ReadFile(filepath.Join(a.state, "identity.json"))
		return err == nil, err
	})
	var ident struct {
		AgentID string `json:"agent_id"`
	}
	if err := json.Unmarshal(data, &ident); err != nil || ident.AgentID != id {
		t.Errorf("identity.json agent_id %q (%v), want %s", ident.AgentID, err, id)
	}
}

func endpointIDs(eps []protocol.Endpoint) string {
	ids := make([]string, 0, len(eps))
	for _, e := range eps {
		ids = append(ids, e.ID+"("+e.Hostname+")")
	}
	slices.Sort(ids)
	return "[" + strings.Join(ids, " ") + "]"
}
