package testenv

import (
	"net"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/cluster"
)

// ClusterNodes joins two server nodes' buses: a runs the embedded NATS
// server on a free loopback port, b connects to it. Both are connected
// when it returns and closed when the test ends.
func ClusterNodes(t testing.TB) (a, b *cluster.Bus) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	open := func(url, node string) *cluster.Bus {
		bus, err := cluster.Open(cluster.Config{URL: url, Listen: addr, Node: node})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(bus.Close)
		Eventually(t, 10*time.Second, "node "+node+" on NATS", func() (bool, error) { return bus.Connected(), nil })
		return bus
	}
	a = open(cluster.Embedded, "a")
	return a, open("nats://"+addr, "b")
}
