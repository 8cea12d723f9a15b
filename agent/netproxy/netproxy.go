// Package netproxy takes the agent's traffic to the server through an
// explicit HTTP(S) proxy: the proxy to use (the `proxy` setting, else the
// usual environment variables), a CONNECT dialer for what is not HTTP
// (TURN over TCP), and a local CONNECT relay that lets session helpers,
// which run as the desktop's user, use the proxy without ever holding its
// credentials.
package netproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/http/httpproxy"
)

// Direct is the `proxy` value that turns every proxy off, the environment's
// too.
const Direct = "direct"

// dialTimeout bounds reaching the proxy and its answer to CONNECT.
const dialTimeout = 20 * time.Second

// Setting is a parsed `proxy` value.
type Setting struct {
	// URL is the explicit proxy; nil with Direct false means the
	// environment's (HTTPS_PROXY, HTTP_PROXY, NO_PROXY).
	URL    *url.URL
	Direct bool
}

// Parse reads a `proxy` value: "" (the environment's), "direct", or
// http(s)://[user:password@]host:port.
func Parse(s string) (Setting, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Setting{}, nil
	case strings.EqualFold(s, Direct):
		return Setting{Direct: true}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error quotes the whole value, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Setting{}, fmt.Errorf("proxy: not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Setting{}, fmt.Errorf("proxy %q: want http:// or https://", Redact(u))
	}
	if u.Hostname() == "" || u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return Setting{}, fmt.Errorf("proxy %q: want scheme://[user:password@]host:port", Redact(u))
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	u.Path = ""
	return Setting{URL: u}, nil
}

// For is the proxy to reach target through, or nil for a direct
// connection.
func (s Setting) For(target *url.URL) (*url.URL, error) {
	if s.Direct {
		return nil, nil
	}
	if s.URL != nil {
		return s.URL, nil
	}
	return httpproxy.FromEnvironment().ProxyFunc()(target)
}

// Func is Setting as http.Transport.Proxy wants it.
func (s Setting) Func() func(*http.Request) (*url.URL, error) {
	return func(r *http.Request) (*url.URL, error) { return s.For(r.URL) }
}

// Redact is u without its password, for logs and errors.
func Redact(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Redacted()
}

// Dialer dials TCP through an HTTP proxy with CONNECT (golang.org/x/net/proxy's
// Dialer, which pion's ICE takes for TURN over TCP). Proxy's user
// information, when present, is sent as Basic authentication.
type Dialer struct {
	Proxy *url.URL
	// TLS configures the connection to an https:// proxy (nil: system
	// roots, the proxy's host name).
	TLS *tls.Config
}

// Dial connects to addr through the proxy.
func (d Dialer) Dial(network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	return d.DialContext(ctx, network, addr)
}

// DialContext connects to addr through the proxy. The conn it returns is
// the TCP connection to the proxy (or TLS over it): its LocalAddr is a
// *net.TCPAddr, which pion relies on.
func (d Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, fmt.Errorf("proxy %s: cannot carry %s", Redact(d.Proxy), network)
	}
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", d.Proxy.Host)
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", Redact(d.Proxy), err)
	}
	conn := raw
	if d.Proxy.Scheme == "https" {
		cfg := d.TLS
		if cfg == nil {
			cfg = &tls.Config{ServerName: d.Proxy.Hostname(), MinVersion: tls.VersionTLS12}
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("proxy %s: TLS: %w", Redact(d.Proxy), err)
		}
		conn = tc
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	br, err := connect(conn, addr, d.Proxy.User)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("proxy %s: CONNECT %s: %w", Redact(d.Proxy), addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	if br.Buffered() > 0 {
		return &bufConn{Conn: conn, r: br}, nil
	}
	return conn, nil
}

// connect sends CONNECT addr on conn and reads the answer.
func connect(conn net.Conn, addr string, user *url.Userinfo) (*bufio.Reader, error) {
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: addr}, Host: addr, Header: http.Header{}}
	if user != nil {
		pass, _ := user.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user.Username()+":"+pass)))
	}
	if err := req.Write(conn); err != nil {
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		if resp.StatusCode == http.StatusProxyAuthRequired {
			return nil, errors.New("the proxy wants credentials (407): set them in the proxy URL, http://user:password@host:port")
		}
		return nil, fmt.Errorf("the proxy answered %s", resp.Status)
	}
	return br, nil
}

// bufConn reads what the proxy sent past its answer first.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(b []byte) (int, error) { return c.r.Read(b) }
