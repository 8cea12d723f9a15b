// Package park keeps idle HTTP/1.1 requests, the agents' held polls,
// without a goroutine or buffers each. A parked request's connection is
// taken from net/http (hijacked), watched for a hang-up by one loop for
// all of them, answered when its hold ends, and handed back to the
// http.Server through the Lot's listener for the agent's next request.
//
// A held poll served by net/http costs its connection's goroutines and
// their stacks, read and write buffers and the request's state, about
// 40 KiB; parked, what is left is the socket and the hold's own record.
package park

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// writeTimeout bounds the write of an answer to a parked connection.
const writeTimeout = 10 * time.Second

// DefaultIdle is how long an answered connection may wait for its next
// request: http.Server's IdleTimeout in tether-server.
const DefaultIdle = 2 * time.Minute

// ErrNotParked says the request was left to its handler: the connection
// cannot be taken (not HTTP/1.1, or not hijackable).
var ErrNotParked = errors.New("park: request not parked")

// Lot parks requests. Its Listener must be the one the http.Server
// serves, so answered connections go back to it.
type Lot struct {
	log  *slog.Logger
	idle time.Duration
	w    watcher
	back chan net.Conn
	done chan struct{}
	once sync.Once

	// parked counts requests parked and not yet answered or gone; Close
	// waits for them (shutdown answers every hold first).
	mu       sync.Mutex
	parked   int
	drained  chan struct{} // closed by Close's wait when parked reaches 0
	draining bool
}

// closeWait bounds how long Close waits for parked requests' answers.
const closeWait = 5 * time.Second

// New returns a Lot and starts its watcher. An answered connection waits
// for its next request in the watcher too, up to idle (0: DefaultIdle),
// and goes back to the http.Server when that request comes.
func New(log *slog.Logger, idle time.Duration) (*Lot, error) {
	if log == nil {
		log = slog.Default()
	}
	if idle <= 0 {
		idle = DefaultIdle
	}
	w, err := newWatcher()
	if err != nil {
		return nil, err
	}
	return &Lot{log: log.With("component", "park"), idle: idle, w: w, back: make(chan net.Conn), done: make(chan struct{})}, nil
}

// Close waits (up to closeWait) until every parked request is answered or
// its client gone, then stops the watcher and closes every connection
// still watched; an answer written after it closes its connection rather
// than hand it back. The holds end first (the service's Close), so this
// is the wait for their answers, which http.Server's Shutdown does not
// see.
func (l *Lot) Close() {
	l.once.Do(func() {
		l.mu.Lock()
		l.draining = true
		wait := l.parked > 0
		l.drained = make(chan struct{})
		l.mu.Unlock()
		if wait {
			t := time.NewTimer(closeWait)
			select {
			case <-l.drained:
			case <-t.C:
				l.log.Warn("closing with parked requests unanswered", "wait", closeWait)
			}
			t.Stop()
		}
		close(l.done)
		l.w.close()
	})
}

func (l *Lot) count(delta int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.parked += delta
	if l.parked == 0 && l.draining {
		select {
		case <-l.drained:
		default:
			close(l.drained)
		}
	}
}

// Listener returns ln's connections and those handed back after an
// answer. Closing it closes ln.
func (l *Lot) Listener(ln net.Listener) net.Listener {
	m := &listener{Listener: ln, lot: l, accepted: make(chan accepted), closed: make(chan struct{})}
	go m.acceptLoop()
	return m
}

type accepted struct {
	c   net.Conn
	err error
}

type listener struct {
	net.Listener
	lot      *Lot
	accepted chan accepted
	closed   chan struct{}
	once     sync.Once
}

func (m *listener) acceptLoop() {
	for {
		c, err := m.Listener.Accept()
		select {
		case m.accepted <- accepted{c, err}:
		case <-m.closed:
			if c != nil {
				c.Close()
			}
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
	}
}

func (m *listener) Accept() (net.Conn, error) {
	select {
	case a := <-m.accepted:
		return a.c, a.err
	case c := <-m.lot.back:
		return c, nil
	case <-m.closed:
		return nil, net.ErrClosed
	}
}

func (m *listener) Close() error {
	m.once.Do(func() { close(m.closed) })
	return m.Listener.Close()
}

// Answer writes a parked request's response as a handler would.
type Answer func(write func(http.ResponseWriter))

// Park takes r's connection from net/http; after a nil error the handler
// must return at once without writing. hold is called with the function
// that answers the request (once, from any goroutine, never before hold
// returns) and returns what Park calls if the client hangs up first (its
// result, whether the hold ended there, is not Park's business). With an
// error, nothing was taken and the handler goes on as usual.
func (l *Lot) Park(w http.ResponseWriter, r *http.Request, hold func(answer Answer) (hangUp func() bool)) error {
	if l == nil || r.ProtoMajor != 1 || r.ProtoMinor != 1 || r.Close {
		return ErrNotParked
	}
	select {
	case <-l.done:
		return ErrNotParked
	default:
	}
	header := w.Header().Clone()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return ErrNotParked
	}
	p := &parked{lot: l, conn: conn}
	l.count(+1)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hangUp = hold(func(write func(http.ResponseWriter)) { p.answer(header, write) })
	if brw.Reader.Buffered() > 0 {
		// The client sent more behind the request (pipelining, which
		// agents never do): it cannot be watched for a hang-up. Only
		// gone ends it; an answer on its way writes nothing.
		l.log.Debug("a parked request's client sent more; closing", "remote", conn.RemoteAddr().String())
		p.unwatch = func() bool { return false }
		go p.gone()
		return nil
	}
	if p.unwatch, err = l.w.watch(conn, p.gone); err != nil {
		// Unwatched, it still gets its answer; a hang-up shows only then.
		l.log.Debug("watching a parked connection", "err", err)
	}
	return nil
}

// parked is one parked request.
type parked struct {
	lot     *Lot
	conn    net.Conn
	mu      sync.Mutex
	hangUp  func() bool
	unwatch func() bool
	settled bool // counted out of the lot's parked requests
}

// settle counts p out of the lot's parked requests, once.
func (p *parked) settle() {
	p.mu.Lock()
	was := p.settled
	p.settled = true
	p.mu.Unlock()
	if !was {
		p.lot.count(-1)
	}
}

// gone is the watcher's call: the client hung up (or sent something,
// which a client waiting for an answer does not).
func (p *parked) gone() {
	p.mu.Lock()
	hangUp := p.hangUp
	p.mu.Unlock()
	hangUp()
	p.conn.Close()
	p.settle()
}

func (p *parked) answer(header http.Header, write func(http.ResponseWriter)) {
	defer p.settle()
	p.mu.Lock()
	unwatch := p.unwatch
	p.mu.Unlock()
	if unwatch != nil && !unwatch() {
		return // gone: the client hung up as the answer came
	}
	rw := &response{header: header, status: http.StatusOK}
	write(rw)
	rw.header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	resp := http.Response{StatusCode: rw.status, ProtoMajor: 1, ProtoMinor: 1, Header: rw.header,
		ContentLength: int64(rw.body.Len()), Body: io.NopCloser(&rw.body)}
	var out bytes.Buffer
	if err := resp.Write(&out); err != nil {
		p.conn.Close()
		return
	}
	_ = p.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := p.conn.Write(out.Bytes()); err != nil {
		p.conn.Close()
		return
	}
	_ = p.conn.SetWriteDeadline(time.Time{})
	if watchesIdle {
		p.lot.await(p.conn)
	} else {
		p.lot.handBack(p.conn)
	}
}

// await waits, in the watcher, for c's next request; http.Server would
// give an idle connection a goroutine, and its ReadHeaderTimeout would
// run from the moment c came back rather than from the request's start.
func (l *Lot) await(c net.Conn) {
	var (
		mu      sync.Mutex
		settled bool
		timer   *time.Timer
	)
	settle := func() bool {
		mu.Lock()
		defer mu.Unlock()
		was := settled
		settled = true
		if timer != nil {
			timer.Stop()
		}
		return !was
	}
	unwatch, err := l.w.watch(c, func() {
		if settle() {
			l.handBack(c)
		}
	})
	if err != nil {
		l.handBack(c)
		return
	}
	mu.Lock()
	defer mu.Unlock()
	if settled {
		return
	}
	timer = time.AfterFunc(l.idle, func() {
		if settle() {
			// Whether or not the watcher saw a request at the same
			// moment: its call found the connection settled and left
			// it, so it is closed here.
			unwatch()
			c.Close()
		}
	})
}

// handBack gives c to the http.Server for its next request.
func (l *Lot) handBack(c net.Conn) {
	select {
	case l.back <- c:
	case <-l.done:
		c.Close()
	}
}

// response collects a parked request's answer.
type response struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *response) Header() http.Header { return r.header }

func (r *response) WriteHeader(status int) {
	if !r.wrote {
		r.wrote, r.status = true, status
	}
}

func (r *response) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// watcher calls gone when a watched connection's client hangs up or sends
// anything; unwatch stops that and reports false when gone was called.
type watcher interface {
	watch(c net.Conn, gone func()) (unwatch func() bool, err error)
	close()
}

// socket finds the operating system's socket under c (TLS and the port
// multiplexer wrap it).
func socket(c net.Conn) (syscall.Conn, bool) {
	for range 8 {
		switch x := c.(type) {
		case *tls.Conn:
			c = x.NetConn()
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		case syscall.Conn:
			return x, true
		default:
			return nil, false
		}
	}
	return nil, false
}
