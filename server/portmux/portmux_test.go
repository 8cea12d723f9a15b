package portmux

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/tlsutil"
)

func startMux(t testing.TB, withTLS bool) *Mux {
	t.Helper()
	var cfg *tls.Config
	if withTLS {
		cert, err := tlsutil.LoadOrCreate(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := New(ln, cfg, nil)
	go m.Serve()
	t.Cleanup(func() { m.Close() })
	return m
}

// stunHead is the start of a STUN Binding request.
func stunHead() []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:2], 0x0001)
	binary.BigEndian.PutUint32(b[4:8], stunMagic)
	return b
}

// TestSort: the first bytes decide where a plain connection goes, and a
// connection that says nothing does not hold up the next one.
func TestSort(t *testing.T) {
	m := startMux(t, false)
	idle, err := net.Dial("tcp4", m.HTTP().Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	for _, tc := range []struct {
		name  string
		first []byte
		turn  bool
	}{
		{"http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false},
		{"stun", stunHead(), true},
		{"stun without cookie", append([]byte{0, 1, 0, 0, 1, 2, 3, 4}, make([]byte, 12)...), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp4", m.HTTP().Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(tc.first); err != nil {
				t.Fatal(err)
			}
			want := m.HTTP()
			if tc.turn {
				want = m.TURN()
			}
			got := make(chan net.Conn, 1)
			go func() {
				if c, err := want.Accept(); err == nil {
					got <- c
				}
			}()
			select {
			case sc := <-got:
				b := make([]byte, len(tc.first))
				if _, err := io.ReadFull(sc, b); err != nil || string(b) != string(tc.first) {
					t.Fatalf("the sorted connection reads %q, %v; want the bytes sent", b, err)
				}
				sc.Close()
			case <-time.After(5 * time.Second):
				t.Fatalf("not handed to %v listener", map[bool]string{true: "the TURN", false: "the HTTP"}[tc.turn])
			}
		})
	}
}

// TestTLSHTTP: over TLS, a request reaches HTTP whether the client offers
// ALPN or not, and a client offering "stun.turn" is TURN.
func TestTLSHTTP(t *testing.T) {
	m := startMux(t, true)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(m.HTTP())
	defer srv.Close()
	for _, alpn := range [][]string{{"h2", "http/1.1"}, nil} {
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: alpn}}} //nolint:gosec // self-signed test certificate
		resp, err := hc.Get("https://" + m.HTTP().Addr().String() + "/")
		if err != nil {
			t.Fatalf("ALPN %v: %v", alpn, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("ALPN %v: %q", alpn, b)
		}
	}
	c, err := tls.Dial("tcp4", m.HTTP().Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1", ALPNTURN}}) //nolint:gosec // self-signed test certificate
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != ALPNTURN {
		t.Fatalf("a client offering both got %q, want %q", p, ALPNTURN)
	}
	c.Write(stunHead())
	got := make(chan net.Conn, 1)
	go func() {
		if c, err := m.TURN().Accept(); err == nil {
			got <- c
		}
	}()
	select {
	case sc := <-got:
		sc.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("a stun.turn client was not handed to TURN")
	}
}

// FuzzSort: whatever a client sends first, the mux hands the connection
// on with its bytes intact or closes it, and never panics.
func FuzzSort(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add(stunHead())
	f.Add([]byte{0x16, 3, 1, 0, 5, 1, 2, 3, 4, 5})
	f.Add([]byte{0})
	m := New(nopListener{}, nil, nil)
	f.Fuzz(func(t *testing.T, first []byte) {
		client, server := net.Pipe()
		defer client.Close()
		done := make(chan struct{})
		go func() { m.sort(server); close(done) }()
		go func() { client.Write(first); client.Close() }()
		var got net.Conn
		for got == nil {
			select {
			case got = <-m.http.conns:
			case got = <-m.turn.conns:
			case <-done:
				return // closed: too short to sort
			}
		}
		b, _ := io.ReadAll(bufio.NewReader(got))
		if string(b) != string(first) {
			t.Fatalf("read back %q, sent %q", b, first)
		}
		<-done
	})
}

type nopListener struct{}

func (nopListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (nopListener) Close() error              { return nil }
func (nopListener) Addr() net.Addr            { return &net.TCPAddr{} }
