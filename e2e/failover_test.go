//go:build linux

package e2e

// Faults of a cluster: a node killed under an agent's poll or under a
// session's signalling, NATS restarted, PostgreSQL restarted.

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// startTestNATS runs a NATS server in the test's process on addr, so that
// the test can stop and start it while the nodes run.
func startTestNATS(t *testing.T, addr string) *natsserver.Server {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	srv, err := natsserver.NewServer(&natsserver.Options{Host: host, Port: p, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatalf("NATS on %s did not start", addr)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// cluster is two nodes on one database behind HAProxy, joined by a NATS
// server of the test's own.
type cluster struct {
	a, b     *server
	lb       *server // its url and an administrator's API client through it
	nats     *natsserver.Server
	natsAddr string
}

func startCluster(t *testing.T, db, pin string) *cluster {
	t.Helper()
	c := &cluster{natsAddr: freeTCPAddr(t)}
	c.nats = startTestNATS(t, c.natsAddr)
	natsFlags := []string{"--nats", "nats://" + c.natsAddr}
	c.a, c.b = startNodePair(t, db, natsFlags, natsFlags, "--trusted-proxies", "127.0.0.1")
	listen := freeTCPAddr(t)
	c.lb = &server{t: t, url: startLoadBalancer(t, listen, lbConfig(t, listen, c.a, c.b, pin))}
	c.lb.api = c.lb.userClient("admin", adminPassword(t, c.a))
	return c
}

// pollHolder waits until exactly one of a and b holds the agent's poll
// and returns it and the other. A poll the agent cut short (it had results
// to send) ends on its node when the balancer passes the abort on; the
// deadline covers a whole hold in case it does not.
func pollHolder(t *testing.T, a, b *server) (holder, other *server) {
	t.Helper()
	testenv.Eventually(t, multiHold+startTimeout, "one node to hold the agent's poll", func() (bool, error) {
		na, errA := a.metric("tether_agent_polls_held")
		nb, errB := b.metric("tether_agent_polls_held")
		switch {
		case na == 1 && nb == 0:
			holder, other = a, b
		case na == 0 && nb == 1:
			holder, other = b, a
		default:
			return false, fmt.Errorf("a holds %v (%v), b %v (%v)", na, errA, nb, errB)
		}
		return true, nil
	})
	return holder, other
}

func (c *cluster) pollHolder(t *testing.T) (holder, other *server) {
	t.Helper()
	return pollHolder(t, c.a, c.b)
}

// wakeAcross queues an action on the node that does not hold the agent's
// poll and waits for the agent to run it, well within the hold: a wake-up
// carried it.
func (c *cluster) wakeAcross(t *testing.T, ag *agent, epID, what string) {
	t.Helper()
	holder, other := c.pollHolder(t)
	queued := time.Now()
	st := other.api.queueEcho(t, epID, what, 0)
	testenv.Eventually(t, multiHold/4, "the agent to run "+what, func() (bool, error) { return ag.runs(st.ID) == 1, nil })
	t.Logf("%s: queued on %s, run by the agent polling %s after %v", what, other.url, holder.url, time.Since(queued).Round(time.Millisecond))
	if got := c.lb.api.waitActionFinished(t, st.ID); got.State != protocol.ActionDone || ag.runs(st.ID) != 1 {
		t.Errorf("%s: ended %+v after %d runs", what, got, ag.runs(st.ID))
	}
}

// TestMultiNodeFailover: NATS restarted under two nodes (they reconnect
// and wake-ups resume), then the node holding the agent's poll killed
// while the agent runs an action: the agent polls the other node within
// its back-off, the action's result arrives once, and new actions reach it.
func TestMultiNodeFailover(t *testing.T) {
	c := startCluster(t, testenv.FreshPostgres(t, testenv.PostgresDSN(t)), "")
	ag := startAgentOpts(t, agentOpts{server: c.lb.url, token: apiEnrollmentToken(t, c.lb.api), state: t.TempDir()})
	ep := waitEndpoint(t, c.lb.api, hostname(t))
	c.wakeAcross(t, ag, ep.ID, "before NATS restarts")

	// NATS goes away and comes back on its address.
	c.nats.Shutdown()
	c.nats.WaitForShutdown()
	for _, n := range []*server{c.a, c.b} {
		testenv.Eventually(t, startTimeout, "the node to see NATS gone", func() (bool, error) {
			r := n.readyz(t)
			return r.Checks.NATS == "disconnected", fmt.Errorf("%+v", r)
		})
	}
	c.nats = startTestNATS(t, c.natsAddr)
	for _, n := range []*server{c.a, c.b} {
		testenv.Eventually(t, startTimeout, "the node to reach NATS again", func() (bool, error) {
			r := n.readyz(t)
			return r.Checks.NATS == "ok", fmt.Errorf("%+v", r)
		})
	}
	c.wakeAcross(t, ag, ep.ID, "after NATS restarted")

	// kill -9 of the node holding the poll while an action runs.
	slow := c.lb.api.queueEcho(t, ep.ID, "spans the failover", 4*time.Second)
	testenv.Eventually(t, actionTimeout, "the agent to start the slow action", func() (bool, error) { return ag.runs(slow.ID) == 1, nil })
	holder, other := c.pollHolder(t)
	killed := time.Now()
	holder.proc.signal(t, syscall.SIGKILL)
	holder.proc.waitExit(t, exitTimeout)
	testenv.Eventually(t, time.Minute, "the agent to poll the surviving node", func() (bool, error) {
		n, err := other.metric("tether_agent_polls_held")
		return n == 1, err
	})
	t.Logf("the agent held its poll on the surviving node %v after the other was killed", time.Since(killed).Round(time.Millisecond))
	if got := other.api.waitActionFinished(t, slow.ID); got.State != protocol.ActionDone || ag.runs(slow.ID) != 1 {
		t.Errorf("the action running through the failover ended %+v after %d runs, want done after 1", got, ag.runs(slow.ID))
	}
	st := c.lb.api.queueEcho(t, ep.ID, "after the failover", 0)
	if got := c.lb.api.waitActionFinished(t, st.ID); got.State != protocol.ActionDone || ag.runs(st.ID) != 1 {
		t.Errorf("an action queued after the failover ended %+v after %d runs", got, ag.runs(st.ID))
	}
}

// TestMultiNodeSignallingFailover: the node carrying a live session's
// signalling (both sides: the balancer sends it there while it is up) is
// killed; the session helper and the viewer connect again through the
// other node and the session goes on: it stays active, control is
// granted, typed text reaches the endpoint, a change is painted.
func TestMultiNodeSignallingFailover(t *testing.T) {
	c := startCluster(t, testenv.FreshPostgres(t, testenv.PostgresDSN(t)), pinA)
	if err := c.lb.api.do(http.MethodPost, "/api/v1/users", "", protocol.CreateUserRequest{Name: tech1, Password: tech1Password,
		Roles: []string{perm.RoleAdministrator, perm.RoleScreenShareUnattended}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.lb.api.do(http.MethodPut, "/api/v1/policies/global", "", map[string]any{"screenshare": map[string]any{"unattended_allowed": true}}, nil); err != nil {
		t.Fatal(err)
	}
	display := startXvfb(t)
	w := startWish(t, display)
	ag := startAgentOpts(t, agentOpts{server: c.lb.url, token: apiEnrollmentToken(t, c.lb.api), state: t.TempDir(), env: []string{"DISPLAY=" + display}})
	ep := waitEndpoint(t, c.lb.api, hostname(t))
	tech := c.lb.userClient(tech1, tech1Password)
	tb := startBrowser(t).firstTab()
	tb.signIn(c.lb.url, tech1, tech1Password)
	var s protocol.Session
	if err := tech.do(http.MethodPost, "/api/v1/sessions", "", protocol.CreateSessionRequest{EndpointID: ep.ID}, &s); err != nil {
		t.Fatal(err)
	}
	tb.openViewer(c.lb.url, s.ID)
	st := tb.waitLive(liveTimeout)
	checkShapes(t, tb)

	sockets := func(n *server, side string) float64 {
		v, err := n.metricLabelled("tether_signal_sockets", `side="`+side+`"`)
		if err != nil {
			return -1
		}
		return v
	}
	carrier, other := c.a, c.b
	if ag, vw := sockets(carrier, "agent"), sockets(carrier, "viewer"); ag != 1 || vw != 1 {
		t.Fatalf("node a serves %v agent and %v viewer signalling sockets, want the session's two", ag, vw)
	}
	killed := time.Now()
	carrier.proc.signal(t, syscall.SIGKILL)
	carrier.proc.waitExit(t, exitTimeout)
	testenv.Eventually(t, 90*time.Second, "the helper and the viewer to signal through the surviving node", func() (bool, error) {
		ag, vw := sockets(other, "agent"), sockets(other, "viewer")
		return ag == 1 && vw == 1, fmt.Errorf("agent sockets %v, viewer sockets %v", ag, vw)
	})
	t.Logf("both sides signalled through the surviving node %v after the kill", time.Since(killed).Round(time.Millisecond))

	if got, err := sessionState(tech, s.ID); err != nil || got.State != protocol.SessionActive {
		t.Fatalf("after the failover the session is %+v (%v), want active", got, err)
	}
	// The viewer dropped its peer connection with its signalling: wait
	// for the new one (the endpoint's second connected peer) and for the
	// screen to come through it, before sending input on it.
	connected := func() int {
		n := 0
		for _, rec := range ag.logRecords() {
			if rec["msg"] == "peer connection state" && rec["state"] == "connected" {
				n++
			}
		}
		return n
	}
	testenv.Eventually(t, liveTimeout, "the viewer's new peer connection", func() (bool, error) {
		n := connected()
		return n >= 2, fmt.Errorf("%d connected peers so far", n)
	})
	w.eval(".c itemconfigure q2 -fill #c020c0")
	tb.waitPixel(paintTimeout, "q2 repainted magenta after the failover", clientShapes[1].x, clientShapes[1].y, [3]int{0xc0, 0x20, 0xc0})
	st = tb.waitLive(liveTimeout)
	control(t, tech, s.ID, protocol.ControlRequestOp, st.ViewerID)
	waitHolder(t, st.ViewerID, tb)
	focusCanvas(t, tb)
	tb.insertText("z")
	waitTyped(t, w, "z")
	if err := tech.do(http.MethodPost, "/api/v1/sessions/"+url.PathEscape(s.ID)+"/end", "", struct{}{}, nil); err != nil {
		t.Fatal(err)
	}
	tb.waitViewerEnded(paintTimeout, protocol.EndedByTechnician)
}

// privatePG is a PostgreSQL cluster of the test's own (scripts/pg-test.sh
// with its own state directory), which it may stop and start.
type privatePG struct {
	t   *testing.T
	dir string
	dsn string
}

func startPrivatePG(t *testing.T) *privatePG {
	t.Helper()
	base, err := os.MkdirTemp("", "tether-pg-restart-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o755); err != nil { // the postgres user reaches its data
		t.Fatal(err)
	}
	pg := &privatePG{t: t, dir: filepath.Join(base, "pg")}
	script := func(arg string) *exec.Cmd {
		cmd := exec.Command("../scripts/pg-test.sh", arg)
		cmd.Env = append(os.Environ(), "TETHER_PG_DIR="+pg.dir)
		return cmd
	}
	t.Cleanup(func() {
		_ = script("stop").Run()
		os.RemoveAll(base)
	})
	out, err := script("start").Output()
	if err != nil {
		t.Fatalf("scripts/pg-test.sh start: %v", err)
	}
	pg.dsn = strings.TrimSpace(string(out))
	return pg
}

// pgCtl runs pg_ctl on the cluster, as the postgres user under root.
func (pg *privatePG) pgCtl(args ...string) {
	pg.t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		pg.t.Fatal("pg_ctl not found under /usr/lib/postgresql")
	}
	cmd := exec.Command(bins[len(bins)-1], append([]string{"-D", filepath.Join(pg.dir, "data")}, args...)...)
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--"}, cmd.Args...)...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		pg.t.Fatalf("pg_ctl %v: %v\n%s", args, err, out)
	}
}

// TestMultiNodePostgresRestart: while PostgreSQL is down every node
// answers 503 at once (directly and through the balancer); when it is
// back, the nodes serve again without a restart and the agent runs an
// action.
func TestMultiNodePostgresRestart(t *testing.T) {
	pg := startPrivatePG(t)
	c := startCluster(t, testenv.FreshPostgres(t, pg.dsn), "")
	ag := startAgentOpts(t, agentOpts{server: c.lb.url, token: apiEnrollmentToken(t, c.lb.api), state: t.TempDir()})
	ep := waitEndpoint(t, c.lb.api, hostname(t))

	// A clean stop (the test cluster runs without fsync: a crash would lose
	// what the nodes wrote); its connections are cut all the same.
	pg.pgCtl("stop", "-m", "fast", "-w")
	for _, n := range []*server{c.a, c.b} {
		asked := time.Now()
		var ae *apiError
		err := n.api.do(http.MethodGet, "/api/v1/endpoints", "", nil, nil)
		if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
			t.Fatalf("%s with the database down: %v, want 503", n.url, err)
		}
		t.Logf("%s answered 503 in %v with the database down", n.url, time.Since(asked).Round(time.Millisecond))
		resp, err := http.Get(n.url + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s /readyz with the database down: %s, want 503", n.url, resp.Status)
		}
	}
	testenv.Eventually(t, startTimeout, "the balancer to answer 503", func() (bool, error) {
		var ae *apiError
		err := c.lb.api.do(http.MethodGet, "/api/v1/endpoints", "", nil, nil)
		return errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable, err
	})

	pg.pgCtl("start", "-l", filepath.Join(pg.dir, "postgres.log"), "-w", "-t", "60")
	for _, n := range []*server{c.a, c.b} {
		testenv.Eventually(t, startTimeout, "the node to serve again", func() (bool, error) {
			err := n.api.do(http.MethodGet, "/api/v1/endpoints", "", nil, nil)
			return err == nil, err
		})
	}
	testenv.Eventually(t, startTimeout, "the balancer to serve again", func() (bool, error) {
		err := c.lb.api.do(http.MethodGet, "/api/v1/endpoints", "", nil, nil)
		return err == nil, err
	})
	st := c.lb.api.queueEcho(t, ep.ID, "after the database came back", 0)
	if got := c.lb.api.waitActionFinished(t, st.ID); got.State != protocol.ActionDone || ag.runs(st.ID) != 1 {
		t.Errorf("an action after the restart ended %+v after %d runs", got, ag.runs(st.ID))
	}
}
