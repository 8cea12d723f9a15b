package turnrelay

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
)

func startRelay(t *testing.T, now func() time.Time) *Server {
	t.Helper()
	return startRelayConfig(t, Config{Listen: "127.0.0.1:0", Now: now})
}

func startRelayConfig(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// allocateRelay makes a real TURN allocation over UDP with the credentials
// and returns its relay conn (closed with the test).
func allocateRelay(t *testing.T, s *Server, user, pass string) (net.PacketConn, error) {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	addr := "127.0.0.1:" + strconv.Itoa(s.Port())
	c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: user, Password: pass, Realm: Realm, LoggerFactory: lf, RTO: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := c.Allocate()
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { relay.Close() })
	if ra, ok := relay.LocalAddr().(*net.UDPAddr); !ok || !ra.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("relayed address %v, want on 127.0.0.1", relay.LocalAddr())
	}
	return relay, nil
}

func allocate(t *testing.T, s *Server, user, pass string) error {
	t.Helper()
	_, err := allocateRelay(t, s, user, pass)
	return err
}

// logRecords is a slog.Handler that keeps every record's message and
// attributes, so a test can wait for what the relay did.
type logRecords struct {
	mu   sync.Mutex
	recs []map[string]string
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecords) WithGroup(string) slog.Handler            { return l }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	l.mu.Lock()
	l.recs = append(l.recs, m)
	l.mu.Unlock()
	return nil
}

// count is the number of records with msg whose attributes include want.
func (l *logRecords) count(msg string, want map[string]string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
next:
	for _, r := range l.recs {
		if r["msg"] != msg {
			continue
		}
		for k, v := range want {
			if r[k] != v {
				continue next
			}
		}
		n++
	}
	return n
}

func (l *logRecords) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, r := range l.recs {
		b.WriteString(r["msg"])
		for k, v := range r {
			if k != "msg" {
				b.WriteString(" " + k + "=" + v)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestAllocationWithIssuedCredentials(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	s := startRelay(t, clock)
	user, pass := s.Credentials("sess1", "viewer1")
	if want := strconv.FormatInt(now.Add(12*time.Hour).Unix(), 10) + ":sess1:viewer1"; user != want {
		t.Fatalf("username %q, want %q", user, want)
	}
	if err := allocate(t, s, user, pass); err != nil {
		t.Fatalf("allocation with issued credentials: %v", err)
	}
	ice := s.ICEServers("sess1", "agent")
	if len(ice) != 2 || !strings.HasSuffix(ice[1].Username, ":sess1:agent") || ice[1].Credential != password(s.cfg.Secret, ice[1].Username) ||
		!strings.Contains(strings.Join(ice[1].URLs, " "), "transport=tcp") {
		t.Fatalf("ICE servers %+v", ice)
	}

	exp := strconv.FormatInt(now.Add(time.Hour).Unix(), 10)
	expired := strconv.FormatInt(now.Add(-time.Minute).Unix(), 10) + ":sess1:viewer1"
	noSubject := exp + ":sess1"
	for name, cred := range map[string][2]string{
		"wrong password":  {user, pass[:len(pass)-2] + "xx"},
		"forged username": {strconv.FormatInt(now.Add(48*time.Hour).Unix(), 10) + ":sess1:viewer1", pass},
		"forged subject":  {strings.TrimSuffix(user, "viewer1") + "agent", pass},
		"forged session":  {strings.Replace(user, ":sess1:", ":sess2:", 1), pass},
		"expired":         {expired, password(s.cfg.Secret, expired)},
		"malformed":       {"sess1", pass},
		"no subject":      {noSubject, password(s.cfg.Secret, noSubject)},
		"other secret":    {user, password([]byte("not the secret"), user)},
	} {
		t.Run(name, func(t *testing.T) {
			if err := allocate(t, s, cred[0], cred[1]); err == nil {
				t.Fatal("allocation succeeded")
			}
		})
	}
}

func TestNoCredentialForMalformedIDs(t *testing.T) {
	s := startRelay(t, nil)
	for _, c := range [][2]string{{"", "agent"}, {"a:b", "agent"}, {"sess1", ""}} {
		if u, p := s.Credentials(c[0], c[1]); u != "" || p != "" {
			t.Errorf("Credentials(%q, %q) = %q, %q; want none", c[0], c[1], u, p)
		}
		if ice := s.ICEServers(c[0], c[1]); len(ice) != 1 || ice[0].Username != "" {
			t.Errorf("ICEServers(%q, %q) = %+v; want STUN only", c[0], c[1], ice)
		}
	}
}

func TestTCPListener(t *testing.T) {
	s := startRelay(t, nil)
	c, err := net.DialTimeout("tcp4", "127.0.0.1:"+strconv.Itoa(s.Port()), 5*time.Second)
	if err != nil {
		t.Fatalf("TURN over TCP not listening: %v", err)
	}
	c.Close()
}

func TestDefaultRelayIP(t *testing.T) {
	if ip := DefaultRelayIP("127.0.0.1"); !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("loopback listen: %v", ip)
	}
	if ip := DefaultRelayIP("localhost"); !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("localhost listen: %v", ip)
	}
	if ip := DefaultRelayIP("10.1.2.3"); !ip.Equal(net.ParseIP("10.1.2.3")) {
		t.Fatalf("specific listen: %v", ip)
	}
	if ip := DefaultRelayIP(""); ip != nil && (ip.IsLoopback() || ip.To4() == nil) {
		t.Fatalf("wildcard listen: %v", ip)
	}
}
