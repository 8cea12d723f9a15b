package turnrelay

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/portmux"
	"github.com/tetherdesk/tether/server/tlsutil"
)

// startShared serves HTTPS and TURN on one port, as the server does with
// turn_on_listen: the relay's own port is UDP only.
func startShared(t *testing.T) (*Server, *portmux.Mux, *tls.Config) {
	t.Helper()
	cert, err := tlsutil.LoadOrCreate(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := portmux.New(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil)
	go mux.Serve()
	t.Cleanup(func() { mux.Close() })
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "tls="+map[bool]string{true: "yes", false: "no"}[r.TLS != nil])
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(mux.HTTP())
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	s := startRelayConfig(t, Config{Listen: "127.0.0.1:" + strconv.Itoa(port), RelayIP: net.IPv4(127, 0, 0, 1), AllowPrivate: true,
		UDPOnly: true, Streams: []net.Listener{mux.TURN()}, PublicStream: ln.Addr().String(), PublicTLS: true})
	return s, mux, &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the test's own self-signed certificate
}

// TestSharedPort: on the HTTPS port, a browser-like client (ALPN
// http/1.1) and a Go client without ALPN both get HTTP, and coturn's TURN
// client relays between two allocations over TLS and over plain TCP on
// that same port; the relay's own port then holds UDP alone.
func TestSharedPort(t *testing.T) {
	t.Parallel()
	s, mux, clientTLS := startShared(t)
	addr := mux.HTTP().Addr().String()
	for _, alpn := range [][]string{{"http/1.1"}, nil} {
		c := clientTLS.Clone()
		c.NextProtos = alpn
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: c}}
		resp, err := hc.Get("https://" + addr + "/")
		if err != nil {
			t.Fatalf("HTTPS on the shared port (ALPN %v): %v", alpn, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := "tls=no" // sorted by its first decrypted bytes: served as a plain conn
		if alpn != nil {
			want = "tls=yes"
		}
		if string(body) != want {
			t.Fatalf("ALPN %v: answer %q, want %q", alpn, body, want)
		}
	}
	ice := s.ICEServers("sess1", "agent")
	urls := strings.Join(ice[len(ice)-1].URLs, " ")
	for _, want := range []string{"turn:" + addr + "?transport=tcp", "turns:" + addr + "?transport=tcp", "?transport=udp"} {
		if !strings.Contains(urls, want) {
			t.Fatalf("ICE URLs %q lack %q", urls, want)
		}
	}
	if strings.Contains(urls, "turn:127.0.0.1:"+strconv.Itoa(s.Port())+"?transport=tcp") && s.Port() != mux.HTTP().Addr().(*net.TCPAddr).Port {
		t.Fatalf("ICE URLs %q offer TCP on the UDP-only relay port", urls)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{{"tcp", []string{"-t"}}, {"tls", []string{"-t", "-S"}}} {
		t.Run(tc.name, func(t *testing.T) {
			user, pass := s.Credentials("sess1", "agent")
			out, err := runUclient(t, mux.HTTP().Addr().(*net.TCPAddr).Port, user, pass, append([]string{"-y", "-c", "-n", "10"}, tc.args...)...)
			if err != nil {
				t.Fatalf("turnutils_uclient %v: %v\n%s", tc.args, err, out)
			}
			if sent, received := totals(t, out); sent != 20 || received != sent {
				t.Fatalf("sent %d, received %d; want 20 both ways:\n%s", sent, received, out)
			}
		})
	}
}
