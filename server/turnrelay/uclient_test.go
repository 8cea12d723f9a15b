package turnrelay

// These tests drive coturn's real TURN client, turnutils_uclient, and its
// UDP echo peer, turnutils_peer, against the relay (Debian package coturn,
// installed by scripts/deps.sh test).

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
)

const uclientTimeout = 60 * time.Second

// needTool fails (never skips) when a coturn program is missing.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install coturn (scripts/deps.sh test)", name)
	}
	return p
}

// uclient is one run of turnutils_uclient against s with a credential.
type uclient struct {
	cmd    *exec.Cmd
	ctx    context.Context
	out    *testenv.Lines
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func startUclient(t *testing.T, port int, user, pass string, args ...string) *uclient {
	t.Helper()
	bin := needTool(t, "turnutils_uclient")
	args = append(append([]string(nil), args...), "-u", user, "-w", pass, "-p", strconv.Itoa(port), "127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), uclientTimeout)
	u := &uclient{cmd: exec.CommandContext(ctx, bin, args...), ctx: ctx, out: &testenv.Lines{}, cancel: cancel, done: make(chan struct{})}
	u.cmd.Stdout, u.cmd.Stderr = u.out, u.out
	u.cmd.WaitDelay = 5 * time.Second
	u.cmd.SysProcAttr = childProcAttr()
	if err := u.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { u.err = u.cmd.Wait(); close(u.done) }()
	t.Cleanup(func() { u.stop() })
	t.Logf("turnutils_uclient %s", strings.Join(args, " "))
	return u
}

// wait waits for the run to end; it reports its output and exit error.
func (u *uclient) wait(t *testing.T) (string, error) {
	t.Helper()
	<-u.done
	if errors.Is(u.ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("turnutils_uclient did not finish within %v:\n%s", uclientTimeout, u.out)
	}
	return u.out.String(), u.err
}

func (u *uclient) stop() {
	u.cancel()
	<-u.done
}

func runUclient(t *testing.T, port int, user, pass string, args ...string) (string, error) {
	t.Helper()
	return startUclient(t, port, user, pass, args...).wait(t)
}

var totalsRE = regexp.MustCompile(`start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)`)

// totals parses the final "tot_send_msgs=N, tot_recv_msgs=M" of a run.
func totals(t *testing.T, out string) (sent, received int) {
	t.Helper()
	m := totalsRE.FindAllStringSubmatch(out, -1)
	if m == nil {
		t.Fatalf("no message totals in turnutils_uclient output:\n%s", out)
	}
	last := m[len(m)-1]
	sent, _ = strconv.Atoi(last[1])
	received, _ = strconv.Atoi(last[2])
	return sent, received
}

// startEchoPeer runs turnutils_peer on a free UDP port of 127.0.0.1 and
// returns the port once it echoes.
func startEchoPeer(t *testing.T) int {
	t.Helper()
	bin := needTool(t, "turnutils_peer")
	probe, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	var out *testenv.Lines
	// A free port: take one, let it go, hand it to the peer; try again if
	// someone else took it meanwhile.
	for range 5 {
		l, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.LocalAddr().(*net.UDPAddr).Port
		l.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, bin, "-L", "127.0.0.1", "-p", strconv.Itoa(port))
		out = &testenv.Lines{}
		cmd.Stdout, cmd.Stderr = out, out
		cmd.WaitDelay = 5 * time.Second
		cmd.SysProcAttr = childProcAttr()
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() { cancel(); <-exited }
		if echoes(probe, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}, exited, 10*time.Second) {
			t.Cleanup(stop)
			return port
		}
		stop()
	}
	t.Fatalf("turnutils_peer does not echo:\n%s", out)
	return 0
}

// echoes probes peer until it echoes (true), or it exits or the time is up.
func echoes(probe net.PacketConn, peer *net.UDPAddr, exited chan struct{}, within time.Duration) bool {
	deadline := time.Now().Add(within)
	buf := make([]byte, 16)
	for !isClosed(exited) && time.Now().Before(deadline) {
		probe.WriteTo([]byte("probe"), peer)
		probe.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if n, from, err := probe.ReadFrom(buf); err == nil && string(buf[:n]) == "probe" && from.String() == peer.String() {
			return true
		}
	}
	return false
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestUclientRelayedPeers: two allocations of one session talk to each
// other through the relay (turnutils_uclient -y), over UDP and TCP to the
// relay, with RelayIP 127.0.0.1: the relay's own address on its relay
// ports is the one exception to the loopback refusal.
func TestUclientRelayedPeers(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			logs := &logRecords{}
			s := startRelayConfig(t, Config{Listen: "127.0.0.1:0", RelayIP: net.IPv4(127, 0, 0, 1), AllowPrivate: true, Logger: slogFor(logs)})
			user, pass := s.Credentials("sess1", "agent")
			args := []string{"-y", "-c", "-n", "10"}
			if transport == "tcp" {
				args = append(args, "-t")
			}
			out, err := runUclient(t, s.Port(), user, pass, args...)
			if err != nil {
				t.Fatalf("turnutils_uclient: %v\n%s", err, out)
			}
			sent, received := totals(t, out)
			if sent != 20 || received != sent {
				t.Fatalf("sent %d, received %d; want 20 both ways:\n%s", sent, received, out)
			}
			if n := logs.count("TURN peer refused", nil); n != 0 {
				t.Fatalf("%d refusals between the session's relayed peers:\n%s", n, logs)
			}
		})
	}
}

// TestUclientLoopbackPeerRefused: with RelayIP 127.0.0.1 a permission for
// 127.0.0.1 is granted (relayed peers need it), but an echo server on
// 127.0.0.1 that is no relay port never gets a datagram; the same run
// with the filter off is echoed, so the refusal is the filter's doing.
func TestUclientLoopbackPeerRefused(t *testing.T) {
	t.Parallel()
	peerPort := startEchoPeer(t)
	peer := "127.0.0.1:" + strconv.Itoa(peerPort)
	const n = 5
	for _, transport := range []string{"udp", "tcp"} {
		args := []string{"-c", "-n", strconv.Itoa(n), "-e", "127.0.0.1", "-r", strconv.Itoa(peerPort)}
		if transport == "tcp" {
			args = append(args, "-t")
		}
		t.Run(transport+"/filter off: echoed", func(t *testing.T) {
			t.Parallel()
			s := startRelayConfig(t, Config{Listen: "127.0.0.1:0", RelayIP: net.IPv4(127, 0, 0, 1), AllowPrivate: true, allowAllPeers: true})
			user, pass := s.Credentials("sess1", "agent")
			out, err := runUclient(t, s.Port(), user, pass, args...)
			if err != nil {
				t.Fatalf("turnutils_uclient: %v\n%s", err, out)
			}
			if sent, received := totals(t, out); sent != n || received != n {
				t.Fatalf("sent %d, echoed %d; want %d both:\n%s", sent, received, n, out)
			}
		})
		t.Run(transport+"/refused", func(t *testing.T) {
			t.Parallel()
			logs := &logRecords{}
			s := startRelayConfig(t, Config{Listen: "127.0.0.1:0", RelayIP: net.IPv4(127, 0, 0, 1), AllowPrivate: true, Logger: slogFor(logs)})
			user, pass := s.Credentials("sess1", "agent")
			u := startUclient(t, s.Port(), user, pass, args...)
			dropped := map[string]string{"reason": refusedNotRelay, "what": "send", "peer": peer}
			testenv.Eventually(t, 20*time.Second, "the relay to drop every datagram to the echo peer", testenv.Until(func() bool {
				if isClosed(u.done) {
					t.Fatalf("turnutils_uclient ended first (%v):\n%s\nrelay log:\n%s", u.err, u.out, logs)
				}
				return logs.count("TURN peer refused", dropped) >= n
			}))
			u.stop() // it would wait ~10 s more for echoes that cannot come
			if got := logs.count("TURN peer refused", nil); got != logs.count("TURN peer refused", dropped) {
				t.Fatalf("unexpected refusals:\n%s", logs)
			}
			if strings.Contains(u.out.String(), "tot_recv_msgs="+strconv.Itoa(n)) {
				t.Fatalf("echoes came back:\n%s", u.out)
			}
		})
	}
}

// TestUclientMetadataRefused: CreatePermission (-s) and ChannelBind (the
// default) for the cloud metadata addresses are refused, even with
// AllowPrivate (100.100.100.200 is in 100.64/10).
func TestUclientMetadataRefused(t *testing.T) {
	t.Parallel()
	for _, peer := range []string{"169.254.169.254", "100.100.100.200"} {
		for _, transport := range []string{"udp", "tcp"} {
			for _, method := range []string{"permission", "channel"} {
				t.Run(strings.Join([]string{peer, transport, method}, "/"), func(t *testing.T) {
					t.Parallel()
					logs := &logRecords{}
					s := startRelayConfig(t, Config{Listen: "127.0.0.1:0", RelayIP: net.IPv4(127, 0, 0, 1), AllowPrivate: true, Logger: slogFor(logs)})
					user, pass := s.Credentials("sess1", "agent")
					args := []string{"-c", "-n", "1", "-e", peer, "-r", "80"}
					want := "channel bind: error"
					if method == "permission" {
						args = append(args, "-s")
						want = "create permission error"
					}
					if transport == "tcp" {
						args = append(args, "-t")
					}
					out, err := runUclient(t, s.Port(), user, pass, args...)
					if err == nil || !strings.Contains(out, want) {
						t.Fatalf("turnutils_uclient: %v; want it to fail with %q:\n%s", err, want, out)
					}
					// RFC 5766: a refused permission is 403 Forbidden (pion
					// answers a refused channel bind 401).
					if method == "permission" && !strings.Contains(out, "403") {
						t.Errorf("the refusal is not a 403:\n%s", out)
					}
					if logs.count("TURN peer refused", map[string]string{"reason": refusedMetadata, "what": "permission"}) == 0 {
						t.Fatalf("no metadata refusal logged:\n%s", logs)
					}
				})
			}
		}
	}
}

// TestUclientEndedSessionRefused: a credential that allocates while its
// session is live is refused once Authorize says the session ended (after
// the cache TTL), while another session's credential still works.
func TestUclientEndedSessionRefused(t *testing.T) {
	t.Parallel()
	var ended atomic.Bool
	var mu sync.Mutex
	var asked [][2]string
	logs := &logRecords{}
	s := startRelayConfig(t, Config{Listen: "127.0.0.1:0", RelayIP: net.IPv4(127, 0, 0, 1), AllowPrivate: true,
		Logger: slogFor(logs), AuthorizeCacheTTL: 50 * time.Millisecond,
		Authorize: func(sessionID, subject string) bool {
			mu.Lock()
			asked = append(asked, [2]string{sessionID, subject})
			mu.Unlock()
			return sessionID != "sess-ended" || !ended.Load()
		}})
	user, pass := s.Credentials("sess-ended", "viewer-1")
	other, otherPass := s.Credentials("sess-live", "agent")
	// -n 0: allocate (and set a permission), send nothing; -v: say what
	// was allocated. 192.0.2.1 (TEST-NET-1) passes the peer filter.
	args := []string{"-v", "-c", "-n", "0", "-e", "192.0.2.1"}
	allocates := func(user, pass string) (bool, string) {
		out, err := runUclient(t, s.Port(), user, pass, args...)
		ok := err == nil && strings.Contains(out, "Received relay addr")
		// A refused allocation: uclient retries the 401s, then gives up.
		if !ok && !strings.Contains(out, "Cannot complete Allocation") {
			t.Fatalf("turnutils_uclient failed other than by a refused allocation: %v\n%s", err, out)
		}
		return ok, out
	}
	if ok, out := allocates(user, pass); !ok {
		t.Fatalf("the live session's credential does not allocate:\n%s", out)
	}
	mu.Lock()
	first := append([][2]string(nil), asked...)
	mu.Unlock()
	if len(first) == 0 || first[0] != [2]string{"sess-ended", "viewer-1"} {
		t.Fatalf("Authorize asked about %v, want (sess-ended, viewer-1) first", first)
	}

	ended.Store(true)
	// Past the cache TTL the relay's answer for this username turns.
	testenv.Eventually(t, 5*time.Second, "the cached answer to expire", testenv.Until(func() bool {
		r, _ := s.check(user, time.Now())
		return r == "unauthorized"
	}))
	if ok, out := allocates(user, pass); ok {
		t.Fatalf("the ended session's credential still allocates:\n%s", out)
	}
	if n := logs.count("TURN credential refused", map[string]string{"reason": "unauthorized"}); n == 0 {
		t.Fatalf("no unauthorized refusal logged:\n%s", logs)
	}
	if ok, out := allocates(other, otherPass); !ok {
		t.Fatalf("another session's credential is refused too:\n%s", out)
	}
}
