package turnrelay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/turn/v5"
)

// Reasons a peer address is refused; they label tether_turn_peer_refused_total.
const (
	refusedUnspecified = "unspecified"
	refusedLoopback    = "loopback"
	refusedLinkLocal   = "link_local"
	refusedMulticast   = "multicast"
	refusedBroadcast   = "broadcast"
	refusedReserved    = "reserved"
	refusedMetadata    = "metadata"
	refusedPrivate     = "private"   // unless Config.AllowPrivate
	refusedNotRelay    = "not_relay" // an address of this host, on a port that is no live allocation's
	refusedInvalid     = "invalid"   // not an IP address
)

// metadataAddrs are the cloud instance-metadata services (AWS, Azure, GCP,
// Oracle: 169.254.169.254; AWS over IPv6: fd00:ec2::254; Alibaba:
// 100.100.100.200). They are refused even where their range is allowed.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true,
	netip.MustParseAddr("fd00:ec2::254"):   true,
	netip.MustParseAddr("100.100.100.200"): true,
}

type classedPrefix struct {
	p      netip.Prefix
	reason string
}

// refusedPrefixes are never relayed to, in this order (the broadcast
// address before the reserved block that holds it).
var refusedPrefixes = []classedPrefix{
	{netip.MustParsePrefix("0.0.0.0/8"), refusedUnspecified}, // "this network"; Linux delivers 0.0.0.0 locally
	{netip.MustParsePrefix("127.0.0.0/8"), refusedLoopback},
	{netip.MustParsePrefix("169.254.0.0/16"), refusedLinkLocal},
	{netip.MustParsePrefix("224.0.0.0/4"), refusedMulticast},
	{netip.MustParsePrefix("255.255.255.255/32"), refusedBroadcast},
	{netip.MustParsePrefix("240.0.0.0/4"), refusedReserved},
	{netip.MustParsePrefix("::/128"), refusedUnspecified},
	{netip.MustParsePrefix("::1/128"), refusedLoopback},
	{netip.MustParsePrefix("::/96"), refusedReserved}, // IPv4-compatible (deprecated)
	{netip.MustParsePrefix("fe80::/10"), refusedLinkLocal},
	{netip.MustParsePrefix("ff00::/8"), refusedMulticast},
}

// privatePrefixes are relayed to only with Config.AllowPrivate.
var privatePrefixes = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("fc00::/7"),       // unique local
	netip.MustParsePrefix("fec0::/10"),      // site-local (deprecated)
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
}

// nat64 is the well-known NAT64 prefix: its addresses stand for the IPv4
// address in their last 32 bits, and are classed as that address.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// classify names the class of a peer address that is refused always or
// without AllowPrivate ("" for a public address). IPv4-mapped IPv6
// addresses are classed as their IPv4 address.
func classify(a netip.Addr) string {
	if !a.IsValid() {
		return refusedInvalid
	}
	a = a.Unmap().WithZone("")
	if nat64.Contains(a) {
		b := a.As16()
		return classify(netip.AddrFrom4([4]byte(b[12:])))
	}
	if metadataAddrs[a] {
		return refusedMetadata
	}
	for _, c := range refusedPrefixes {
		if c.p.Contains(a) {
			return c.reason
		}
	}
	for _, p := range privatePrefixes {
		if p.Contains(a) {
			return refusedPrivate
		}
	}
	return ""
}

// refusal is why the relay must not reach ip ("" when it may), apart
// from the addresses of this host, which relayConn limits to relay ports.
func (s *Server) refusal(ip netip.Addr) string {
	if s.cfg.allowAllPeers {
		return ""
	}
	r := classify(ip)
	if r == refusedPrivate && s.cfg.AllowPrivate {
		return ""
	}
	return r
}

// selfAddrs are the addresses of this host a relay socket bound to bind
// listens on, and relayIP.
func selfAddrs(relayIP netip.Addr, bind string) map[netip.Addr]bool {
	self := map[netip.Addr]bool{relayIP: true}
	if b, err := netip.ParseAddr(bind); err == nil && !b.IsUnspecified() {
		self[b.Unmap()] = true
		return self
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return self
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				self[ip.Unmap()] = true
			}
		}
	}
	return self
}

// permit is pion's PermissionHandler (CreatePermission and ChannelBind).
// It sees no port: the relay's own address passes here, and relayConn
// limits it to the relay ports.
func (s *Server) permit(client net.Addr, peer net.IP) bool {
	ip, ok := netip.AddrFromSlice(peer)
	ip = ip.Unmap()
	if ok && ip == s.relayIP {
		return true
	}
	r := refusedInvalid
	if ok {
		r = s.refusal(ip)
	}
	if r == "" {
		return true
	}
	s.refused(r, "permission", client, ip.String())
	return false
}

// peerRefusal is why the relay socket must not exchange datagrams with
// addr: the addresses of this host on any port that is not a live
// allocation's, and what refusal refuses.
func (s *Server) peerRefusal(addr net.Addr) string {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return refusedInvalid
	}
	ap := ua.AddrPort()
	ip := ap.Addr().Unmap().WithZone("")
	if s.cfg.allowAllPeers {
		return ""
	}
	if s.self[ip] {
		s.mu.Lock()
		_, live := s.relays[int(ap.Port())]
		s.mu.Unlock()
		if live {
			return ""
		}
		return refusedNotRelay
	}
	return s.refusal(ip)
}

func (s *Server) refused(reason, what string, client net.Addr, peer string) {
	peerRefused.WithLabelValues(reason).Inc()
	c := ""
	if client != nil {
		c = client.String()
	}
	s.log.Debug("TURN peer refused", "reason", reason, "what", what, "client", c, "peer", peer)
}

// relayGenerator is pion's static relay address generator with every relay
// socket wrapped in a relayConn.
type relayGenerator struct {
	s      *Server
	static *turn.RelayAddressGeneratorStatic
}

func (g *relayGenerator) Validate() error { return g.static.Validate() }

func (g *relayGenerator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	conn, addr, err := g.static.AllocatePacketConn(conf)
	if err != nil {
		return nil, nil, err
	}
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		conn.Close()
		return nil, nil, fmt.Errorf("turn relay: relay address %v is not UDP", addr)
	}
	c := &relayConn{PacketConn: conn, s: g.s, port: ua.Port}
	g.s.mu.Lock()
	g.s.relays[c.port] = c
	g.s.mu.Unlock()
	return c, addr, nil
}

// errNoTCPRelay refuses TCP relaying (RFC 6062): browsers and the agent
// relay over UDP allocations only (the client may still reach the relay
// over TCP), and a TCP relay would dial peers outside the per-datagram
// filter of relayConn.
var errNoTCPRelay = errors.New("turn relay: TCP allocations are not offered")

func (g *relayGenerator) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errNoTCPRelay
}

func (g *relayGenerator) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, errNoTCPRelay
}

// allocationCreated tells the relay socket of a new allocation whose
// credential it serves.
func (s *Server) allocationCreated(_, _ net.Addr, _, username, _ string, relayAddr net.Addr, _ int) {
	ua, ok := relayAddr.(*net.UDPAddr)
	if !ok {
		return
	}
	s.mu.Lock()
	c := s.relays[ua.Port]
	s.mu.Unlock()
	if c != nil {
		c.username.Store(&username)
	}
}

// errRevoked ends an allocation whose credential no longer holds: pion
// deletes an allocation whose relay socket fails to read.
var errRevoked = errors.New("turn relay: credential expired or revoked")

// relayConn is an allocation's relay socket. It drops datagrams to and
// from refused peers and from this host's addresses on ports that are no
// live allocation's, and closes itself (ending the allocation) once the
// allocation's credential expires or Authorize refuses it.
type relayConn struct {
	net.PacketConn
	s    *Server
	port int
	// username is the allocation's credential, set once the allocation
	// exists (nil before: its Allocate request was just authorized).
	username  atomic.Pointer[string]
	okUntil   atomic.Int64 // Unix nanoseconds until which username holds
	closeOnce sync.Once
	closeErr  error
}

// live reports whether the allocation's credential still holds, asking
// Server.check at most once per AuthorizeCacheTTL.
func (c *relayConn) live() bool {
	u := c.username.Load()
	if u == nil {
		return true
	}
	now := c.s.cfg.Now()
	if now.UnixNano() < c.okUntil.Load() {
		return true
	}
	reason, until := c.s.check(*u, now)
	if reason != "" {
		authRefused.WithLabelValues(reason).Inc()
		c.s.log.Debug("TURN allocation ended", "reason", reason, "relay_port", c.port)
		return false
	}
	c.okUntil.Store(until.UnixNano())
	return true
}

func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if !c.live() {
		c.Close()
		return 0, errRevoked
	}
	if r := c.s.peerRefusal(addr); r != "" {
		c.s.refused(r, "send", nil, addr.String())
		return len(p), nil // dropped: the client learns nothing of the host
	}
	return c.PacketConn.WriteTo(p, addr)
}

func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		if !c.live() {
			c.Close()
			return 0, nil, errRevoked
		}
		if r := c.s.peerRefusal(addr); r != "" {
			c.s.refused(r, "receive", nil, addr.String())
			continue
		}
		return n, addr, nil
	}
}

// Close closes the socket and takes its port off the live relay ports.
func (c *relayConn) Close() error {
	c.closeOnce.Do(func() {
		c.s.mu.Lock()
		if c.s.relays[c.port] == c {
			delete(c.s.relays, c.port)
		}
		c.s.mu.Unlock()
		c.closeErr = c.PacketConn.Close()
	})
	return c.closeErr
}
