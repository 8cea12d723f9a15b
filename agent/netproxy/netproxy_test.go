package netproxy

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
		direct        bool
	}{
		{in: ""},
		{in: "direct", direct: true},
		{in: "DIRECT", direct: true},
		{in: "http://proxy.corp:3128", want: "http://proxy.corp:3128"},
		{in: "http://proxy.corp", want: "http://proxy.corp:80"},
		{in: "https://u:p%40ss@proxy.corp/", want: "https://u:p%40ss@proxy.corp:443"},
		{in: "socks5://proxy:1080", err: "want http:// or https://"},
		{in: "http://u:secret@proxy:3128/path", err: "want scheme://"},
		{in: "http://:3128", err: "want scheme://"},
		{in: "http://u:secret@[::1", err: "proxy:"},
	} {
		s, err := Parse(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Parse(%q) = %v, want error containing %q", tc.in, err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("Parse(%q): the error shows the password: %v", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		got := ""
		if s.URL != nil {
			got = s.URL.String()
		}
		if got != tc.want || s.Direct != tc.direct {
			t.Errorf("Parse(%q) = %q direct=%v, want %q direct=%v", tc.in, got, s.Direct, tc.want, tc.direct)
		}
	}
}

func TestSettingFor(t *testing.T) {
	target := &url.URL{Scheme: "https", Host: "tether.example:443"}
	t.Setenv("HTTPS_PROXY", "http://env-proxy:3128")
	t.Setenv("NO_PROXY", "")
	if u, _ := (Setting{}).For(target); u == nil || u.Host != "env-proxy:3128" {
		t.Fatalf("environment: %v", u)
	}
	if u, _ := (Setting{Direct: true}).For(target); u != nil {
		t.Fatalf("direct: %v", u)
	}
	explicit, _ := Parse("http://cfg-proxy:8080")
	if u, _ := explicit.For(target); u == nil || u.Host != "cfg-proxy:8080" {
		t.Fatalf("explicit: %v", u)
	}
}

// echoServer answers each connection with what it reads.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// TestRelay: the helpers' relay tunnels to an allowed target with its
// secret (the Dialer is its client, as a helper's TURN would be), and
// refuses a wrong secret and a target that is not the server.
func TestRelay(t *testing.T) {
	echo := echoServer(t)
	r, err := StartRelay(nil, func(host string) bool { return host == "127.0.0.1" }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	c, err := Dialer{Proxy: r.URL()}.Dial("tcp", echo)
	if err != nil {
		t.Fatalf("through the relay: %v", err)
	}
	if _, ok := c.LocalAddr().(*net.TCPAddr); !ok {
		t.Fatalf("LocalAddr is %T; pion needs a *net.TCPAddr", c.LocalAddr())
	}
	io.WriteString(c, "ping")
	b := make([]byte, 4)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "ping" {
		t.Fatalf("echo through the relay: %q %v", b, err)
	}
	c.Close()

	wrong := r.URL()
	wrong.User = url.UserPassword(relayUser, "guess")
	if _, err := (Dialer{Proxy: wrong}).Dial("tcp", echo); err == nil || !strings.Contains(err.Error(), "407") {
		t.Fatalf("a wrong secret: %v, want a 407", err)
	}
	noAuth := r.URL()
	noAuth.User = nil
	if _, err := (Dialer{Proxy: noAuth}).Dial("tcp", echo); err == nil || !strings.Contains(err.Error(), "407") {
		t.Fatalf("no secret: %v, want a 407", err)
	}
	_, port, _ := net.SplitHostPort(echo)
	if _, err := (Dialer{Proxy: r.URL()}).Dial("tcp", "localhost:"+port); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("a target that is not the server: %v, want a 403", err)
	}
	if _, err := (Dialer{Proxy: r.URL()}).Dial("udp", echo); err == nil {
		t.Fatal("UDP through an HTTP proxy")
	}

	// Closing the relay ends the tunnels it carries.
	open, err := Dialer{Proxy: r.URL()}.Dial("tcp", echo)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	r.Close()
	open.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := open.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a tunnel outlived the relay: %v", err)
	}
}

// TestRelayUpstream: the relay goes on through the agent's proxy, with
// its Basic credentials (a second relay plays the corporate proxy).
func TestRelayUpstream(t *testing.T) {
	echo := echoServer(t)
	allow := func(host string) bool { return host == "127.0.0.1" }
	corp, err := StartRelay(nil, allow, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer corp.Close()
	local, err := StartRelay(corp.URL(), allow, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	c, err := Dialer{Proxy: local.URL()}.Dial("tcp", echo)
	if err != nil {
		t.Fatalf("through both relays: %v", err)
	}
	defer c.Close()
	io.WriteString(c, "pong")
	b := make([]byte, 4)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "pong" {
		t.Fatalf("echo: %q %v", b, err)
	}
	if strings.Contains(local.URL().String(), corp.secret) {
		t.Fatal("the helpers' URL holds the upstream secret")
	}
}
