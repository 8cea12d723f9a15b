package turnrelay

import (
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
)

func TestClassify(t *testing.T) {
	for _, c := range []struct{ addr, want string }{
		// IPv4
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"192.0.2.1", ""},
		{"172.32.0.1", ""},
		{"100.128.0.1", ""},
		{"0.0.0.0", refusedUnspecified},
		{"0.1.2.3", refusedUnspecified},
		{"127.0.0.1", refusedLoopback},
		{"127.255.255.254", refusedLoopback},
		{"169.254.1.1", refusedLinkLocal},
		{"169.254.169.254", refusedMetadata},
		{"100.100.100.200", refusedMetadata},
		{"224.0.0.1", refusedMulticast},
		{"239.255.255.250", refusedMulticast},
		{"255.255.255.255", refusedBroadcast},
		{"240.0.0.1", refusedReserved},
		{"10.0.0.1", refusedPrivate},
		{"10.255.255.255", refusedPrivate},
		{"172.16.0.1", refusedPrivate},
		{"172.31.255.255", refusedPrivate},
		{"192.168.1.1", refusedPrivate},
		{"100.64.0.1", refusedPrivate},
		{"100.127.255.255", refusedPrivate},
		// IPv6
		{"2001:4860:4860::8888", ""},
		{"::", refusedUnspecified},
		{"::1", refusedLoopback},
		{"::7f00:1", refusedReserved}, // IPv4-compatible 127.0.0.1
		{"fe80::1", refusedLinkLocal},
		{"fe80::1%eth0", refusedLinkLocal},
		{"febf::1", refusedLinkLocal},
		{"ff02::1", refusedMulticast},
		{"ff05::1:3", refusedMulticast},
		{"fd00:ec2::254", refusedMetadata},
		{"fc00::1", refusedPrivate},
		{"fd12:3456::1", refusedPrivate},
		{"fec0::1", refusedPrivate},
		{"64:ff9b:1::1", refusedPrivate},
		// IPv4-mapped IPv6 is classed as its IPv4 address
		{"::ffff:8.8.8.8", ""},
		{"::ffff:0.0.0.0", refusedUnspecified},
		{"::ffff:127.0.0.1", refusedLoopback},
		{"::ffff:169.254.1.1", refusedLinkLocal},
		{"::ffff:169.254.169.254", refusedMetadata},
		{"::ffff:100.100.100.200", refusedMetadata},
		{"::ffff:224.0.0.1", refusedMulticast},
		{"::ffff:255.255.255.255", refusedBroadcast},
		{"::ffff:10.1.2.3", refusedPrivate},
		{"::ffff:192.168.0.1", refusedPrivate},
		// NAT64 (64:ff9b::/96) likewise
		{"64:ff9b::808:808", ""},
		{"64:ff9b::7f00:1", refusedLoopback},
		{"64:ff9b::a9fe:a9fe", refusedMetadata},
		{"64:ff9b::a00:1", refusedPrivate},
	} {
		t.Run(c.addr, func(t *testing.T) {
			a := netip.MustParseAddr(c.addr)
			if got := classify(a); got != c.want {
				t.Fatalf("classify(%s) = %q, want %q", c.addr, got, c.want)
			}
			// Through the relay's own checks, as pion hands them over.
			wantPrivateOff, wantPrivateOn := c.want, c.want
			if c.want == refusedPrivate {
				wantPrivateOn = ""
			}
			off := &Server{cfg: Config{}}
			on := &Server{cfg: Config{AllowPrivate: true}}
			if got := off.refusal(a); got != wantPrivateOff {
				t.Errorf("AllowPrivate off: refusal %q, want %q", got, wantPrivateOff)
			}
			if got := on.refusal(a); got != wantPrivateOn {
				t.Errorf("AllowPrivate on: refusal %q, want %q", got, wantPrivateOn)
			}
			ua := net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 3478))
			if got := off.peerRefusal(ua); got != wantPrivateOff {
				t.Errorf("relay socket: refusal %q, want %q", got, wantPrivateOff)
			}
		})
	}
	if got := classify(netip.Addr{}); got != refusedInvalid {
		t.Fatalf("zero address: %q", got)
	}
}

// TestPeerFilter checks pion's permission hook and the relay socket's
// filter on a running relay whose relay address is 127.0.0.1.
func TestPeerFilter(t *testing.T) {
	logs := &logRecords{}
	s := startRelayConfig(t, Config{Listen: "127.0.0.1:0", Logger: slogFor(logs)})
	client := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 9), Port: 5000}
	for _, c := range []struct {
		ip   net.IP
		want bool
	}{
		{net.ParseIP("127.0.0.1"), true}, // the relay's own address (16-byte form)
		{net.IPv4(127, 0, 0, 1).To4(), true},
		{net.ParseIP("127.0.0.2"), false},
		{net.ParseIP("169.254.169.254"), false},
		{net.ParseIP("10.0.0.1"), false},
		{net.ParseIP("8.8.8.8"), true},
		{net.IP{1, 2, 3}, false},
	} {
		if got := s.permit(client, c.ip); got != c.want {
			t.Errorf("permit(%v) = %v, want %v", c.ip, got, c.want)
		}
	}
	if n := logs.count("TURN peer refused", map[string]string{"reason": refusedMetadata, "what": "permission"}); n != 1 {
		t.Errorf("metadata refusals logged: %d\n%s", n, logs)
	}

	// On the relay's own address only live relay ports are reachable.
	user, pass := s.Credentials("sess1", "agent")
	relay, err := allocateRelay(t, s, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	port := relay.LocalAddr().(*net.UDPAddr).Port
	relayAddr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	if r := s.peerRefusal(relayAddr); r != "" {
		t.Fatalf("a live relay port is refused: %q", r)
	}
	if r := s.peerRefusal(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: s.Port()}); r != refusedNotRelay {
		t.Fatalf("the relay's own TURN port: %q, want %q", r, refusedNotRelay)
	}
	relay.Close() // the client's Refresh with lifetime 0 ends the allocation
	testenv.Eventually(t, 5*time.Second, "the closed allocation's port to leave the live set", testenv.Until(func() bool {
		return s.peerRefusal(relayAddr) == refusedNotRelay
	}))
}

func slogFor(l *logRecords) *slog.Logger { return slog.New(l) }

// TestAuthorizeCache checks that Authorize is asked once per username and
// TTL, with the username's session and subject, and that the cache stays
// bounded.
func TestAuthorizeCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	var calls atomic.Int64
	var allow atomic.Bool
	allow.Store(true)
	var lastSession, lastSubject atomic.Value
	s := startRelayConfig(t, Config{Listen: "127.0.0.1:0", Now: clock, AuthorizeCacheTTL: 2 * time.Second,
		Authorize: func(sessionID, subject string) bool {
			calls.Add(1)
			lastSession.Store(sessionID)
			lastSubject.Store(subject)
			return allow.Load()
		}})
	user, _ := s.Credentials("sess1", "viewer:with:colons")
	for range 100 {
		if r, _ := s.check(user, clock()); r != "" {
			t.Fatalf("refused: %q", r)
		}
	}
	if calls.Load() != 1 || lastSession.Load() != "sess1" || lastSubject.Load() != "viewer:with:colons" {
		t.Fatalf("Authorize called %d times, last with (%v, %v)", calls.Load(), lastSession.Load(), lastSubject.Load())
	}
	allow.Store(false)
	advance(time.Second)
	if r, _ := s.check(user, clock()); r != "" {
		t.Fatalf("within the TTL the cached answer holds: %q", r)
	}
	advance(1500 * time.Millisecond)
	if r, _ := s.check(user, clock()); r != "unauthorized" {
		t.Fatalf("past the TTL: %q, want unauthorized", r)
	}
	if calls.Load() != 2 {
		t.Fatalf("Authorize called %d times, want 2", calls.Load())
	}

	// Bounded: many usernames never hold more than authCacheMax entries,
	// and expired ones are dropped first.
	allow.Store(true)
	for i := range authCacheMax + 500 {
		u, _ := s.Credentials("s"+strconv.Itoa(i), "agent")
		s.check(u, clock())
	}
	s.authMu.Lock()
	n := len(s.authCache)
	s.authMu.Unlock()
	if n > authCacheMax {
		t.Fatalf("cache holds %d entries, cap %d", n, authCacheMax)
	}
	advance(3 * time.Second)
	for i := range authCacheMax {
		u, _ := s.Credentials("t"+strconv.Itoa(i), "agent")
		s.check(u, clock())
	}
	s.authMu.Lock()
	n = len(s.authCache)
	s.authMu.Unlock()
	if n != authCacheMax {
		t.Fatalf("after expiry the cache holds %d entries, want exactly the %d fresh ones", n, authCacheMax)
	}
}

// TestRevokedAllocationEnds checks that an allocation that is already
// relaying stops once Authorize turns its session down, while another
// session's allocation on the same relay carries on.
func TestRevokedAllocationEnds(t *testing.T) {
	var ended sync.Map
	s := startRelayConfig(t, Config{Listen: "127.0.0.1:0", AuthorizeCacheTTL: 20 * time.Millisecond,
		Authorize: func(sessionID, _ string) bool { _, gone := ended.Load(sessionID); return !gone }})
	ua, pa := s.Credentials("sessA", "agent")
	ub, pb := s.Credentials("sessB", "agent")
	relayA, err := allocateRelay(t, s, ua, pa)
	if err != nil {
		t.Fatal(err)
	}
	relayB, err := allocateRelay(t, s, ub, pb)
	if err != nil {
		t.Fatal(err)
	}
	portA := relayA.LocalAddr().(*net.UDPAddr).Port
	live := func(port int) bool { s.mu.Lock(); defer s.mu.Unlock(); return s.relays[port] != nil }

	// B lets A in; A's datagrams reach B through the relay.
	if _, err := relayB.WriteTo([]byte("hello"), relayA.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	received := func(within time.Duration) bool {
		buf := make([]byte, 64)
		relayB.SetReadDeadline(time.Now().Add(within))
		n, from, err := relayB.ReadFrom(buf)
		return err == nil && string(buf[:n]) == "from A" && from.String() == relayA.LocalAddr().String()
	}
	got := false
	testenv.Eventually(t, 5*time.Second, "A's datagram at B", testenv.Until(func() bool {
		if _, err := relayA.WriteTo([]byte("from A"), relayB.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		got = received(50 * time.Millisecond)
		return got
	}))

	ended.Store("sessA", true)
	testenv.Eventually(t, 5*time.Second, "A's allocation to end", testenv.Until(func() bool {
		relayA.WriteTo([]byte("from A"), relayB.LocalAddr())
		return !live(portA)
	}))
	for received(100 * time.Millisecond) { // drain what A sent before it ended
	}
	relayA.WriteTo([]byte("from A"), relayB.LocalAddr())
	if received(200 * time.Millisecond) {
		t.Fatal("the ended session's allocation still relays")
	}
	if !live(relayB.LocalAddr().(*net.UDPAddr).Port) {
		t.Fatal("the other session's allocation ended too")
	}
	if _, err := allocateRelay(t, s, ua, pa); err == nil {
		t.Fatal("the ended session's credential allocates again")
	}
}
