//go:build linux

package e2e

// Several server nodes on one PostgreSQL store, joined by NATS.

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/protocol"
)

// multiHold is the nodes' poll hold: long, so that an action arriving
// well within it came by a wake-up, not by the agent's next poll.
const multiHold = 60 * time.Second

// startNodes starts two server nodes on a fresh PostgreSQL database: a
// runs the embedded NATS server, b connects to it. They share the server
// secret (copied, as an operator copies it to each node).
func startNodes(t *testing.T, extra ...string) (a, b *server) {
	t.Helper()
	db := testenv.FreshPostgres(t, testenv.PostgresDSN(t))
	natsAddr := freeTCPAddr(t)
	return startNodePair(t, db, []string{"--nats", "embedded", "--nats-listen", natsAddr}, []string{"--nats", "nats://" + natsAddr}, extra...)
}

// startNodePair starts nodes a and b on database db, a with natsA's flags
// and b with natsB's.
func startNodePair(t *testing.T, db string, natsA, natsB []string, extra ...string) (a, b *server) {
	t.Helper()
	common := append([]string{"--db", db, "--poll-hold", multiHold.String()}, extra...)
	a = startServer(t, slices.Concat(common, natsA, []string{"--node-name", "a"})...)
	b = &server{t: t, data: t.TempDir(), addr: "127.0.0.1:0", args: slices.Concat(common, natsB, []string{"--node-name", "b"})}
	secret, err := os.ReadFile(filepath.Join(a.data, "server-secret"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.data, "server-secret"), secret, 0o600); err != nil {
		t.Fatal(err)
	}
	b.start()
	// The administrator a created signs in on b too.
	b.api = b.userClient("admin", adminPassword(t, a))
	return a, b
}

// freeTCPAddr is a loopback address with a port free a moment ago.
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// readyz is GET /readyz's answer.
type readyz struct {
	Status string `json:"status"`
	Node   string `json:"node"`
	Checks struct {
		Store string `json:"store"`
		NATS  string `json:"nats"`
	} `json:"checks"`
}

func (s *server) readyz(t *testing.T) readyz {
	t.Helper()
	resp, err := http.Get(s.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r readyz
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("/readyz: %v", err)
	}
	return r
}

// TestMultiNodeWake: an action queued through node a reaches the agent
// whose poll node b holds at once (NATS carries the wake-up), not at the
// end of b's 60 s hold; each node names itself in /readyz and reaches
// NATS.
func TestMultiNodeWake(t *testing.T) {
	a, b := startNodes(t)
	for _, n := range []struct {
		s    *server
		name string
	}{{a, "a"}, {b, "b"}} {
		if r := n.s.readyz(t); r.Status != "ready" || r.Node != n.name || r.Checks.NATS != "ok" || r.Checks.Store != "ok" {
			t.Errorf("node %s /readyz: %+v", n.name, r)
		}
	}
	ag := startAgent(t, b, apiEnrollmentToken(t, a.api))
	ep := waitEndpoint(t, a.api, hostname(t))
	testenv.Eventually(t, startTimeout, "node b to hold the agent's poll", func() (bool, error) {
		n, err := b.metric("tether_agent_polls_held")
		return n == 1, err
	})
	if n, err := a.metric("tether_agent_polls_held"); err != nil || n != 0 {
		t.Fatalf("node a holds %v polls (%v), want 0", n, err)
	}
	queued := time.Now()
	st := a.api.queueEcho(t, ep.ID, "across nodes", 0)
	testenv.Eventually(t, multiHold/4, "the agent to run the action queued on the other node", func() (bool, error) {
		return ag.runs(st.ID) == 1, nil
	})
	t.Logf("queued on node a, running on the agent polling node b after %v", time.Since(queued).Round(time.Millisecond))
	if got := a.api.waitActionFinished(t, st.ID); got.State != protocol.ActionDone {
		t.Errorf("the action ended %+v", got)
	}
}

// apiEnrollmentToken makes an enrollment token through the API (the
// `token create` command reads a data directory's SQLite store).
func apiEnrollmentToken(t *testing.T, c *apiClient) string {
	t.Helper()
	var tok protocol.EnrollmentToken
	if err := c.do(http.MethodPost, "/api/v1/enrollment-tokens", "", protocol.CreateTokenRequest{Group: "Default"}, &tok); err != nil || tok.Token == "" {
		t.Fatalf("POST /api/v1/enrollment-tokens: %+v, %v", tok, err)
	}
	return tok.Token
}
