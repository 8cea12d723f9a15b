package cluster_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/server/cluster"
	"github.com/tetherdesk/tether/server/hub"
)

// startNATS starts a NATS server on addr ("127.0.0.1:0" picks a port).
func startNATS(t *testing.T, host string, port int) *natsserver.Server {
	t.Helper()
	srv, err := natsserver.NewServer(&natsserver.Options{Host: host, Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS did not start")
	}
	return srv
}

func openBus(t *testing.T, url, node string) *cluster.Bus {
	t.Helper()
	b, err := cluster.Open(cluster.Config{URL: url, Node: node})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	waitFor(t, node+" connected", b.Connected)
	return b
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, what, func() (bool, error) { return cond(), nil })
}

// woken reports whether ch was closed within d.
func woken(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	default:
	}
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

func clustered(t *testing.T, b *cluster.Bus) *hub.Clustered {
	t.Helper()
	h, err := hub.NewClustered(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// TestClusteredHub: an action queued on one node wakes the poll another
// node holds, and only that agent's; the node that queued it wakes its own
// at once, without NATS.
func TestClusteredHub(t *testing.T) {
	busA, busB := testenv.ClusterNodes(t)
	hubA, hubB := clustered(t, busA), clustered(t, busB)

	onB, cancelB := hubB.Subscribe("agent-1")
	defer cancelB()
	other, cancelOther := hubB.Subscribe("agent-2")
	defer cancelOther()
	onA, cancelA := hubA.Subscribe("agent-1")
	defer cancelA()
	hubA.Notify("agent-1")
	if !woken(onA, 0) {
		t.Error("the queuing node's own poll was not woken at once")
	}
	if !woken(onB, 5*time.Second) {
		t.Fatal("the poll held on the other node was not woken")
	}
	if woken(other, 200*time.Millisecond) {
		t.Error("another agent's poll was woken")
	}
	if busA.Node() != "a" || !busA.Connected() || busB.URL() == "" {
		t.Errorf("node a: %q connected %v; node b's URL %q", busA.Node(), busA.Connected(), busB.URL())
	}
}

// TestNATSRestart: with NATS down, each node serves on and a wake-up from
// the other is lost; when NATS is back, the nodes subscribe again by
// themselves, every poll held meanwhile is woken (it asks again, and finds
// what was queued), and wake-ups cross again.
func TestNATSRestart(t *testing.T) {
	srv := startNATS(t, "127.0.0.1", natsserver.RANDOM_PORT)
	addr := srv.Addr().(*net.TCPAddr)
	url := fmt.Sprintf("nats://%s", addr)
	busA, busB := openBus(t, url, "a"), openBus(t, url, "b")
	hubA, hubB := clustered(t, busA), clustered(t, busB)

	srv.Shutdown()
	srv.WaitForShutdown()
	waitFor(t, "both nodes to see NATS gone", func() bool { return !busA.Connected() && !busB.Connected() })
	held, cancel := hubB.Subscribe("agent-1")
	defer cancel()
	hubA.Notify("agent-1") // lost: NATS is down
	if woken(held, 300*time.Millisecond) {
		t.Fatal("woken through a NATS that is down")
	}

	srv = startNATS(t, addr.IP.String(), addr.Port)
	t.Cleanup(srv.Shutdown)
	if !woken(held, 10*time.Second) {
		t.Fatal("the poll held while NATS was down was not woken when it came back")
	}
	waitFor(t, "both nodes reconnected", func() bool { return busA.Connected() && busB.Connected() })
	if busB.Reconnects() < 1 {
		t.Errorf("node b counts %d reconnects", busB.Reconnects())
	}
	again, cancel2 := hubB.Subscribe("agent-1")
	defer cancel2()
	// The subscription comes back asynchronously after the reconnect.
	deadline := time.Now().Add(10 * time.Second)
	for !woken(again, 100*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("wake-ups did not cross nodes after NATS came back")
		}
		hubA.Notify("agent-1")
	}
}
