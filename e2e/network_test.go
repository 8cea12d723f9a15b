//go:build linux

package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tetherdesk/tether/internal/testenv"
)

// socket is one socket a process listens or waits for packets on.
type socket struct {
	proto string // TCP or UDP
	port  int
}

func (s socket) String() string { return fmt.Sprintf("%s %d", s.proto, s.port) }

// listeningSockets lists the TCP sockets pid listens on and the UDP
// sockets it has bound, from /proc (no tools needed).
func listeningSockets(t testing.TB, pid int) []socket {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var out []socket
	for _, f := range []struct{ file, proto string }{{"tcp", "TCP"}, {"tcp6", "TCP"}, {"udp", "UDP"}, {"udp6", "UDP"}} {
		fh, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, f.file))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || !inodes[fields[9]] {
				continue
			}
			// TCP: only listening ones (state 0A); UDP: every bound one.
			if f.proto == "TCP" && fields[3] != "0A" {
				continue
			}
			_, hexPort, _ := strings.Cut(fields[1], ":")
			port, err := strconv.ParseInt(hexPort, 16, 32)
			if err != nil {
				t.Fatalf("%s: %q", f.file, fields[1])
			}
			s := socket{f.proto, int(port)}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		fh.Close()
	}
	return out
}

// networkTable reads the README's network table: config key → protocols.
func networkTable(t testing.TB) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- network:begin -->")
	table, _, ok2 := strings.Cut(rest, "<!-- network:end -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no network table (<!-- network:begin --> … <!-- network:end -->)")
	}
	rows := map[string][]string{}
	row := regexp.MustCompile("^\\| `([a-z_]+)` \\| (TCP|UDP) \\|")
	for _, l := range strings.Split(table, "\n") {
		if m := row.FindStringSubmatch(l); m != nil {
			rows[m[1]] = append(rows[m[1]], m[2])
		}
	}
	return rows
}

// TestNetworkTable starts the server with every listener on and checks
// that each socket it opens is one the README's network table names, by
// its config key and protocol, and nothing else.
func TestNetworkTable(t *testing.T) {
	args := []string{"--metrics-listen", "127.0.0.1:0"}
	// The embedded NATS server needs a PostgreSQL store (nodes share one).
	withNATS := os.Getenv(testenv.PostgresEnv) != ""
	if withNATS {
		args = append(args, "--db", testenv.FreshPostgres(t, testenv.PostgresDSN(t)), "--nats", "embedded", "--nats-listen", "127.0.0.1:0")
	}
	s := startServer(t, args...)
	logs := s.proc.stderr
	port := func(what string, re *regexp.Regexp) int {
		t.Helper()
		var p int
		testenv.Eventually(t, startTimeout, what+" in the server's log", func() (bool, error) {
			m := re.FindStringSubmatch(logs.String())
			if m == nil {
				return false, fmt.Errorf("not logged")
			}
			p, _ = strconv.Atoi(m[1])
			return true, nil
		})
		return p
	}
	_, mainPort, _ := strings.Cut(s.addr, ":")
	listen, _ := strconv.Atoi(mainPort)
	turn := port("the TURN port", regexp.MustCompile(`TURN relay listening.* port=(\d+)`))
	metrics := port("the metrics port", regexp.MustCompile(`metrics listening.* addr=\S+:(\d+)`))
	key := map[socket]string{
		{"TCP", listen}: "listen", {"UDP", turn}: "turn_listen", {"TCP", turn}: "turn_listen", {"TCP", metrics}: "metrics_listen",
	}
	if withNATS {
		key[socket{"TCP", port("the embedded NATS port", regexp.MustCompile(`embedded NATS server listening.* url=nats://\S+:(\d+)`))}] = "nats_listen"
	} else {
		t.Log("no PostgreSQL (" + testenv.PostgresEnv + "): the embedded NATS listener is not checked")
	}
	table := networkTable(t)
	var socks []socket
	// The sockets come up as the server starts its parts: wait for all
	// the log named, then list them once more.
	testenv.Eventually(t, startTimeout, "the server's sockets", func() (bool, error) {
		socks = listeningSockets(t, s.proc.Cmd.Process.Pid)
		return len(socks) >= len(key), fmt.Errorf("sockets %v", socks)
	})
	for _, sk := range socks {
		k, ok := key[sk]
		if !ok {
			t.Errorf("the server opens %v, which no config key of the network table accounts for", sk)
			continue
		}
		if !slices.Contains(table[k], sk.proto) {
			t.Errorf("the server listens on %v for %s, but the README's network table has no %s row for `%s`", sk, k, sk.proto, k)
		}
	}
	for sk, k := range key {
		if !slices.Contains(socks, sk) {
			t.Errorf("%s (%v) was not found listening", k, sk)
		}
	}
}
