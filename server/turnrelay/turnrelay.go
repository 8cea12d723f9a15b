// Package turnrelay is the server's embedded TURN relay (pion/turn) on UDP
// and TCP, with short-lived TURN REST style credentials: the username is
// "expiry:sessionid" (expiry in Unix seconds) and the password is
// base64(HMAC-SHA1(secret, username)), so the relay checks a credential
// without any state.
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
	"strconv"
	"strings"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v4"

	"github.com/tetherdesk/tether/shared/protocol"
)

// Realm is the TURN realm of the relay.
const Realm = "tether"

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
	// CredentialTTL is how long an issued credential is valid (12 h, the
	// bound of a session).
	CredentialTTL time.Duration
	Logger        *slog.Logger
	Now           func() time.Time
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
	cfg  Config
	srv  *turn.Server
	port int
	log  *slog.Logger
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
	udp, tcp, err := listenBoth(host, port)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, port: udp.LocalAddr().(*net.UDPAddr).Port, log: cfg.Logger.With("component", "turn")}
	bind := "0.0.0.0"
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		bind = ip.String()
	}
	gen := func() turn.RelayAddressGenerator {
		return &turn.RelayAddressGeneratorStatic{RelayAddress: cfg.RelayIP, Address: bind}
	}
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:             Realm,
		AuthHandler:       s.auth,
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: udp, RelayAddressGenerator: gen()}},
		ListenerConfigs:   []turn.ListenerConfig{{Listener: tcp, RelayAddressGenerator: gen()}},
		LoggerFactory:     lf,
	})
	if err != nil {
		udp.Close()
		tcp.Close()
		return nil, fmt.Errorf("start turn relay: %w", err)
	}
	s.srv = srv
	s.log.Info("TURN relay listening", "udp_tcp_port", s.port, "relay_ip", cfg.RelayIP.String())
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

// Credentials returns a username and password for a session, valid for
// CredentialTTL.
func (s *Server) Credentials(sessionID string) (username, pass string) {
	exp := s.cfg.Now().Add(s.cfg.CredentialTTL).Unix()
	username = strconv.FormatInt(exp, 10) + ":" + sessionID
	return username, password(s.cfg.Secret, username)
}

// ICEServers is what hello hands to both sides of a session: the relay over
// UDP and TCP with the session's credentials, and STUN on the same port.
func (s *Server) ICEServers(sessionID string) []protocol.ICEServer {
	user, pass := s.Credentials(sessionID)
	hp := net.JoinHostPort(s.cfg.RelayIP.String(), strconv.Itoa(s.port))
	return []protocol.ICEServer{
		{URLs: []string{"stun:" + hp}},
		{URLs: []string{"turn:" + hp + "?transport=udp", "turn:" + hp + "?transport=tcp"}, Username: user, Credential: pass},
	}
}

// auth checks a TURN REST username: not expired, and the key derived from
// the password it must have been issued with.
func (s *Server) auth(username, realm string, src net.Addr) ([]byte, bool) {
	expS, sid, ok := strings.Cut(username, ":")
	exp, err := strconv.ParseInt(expS, 10, 64)
	if !ok || err != nil || sid == "" || realm != Realm {
		s.log.Debug("TURN credential refused: malformed", "src", src.String())
		return nil, false
	}
	if s.cfg.Now().Unix() > exp {
		s.log.Debug("TURN credential refused: expired", "src", src.String())
		return nil, false
	}
	return turn.GenerateAuthKey(username, realm, password(s.cfg.Secret, username)), true
}
