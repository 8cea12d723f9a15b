// Package portmux serves HTTPS and TURN on one TCP port. Each accepted
// connection is sorted by its first bytes: a TLS handshake is terminated
// here (ALPN "stun.turn" is TURN, "http/1.1" is HTTP, none is sorted again
// by the first decrypted bytes), a STUN message is TURN over plain TCP, and
// anything else is HTTP. So a firewall that passes only TCP 443 passes the
// console, the agents' API, the websockets and the TURN relay.
package portmux

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// sortTimeout bounds the TLS handshake and the wait for the first bytes of
// a connection; http.Server's ReadHeaderTimeout covers what follows.
const sortTimeout = 10 * time.Second

// maxPending caps connections being sorted at once: past it Accept waits,
// as the kernel's backlog would.
const maxPending = 1024

// ALPNTURN is the ALPN protocol id of TURN over TLS (RFC 7443).
const ALPNTURN = "stun.turn"

// stunMagic is the STUN magic cookie (RFC 5389), at bytes 4-7 of every
// STUN message.
const stunMagic = 0x2112A442

// Mux sorts the connections of one listener. Serve runs the accept loop;
// HTTP and TURN are the listeners to hand to http.Server and the relay.
type Mux struct {
	ln     net.Listener
	tlsCfg *tls.Config
	log    *slog.Logger
	http   *chanListener
	turn   *chanListener
	sem    chan struct{}
}

// New sorts the connections of ln. With tlsCfg nil the port is plain
// (insecure_http on loopback): HTTP and TURN over TCP only. tlsCfg is
// cloned; its NextProtos become "stun.turn" and "http/1.1".
func New(ln net.Listener, tlsCfg *tls.Config, log *slog.Logger) *Mux {
	if log == nil {
		log = slog.Default()
	}
	if tlsCfg != nil {
		tlsCfg = tlsCfg.Clone()
		// TURN first: the server's order wins, and TURN clients (coturn's)
		// offer "http/1.1" before "stun.turn". No h2: the websockets need
		// HTTP/1.1.
		tlsCfg.NextProtos = []string{ALPNTURN, "http/1.1"}
	}
	m := &Mux{ln: ln, tlsCfg: tlsCfg, log: log.With("component", "portmux"), sem: make(chan struct{}, maxPending)}
	m.http = newChanListener(ln.Addr())
	m.turn = newChanListener(ln.Addr())
	return m
}

// HTTP is the listener of the HTTP connections (TLS already terminated).
func (m *Mux) HTTP() net.Listener { return m.http }

// TURN is the listener of the TURN connections, over TLS or plain TCP.
func (m *Mux) TURN() net.Listener { return m.turn }

// TLS reports whether the port terminates TLS.
func (m *Mux) TLS() bool { return m.tlsCfg != nil }

// Serve accepts until the listener is closed, then closes HTTP and TURN.
func (m *Mux) Serve() error {
	defer m.http.close()
	defer m.turn.close()
	var delay time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		m.sem <- struct{}{}
		go func() {
			defer func() { <-m.sem }()
			m.sort(c)
		}()
	}
}

// Close closes the underlying listener; Serve then returns.
func (m *Mux) Close() error { return m.ln.Close() }

// sort hands c to HTTP or TURN, or closes it.
func (m *Mux) sort(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(sortTimeout))
	br := bufio.NewReader(c)
	first, err := br.Peek(1)
	if err != nil {
		c.Close()
		return
	}
	var conn net.Conn = &peekedConn{Conn: c, r: br}
	if first[0] == 0x16 && m.tlsCfg != nil { // a TLS handshake record
		tc := tls.Server(conn, m.tlsCfg)
		if err := tc.Handshake(); err != nil {
			m.log.Debug("TLS handshake failed", "remote", c.RemoteAddr().String(), "err", err)
			c.Close()
			return
		}
		switch tc.ConnectionState().NegotiatedProtocol {
		case ALPNTURN:
			m.deliver(m.turn, tc, c)
			return
		case "http/1.1":
			// A *tls.Conn as such: http.Server fills Request.TLS from it.
			m.deliver(m.http, tc, c)
			return
		}
		// No ALPN (most TURN clients, Go clients with their own TLS
		// config): sort by the first decrypted bytes.
		br = bufio.NewReader(tc)
		conn = &peekedConn{Conn: tc, r: br}
	}
	head, err := br.Peek(8)
	if err != nil {
		conn.Close()
		return
	}
	if isSTUN(head) {
		m.deliver(m.turn, conn, c)
		return
	}
	m.deliver(m.http, conn, c)
}

// deliver clears the sorting deadline and queues conn on l.
func (m *Mux) deliver(l *chanListener, conn, raw net.Conn) {
	_ = raw.SetDeadline(time.Time{})
	if !l.push(conn) {
		conn.Close()
	}
}

// isSTUN reports whether b starts a STUN message: the two top bits zero
// and the magic cookie at bytes 4-7. HTTP methods and TLS records never
// match.
func isSTUN(b []byte) bool {
	return len(b) >= 8 && b[0]&0xC0 == 0 && binary.BigEndian.Uint32(b[4:8]) == stunMagic
}

// peekedConn reads through the reader that peeked at it until that is
// drained, then from the connection itself: an idle connection (a held
// poll) keeps no buffer.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) {
	if p.r != nil {
		if p.r.Buffered() > 0 {
			return p.r.Read(b)
		}
		p.r = nil
	}
	return p.Conn.Read(b)
}

// NetConn is the connection under p (for its socket).
func (p *peekedConn) NetConn() net.Conn { return p.Conn }

// chanListener is a net.Listener fed by the mux.
type chanListener struct {
	addr   net.Addr
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to Accept; false when the listener is closed.
func (l *chanListener) push(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept. The mux's own listener stays open: closing the
// HTTP side (http.Server.Shutdown) must not stop TURN.
func (l *chanListener) Close() error { l.close(); return nil }

func (l *chanListener) close()         { l.closed.Do(func() { close(l.done) }) }
func (l *chanListener) Addr() net.Addr { return l.addr }
