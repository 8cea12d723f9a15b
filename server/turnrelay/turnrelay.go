// Package turnrelay is the server's embedded TURN relay (pion/turn) on UDP
// and TCP. It relays only for the sessions it serves:
//
//   - Credentials are short-lived, TURN REST style, one per session and
//     subject: the username is "expiry:sessionID:subject" (expiry in Unix
//     seconds, subject a viewer id or "agent") and the password is
//     base64(HMAC-SHA1(secret, username)). Every authenticated request
//     (Allocate, Refresh, CreatePermission, ChannelBind) and the traffic of
//     every allocation is also checked against Config.Authorize, whose
//     answer is reused for at most Config.AuthorizeCacheTTL: a credential
//     stops working soon after its session ends (or its user is disabled),
//     and at the latest when it expires.
//   - Peers are filtered (see peer.go): never loopback, link-local,
//     multicast, unspecified, broadcast, reserved or cloud metadata
//     addresses; private ranges only with Config.AllowPrivate. The one
//     exception is the relay's own address (Config.RelayIP), and there only
//     the ports of live allocations: that is how two relayed peers of a
//     session reach each other.
package turnrelay

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // the TURN REST scheme (and RFC 5389 integrity) is HMAC-SHA1
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/tetherdesk/tether/shared/protocol"
)

// Realm is the TURN realm of the relay.
const Realm = "tether"

// authCacheMax caps the entries of the Authorize cache: past it, expired
// entries go first, then arbitrary ones.
const authCacheMax = 4096

// Metrics live in the default registry, as the server's other metrics do.
var (
	peerRefused = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_turn_peer_refused_total",
		Help: "TURN permissions refused and relayed datagrams dropped, by the class of the peer address.",
	}, []string{"reason"})
	authRefused = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_turn_auth_refused_total",
		Help: "TURN requests and allocations refused for their credential, by reason.",
	}, []string{"reason"})
)

// Config configures the relay.
type Config struct {
	// Listen is host:port for both UDP and TCP (":3478"). Port 0 picks a
	// free port that is free on both.
	Listen string
	// RelayIP is the address put in relayed candidates and in the TURN URLs
	// handed to clients; DefaultRelayIP when nil.
	RelayIP net.IP
	// Secret keys the credentials; random when empty (credentials then
	// last until the server restarts).
	Secret []byte
	// CredentialTTL is how long an issued credential is valid at most (12 h,
	// the bound of a session).
	CredentialTTL time.Duration
	// AllowPrivate lets the relay reach peers in private ranges (10/8,
	// 172.16/12, 192.168/16, 100.64/10, fc00::/7). Off (the default) the
	// relay cannot be turned on the server's own network.
	AllowPrivate bool
	// Authorize reports whether subject (a viewer id or "agent") may still
	// use the relay for sessionID. It is asked for every authenticated TURN
	// request after the credential's signature and expiry are checked, and
	// while an allocation relays; false refuses the request and ends the
	// allocation. nil allows every unexpired credential. It is called from
	// the relay's goroutines and must be safe for concurrent use.
	Authorize func(sessionID, subject string) bool
	// AuthorizeCacheTTL is how long an answer of Authorize is reused for a
	// username (1 s).
	AuthorizeCacheTTL time.Duration
	// UDPOnly leaves TCP on Listen's port alone: it is the HTTPS port,
	// whose TURN connections come through Streams.
	UDPOnly bool
	// Streams are more listeners of TURN over TCP or TLS: the HTTPS
	// port's share (server/portmux).
	Streams []net.Listener
	// PublicStream is host:port of the HTTPS port as clients reach it;
	// when set, clients are also told to use TURN over TCP there, and over
	// TLS when PublicTLS.
	PublicStream string
	PublicTLS    bool
	Logger       *slog.Logger
	Now          func() time.Time

	// allowAllPeers turns the peer filter off. Tests only: it shows that
	// a refusal is the filter's doing.
	allowAllPeers bool
}

// CheckAndSetDefaults validates c and fills defaults.
func (c *Config) CheckAndSetDefaults() error {
	if c.Listen == "" {
		c.Listen = ":3478"
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("turn listen %q: %w", c.Listen, err)
	}
	if c.RelayIP == nil {
		c.RelayIP = DefaultRelayIP(host)
	}
	if c.RelayIP == nil || c.RelayIP.To4() == nil && c.RelayIP.To16() == nil {
		return errors.New("turn: no relay IP: set turn_relay_ip")
	}
	if len(c.Secret) == 0 {
		c.Secret = make([]byte, 32)
		_, _ = rand.Read(c.Secret)
	}
	if c.CredentialTTL <= 0 {
		c.CredentialTTL = 12 * time.Hour
	}
	if c.AuthorizeCacheTTL <= 0 {
		c.AuthorizeCacheTTL = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// DefaultRelayIP is 127.0.0.1 when listenHost is a loopback address, else
// the first non-loopback IPv4 address of the host (nil when there is none).
func DefaultRelayIP(listenHost string) net.IP {
	if ip := net.ParseIP(listenHost); ip != nil {
		if ip.IsLoopback() {
			return net.IPv4(127, 0, 0, 1).To4()
		}
		if !ip.IsUnspecified() {
			return ip
		}
	}
	if listenHost == "localhost" {
		return net.IPv4(127, 0, 0, 1).To4()
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.To4()
		}
	}
	return nil
}

// Server is a running relay.
type Server struct {
	cfg     Config
	srv     *turn.Server
	port    int
	log     *slog.Logger
	relayIP netip.Addr
	// self holds the addresses of this host (RelayIP, the bind address or
	// every interface address): a peer there is reachable on relay ports
	// only.
	self map[netip.Addr]bool

	mu     sync.Mutex
	relays map[int]*relayConn // live relay sockets by port

	authMu    sync.Mutex
	authCache map[string]authEntry // Authorize answers by username
}

type authEntry struct {
	ok    bool
	until time.Time
}

// Start listens on UDP and TCP and serves TURN.
func Start(cfg Config) (*Server, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	host, portStr, _ := net.SplitHostPort(cfg.Listen)
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("turn listen %q: bad port", cfg.Listen)
	}
	relayIP, ok := netip.AddrFromSlice(cfg.RelayIP)
	if !ok {
		return nil, fmt.Errorf("turn relay IP %v: not an IP address", cfg.RelayIP)
	}
	var udp net.PacketConn
	var tcp net.Listener
	if cfg.UDPOnly {
		udp, err = net.ListenPacket("udp4", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("turn relay: listen udp: %w", err)
		}
	} else if udp, tcp, err = listenBoth(host, port); err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, port: udp.LocalAddr().(*net.UDPAddr).Port, log: cfg.Logger.With("component", "turn"),
		relayIP: relayIP.Unmap(), relays: map[int]*relayConn{}, authCache: map[string]authEntry{},
	}
	bind := "0.0.0.0"
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		bind = ip.String()
	}
	s.self = selfAddrs(s.relayIP, bind)
	gen := func() turn.RelayAddressGenerator {
		return &relayGenerator{s: s, static: &turn.RelayAddressGeneratorStatic{RelayAddress: cfg.RelayIP, Address: bind}}
	}
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	var listeners []turn.ListenerConfig
	for _, l := range append([]net.Listener{tcp}, cfg.Streams...) {
		if l != nil {
			listeners = append(listeners, turn.ListenerConfig{Listener: l, RelayAddressGenerator: gen(), PermissionHandler: s.permit})
		}
	}
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:             Realm,
		AuthHandler:       s.authHandler,
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: udp, RelayAddressGenerator: gen(), PermissionHandler: s.permit}},
		ListenerConfigs:   listeners,
		EventHandler:      turn.EventHandler{OnAllocationCreated: s.allocationCreated},
		LoggerFactory:     lf,
	})
	if err != nil {
		udp.Close()
		for _, l := range listeners {
			l.Listener.Close()
		}
		return nil, fmt.Errorf("start turn relay: %w", err)
	}
	s.srv = srv
	s.log.Info("TURN relay listening", "port", s.port, "tcp", !cfg.UDPOnly, "public_stream", cfg.PublicStream,
		"relay_ip", cfg.RelayIP.String(), "allow_private", cfg.AllowPrivate)
	return s, nil
}

// listenBoth opens UDP and TCP on the same port; with port 0 it retries
// until a port is free for both.
func listenBoth(host string, port int) (net.PacketConn, net.Listener, error) {
	for attempt := 0; ; attempt++ {
		udp, err := net.ListenPacket("udp4", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return nil, nil, fmt.Errorf("turn relay: listen udp: %w", err)
		}
		p := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.Listen("tcp4", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if port != 0 || attempt >= 10 {
			return nil, nil, fmt.Errorf("turn relay: listen tcp: %w", err)
		}
	}
}

// Port is the UDP and TCP port the relay listens on.
func (s *Server) Port() int { return s.port }

// Close stops the relay and its allocations.
func (s *Server) Close() error { return s.srv.Close() }

// password is the TURN REST password of a username.
func password(secret []byte, username string) string {
	m := hmac.New(sha1.New, secret)
	m.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Credentials returns a username and password with which subject (a viewer
// id or "agent") may use the relay for sessionID, for at most
// CredentialTTL and only while Authorize agrees. A sessionID that is empty
// or holds ':', or an empty subject, gets no credential (both empty).
func (s *Server) Credentials(sessionID, subject string) (username, pass string) {
	if sessionID == "" || strings.Contains(sessionID, ":") || subject == "" {
		s.log.Warn("no TURN credential for a malformed session id or subject", "session", sessionID, "subject", subject)
		return "", ""
	}
	exp := s.cfg.Now().Add(s.cfg.CredentialTTL).Unix()
	username = strconv.FormatInt(exp, 10) + ":" + sessionID + ":" + subject
	return username, password(s.cfg.Secret, username)
}

// ICEServers is what hello hands to one side of a session (subject: the
// viewer's id or "agent"): the relay over UDP and TCP with that side's
// credentials, over TCP and TLS on the HTTPS port too (PublicStream), and
// STUN on the relay's port.
func (s *Server) ICEServers(sessionID, subject string) []protocol.ICEServer {
	hp := net.JoinHostPort(s.cfg.RelayIP.String(), strconv.Itoa(s.port))
	ice := []protocol.ICEServer{{URLs: []string{"stun:" + hp}}}
	user, pass := s.Credentials(sessionID, subject)
	if user == "" {
		return ice
	}
	urls := []string{"turn:" + hp + "?transport=udp"}
	if !s.cfg.UDPOnly {
		urls = append(urls, "turn:"+hp+"?transport=tcp")
	}
	if p := s.cfg.PublicStream; p != "" {
		urls = append(urls, "turn:"+p+"?transport=tcp")
		if s.cfg.PublicTLS {
			urls = append(urls, "turns:"+p+"?transport=tcp")
		}
	}
	return append(ice, protocol.ICEServer{URLs: urls, Username: user, Credential: pass})
}

// parseUsername splits "expiry:sessionID:subject".
func parseUsername(username string) (exp int64, sessionID, subject string, ok bool) {
	expS, rest, ok1 := strings.Cut(username, ":")
	sessionID, subject, ok2 := strings.Cut(rest, ":")
	exp, err := strconv.ParseInt(expS, 10, 64)
	if !ok1 || !ok2 || err != nil || sessionID == "" || subject == "" {
		return 0, "", "", false
	}
	return exp, sessionID, subject, true
}

// authHandler answers pion for an authenticated request: the key of a
// well-formed, unexpired username whose session Authorize still allows.
// pion then checks the request's MESSAGE-INTEGRITY with that key, so a
// username only works with the password issued for it.
func (s *Server) authHandler(ra *turn.RequestAttributes) (userID string, key []byte, ok bool) {
	reason := "malformed"
	if ra.Realm == Realm {
		reason, _ = s.check(ra.Username, s.cfg.Now())
	}
	if reason != "" {
		authRefused.WithLabelValues(reason).Inc()
		s.log.Debug("TURN credential refused", "reason", reason, "src", ra.SrcAddr.String())
		return "", nil, false
	}
	// The whole username is the user ID: the allocation's relay socket
	// re-checks it (allocationCreated hands it over).
	return ra.Username, turn.GenerateAuthKey(ra.Username, ra.Realm, password(s.cfg.Secret, ra.Username)), true
}

// check says why username may not use the relay at now ("malformed",
// "expired", "unauthorized"), or "" and until when that answer holds.
func (s *Server) check(username string, now time.Time) (reason string, until time.Time) {
	exp, sid, subject, ok := parseUsername(username)
	if !ok {
		return "malformed", time.Time{}
	}
	if now.Unix() > exp {
		return "expired", time.Time{}
	}
	until = time.Unix(exp+1, 0)
	if s.cfg.Authorize == nil {
		return "", until
	}
	ok, cached := s.authorize(username, sid, subject, now)
	if !ok {
		return "unauthorized", time.Time{}
	}
	if cached.Before(until) {
		until = cached
	}
	return "", until
}

// authorize is Authorize's answer for username, reused for up to
// AuthorizeCacheTTL, and until when it may be reused.
func (s *Server) authorize(username, sessionID, subject string, now time.Time) (bool, time.Time) {
	s.authMu.Lock()
	e, hit := s.authCache[username]
	s.authMu.Unlock()
	if hit && now.Before(e.until) {
		return e.ok, e.until
	}
	e = authEntry{ok: s.cfg.Authorize(sessionID, subject), until: now.Add(s.cfg.AuthorizeCacheTTL)}
	s.authMu.Lock()
	if len(s.authCache) >= authCacheMax {
		s.pruneAuthCache(now)
	}
	s.authCache[username] = e
	s.authMu.Unlock()
	return e.ok, e.until
}

// pruneAuthCache drops expired entries, then arbitrary ones until a quarter
// of the room is free. s.authMu is held.
func (s *Server) pruneAuthCache(now time.Time) {
	for u, e := range s.authCache {
		if !now.Before(e.until) {
			delete(s.authCache, u)
		}
	}
	for u := range s.authCache {
		if len(s.authCache) < authCacheMax*3/4 {
			break
		}
		delete(s.authCache, u)
	}
}
