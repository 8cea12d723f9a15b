package netproxy

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// relayUser is the user name in the relay's URL; the password is random.
const relayUser = "tether"

// Relay is the service's local CONNECT proxy for its session helpers: it
// listens on loopback, asks for a secret the helpers are handed, allows
// only targets Allow accepts (the server), and goes on through the
// agent's proxy. So the proxy's credentials stay in the service.
type Relay struct {
	ln     net.Listener
	srv    *http.Server
	secret string
	allow  func(host string) bool
	dial   func(ctx context.Context, addr string) (net.Conn, error)
	log    *slog.Logger
	wg     sync.WaitGroup

	mu      sync.Mutex
	tunnels map[net.Conn]bool // both ends of every open tunnel
	closed  bool
}

// StartRelay listens on 127.0.0.1. allow reports whether a CONNECT target's
// host (a name or an address) may be reached; upstream is the proxy to go
// through (nil: connect directly).
func StartRelay(upstream *url.URL, allow func(host string) bool, log *slog.Logger) (*Relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	r := &Relay{ln: ln, secret: hex.EncodeToString(b), allow: allow, log: log.With("component", "proxy-relay")}
	r.dial = func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	if upstream != nil {
		pd := Dialer{Proxy: upstream}
		r.dial = func(ctx context.Context, addr string) (net.Conn, error) { return pd.DialContext(ctx, "tcp", addr) }
	}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(ln)
	return r, nil
}

// URL is the proxy URL a helper uses, secret included.
func (r *Relay) URL() *url.URL {
	return &url.URL{Scheme: "http", User: url.UserPassword(relayUser, r.secret), Host: r.ln.Addr().String()}
}

// Close stops the relay and the tunnels it carries.
func (r *Relay) Close() error {
	err := r.srv.Close()
	r.mu.Lock()
	r.closed = true
	for c := range r.tunnels {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	return err
}

// track records a tunnel's ends; false (and both closed) once the relay
// is closing.
func (r *Relay) track(down, up net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		down.Close()
		up.Close()
		return false
	}
	if r.tunnels == nil {
		r.tunnels = map[net.Conn]bool{}
	}
	r.tunnels[down], r.tunnels[up] = true, true
	return true
}

func (r *Relay) untrack(down, up net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.tunnels, down)
	delete(r.tunnels, up)
}

func (r *Relay) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodConnect {
		http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
		return
	}
	if !r.authorized(req) {
		w.Header().Set("Proxy-Authenticate", `Basic realm="tether"`)
		http.Error(w, "proxy credentials required", http.StatusProxyAuthRequired)
		return
	}
	host, _, err := net.SplitHostPort(req.Host)
	if err != nil || !r.allow(host) {
		r.log.Warn("CONNECT refused: not the server", "target", req.Host)
		http.Error(w, "only the Tether server", http.StatusForbidden)
		return
	}
	ctx, cancel := context.WithTimeout(req.Context(), dialTimeout)
	up, err := r.dial(ctx, req.Host)
	cancel()
	if err != nil {
		r.log.Warn("CONNECT failed", "target", req.Host, "err", err)
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "cannot tunnel", http.StatusInternalServerError)
		return
	}
	down, brw, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if _, err := io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		down.Close()
		up.Close()
		return
	}
	if !r.track(down, up) {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer r.untrack(down, up)
		pipe(down, up, brw.Reader)
	}()
}

// authorized checks the relay's Basic credentials in constant time.
func (r *Relay) authorized(req *http.Request) bool {
	fake := &http.Request{Header: http.Header{"Authorization": req.Header.Values("Proxy-Authorization")}}
	user, pass, ok := fake.BasicAuth()
	return ok && user == relayUser && subtle.ConstantTimeCompare([]byte(pass), []byte(r.secret)) == 1
}

// pipe copies both ways until either side ends, then closes both.
func pipe(down, up net.Conn, pending io.Reader) {
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, pending); done <- struct{}{} }()
	go func() { _, _ = io.Copy(down, up); done <- struct{}{} }()
	<-done
	down.Close()
	up.Close()
	<-done
}

// ServerHosts allows the host of serverURL and, for TURN URLs that name
// the relay by address, every address that host resolves to.
func ServerHosts(serverURL *url.URL) func(host string) bool {
	name := serverURL.Hostname()
	return func(host string) bool {
		if host == name {
			return true
		}
		ip := net.ParseIP(host)
		if ip == nil {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, name)
		if err != nil {
			return false
		}
		for _, a := range addrs {
			if a.IP.Equal(ip) {
				return true
			}
		}
		return false
	}
}
