//go:build !linux

package park

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// watchesIdle: a one-byte read would take the first byte of the next
// request, so an answered connection goes straight back to http.Server.
const watchesIdle = false

// readWatcher watches each parked connection with a goroutine blocked
// in a one-byte read of its socket: dearer than Linux's epoll, but
// portable.
type readWatcher struct {
	mu     sync.Mutex
	conns  map[*readWatch]struct{}
	closed bool
}

type readWatch struct {
	conn    net.Conn
	stopped atomic.Bool
	fired   atomic.Bool
	done    chan struct{}
}

func newWatcher() (watcher, error) { return &readWatcher{conns: map[*readWatch]struct{}{}}, nil }

func (w *readWatcher) watch(c net.Conn, gone func()) (func() bool, error) {
	raw := c
	if sc, ok := socket(c); ok {
		if nc, ok := sc.(net.Conn); ok {
			raw = nc // read below TLS: any byte is a hang-up anyway
		}
	}
	rw := &readWatch{conn: raw, done: make(chan struct{})}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil, net.ErrClosed
	}
	w.conns[rw] = struct{}{}
	w.mu.Unlock()
	go func() {
		defer close(rw.done)
		var b [1]byte
		_, _ = raw.Read(b[:])
		if !rw.stopped.Load() && rw.fired.CompareAndSwap(false, true) {
			w.mu.Lock()
			delete(w.conns, rw)
			w.mu.Unlock()
			gone()
		}
	}()
	return func() bool {
		rw.stopped.Store(true)
		_ = raw.SetReadDeadline(time.Unix(1, 0))
		<-rw.done
		_ = raw.SetReadDeadline(time.Time{})
		w.mu.Lock()
		delete(w.conns, rw)
		w.mu.Unlock()
		return !rw.fired.Load()
	}, nil
}

func (w *readWatcher) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	for rw := range w.conns {
		rw.conn.Close()
	}
}
