package turnrelay

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v4"
)

func startRelay(t *testing.T, now func() time.Time) *Server {
	t.Helper()
	s, err := Start(Config{Listen: "127.0.0.1:0", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// allocate makes a real TURN allocation over UDP with the credentials.
func allocate(t *testing.T, s *Server, user, pass string) error {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	addr := "127.0.0.1:" + strconv.Itoa(s.Port())
	c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: user, Password: pass, Realm: Realm, LoggerFactory: lf, RTO: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := c.Allocate()
	if err != nil {
		return err
	}
	defer relay.Close()
	if ra, ok := relay.LocalAddr().(*net.UDPAddr); !ok || !ra.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("relayed address %v, want on 127.0.0.1", relay.LocalAddr())
	}
	return nil
}

func TestAllocationWithIssuedCredentials(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	s := startRelay(t, clock)
	user, pass := s.Credentials("sess1")
	if !strings.HasSuffix(user, ":sess1") {
		t.Fatalf("username %q", user)
	}
	if err := allocate(t, s, user, pass); err != nil {
		t.Fatalf("allocation with issued credentials: %v", err)
	}
	ice := s.ICEServers("sess1")
	if len(ice) != 2 || ice[1].Username == "" || !strings.Contains(strings.Join(ice[1].URLs, " "), "transport=tcp") {
		t.Fatalf("ICE servers %+v", ice)
	}

	expired := strconv.FormatInt(now.Add(-time.Minute).Unix(), 10) + ":sess1"
	for name, cred := range map[string][2]string{
		"wrong password":  {user, pass[:len(pass)-2] + "xx"},
		"forged username": {strconv.FormatInt(now.Add(48*time.Hour).Unix(), 10) + ":sess1", pass},
		"expired":         {expired, password(s.cfg.Secret, expired)},
		"malformed":       {"sess1", pass},
		"other secret":    {user, password([]byte("not the secret"), user)},
	} {
		t.Run(name, func(t *testing.T) {
			if err := allocate(t, s, cred[0], cred[1]); err == nil {
				t.Fatal("allocation succeeded")
			}
		})
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
