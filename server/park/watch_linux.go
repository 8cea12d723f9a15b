package park

import (
	"errors"
	"net"
	"sync"

	"golang.org/x/sys/unix"
)

// watchesIdle: epoll tells a readable socket without reading it, so an
// answered connection can wait for its next request here.
const watchesIdle = true

// epollWatcher watches every parked socket from one goroutine with an
// epoll set of its own: a socket readable (data, end of stream, reset) is
// a hang-up. Go's runtime poller keeps its own registration of the same
// sockets; the two do not interfere.
type epollWatcher struct {
	fd     int
	mu     sync.Mutex
	next   uint64
	conns  map[uint64]*watched
	closed bool
	wake   int // eventfd that ends the loop
}

type watched struct {
	conn net.Conn
	fd   int
	gone func()
}

func newWatcher() (watcher, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN} // id 0: the wake
	if err := unix.EpollCtl(fd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(fd)
		unix.Close(wake)
		return nil, err
	}
	w := &epollWatcher{fd: fd, wake: wake, conns: map[uint64]*watched{}, next: 1}
	go w.loop()
	return w, nil
}

func (w *epollWatcher) watch(c net.Conn, gone func()) (func() bool, error) {
	sc, ok := socket(c)
	if !ok {
		return nil, errors.New("park: no socket under the connection")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil, errors.New("park: watcher closed")
	}
	id := w.next
	w.next++
	entry := &watched{conn: c, fd: -1, gone: gone}
	w.conns[id] = entry
	w.mu.Unlock()
	// One-shot: the first sign is enough, and a level-triggered socket
	// would otherwise report itself until it is closed.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(id), Pad: int32(id >> 32)}
	var addErr error
	if err := rc.Control(func(fd uintptr) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.closed {
			addErr = errors.New("park: watcher closed")
			return
		}
		entry.fd = int(fd)
		addErr = unix.EpollCtl(w.fd, unix.EPOLL_CTL_ADD, int(fd), &ev)
		if errors.Is(addErr, unix.EEXIST) {
			// Left from an earlier watch of the same socket.
			addErr = unix.EpollCtl(w.fd, unix.EPOLL_CTL_MOD, int(fd), &ev)
		}
	}); err != nil {
		addErr = err
	}
	if addErr != nil {
		w.mu.Lock()
		delete(w.conns, id)
		w.mu.Unlock()
		return nil, addErr
	}
	return func() bool {
		w.mu.Lock()
		_, ok := w.conns[id]
		delete(w.conns, id)
		w.mu.Unlock()
		_ = rc.Control(func(fd uintptr) {
			w.mu.Lock()
			defer w.mu.Unlock()
			if !w.closed {
				_ = unix.EpollCtl(w.fd, unix.EPOLL_CTL_DEL, int(fd), nil)
			}
		})
		return ok
	}, nil
}

func (w *epollWatcher) loop() {
	defer func() {
		w.mu.Lock()
		w.closed = true // for an early exit; close set it otherwise
		unix.Close(w.fd)
		unix.Close(w.wake)
		w.mu.Unlock()
	}()
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(w.fd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if id == 0 {
				w.mu.Lock()
				for _, c := range w.conns {
					c.conn.Close()
				}
				w.conns = nil
				w.mu.Unlock()
				return
			}
			w.mu.Lock()
			c := w.conns[id]
			delete(w.conns, id)
			if c != nil && c.fd >= 0 {
				// Still open: only gone closes it, after this. A socket
				// watched again (its next request) is added afresh.
				_ = unix.EpollCtl(w.fd, unix.EPOLL_CTL_DEL, c.fd, nil)
			}
			w.mu.Unlock()
			if c != nil {
				go c.gone()
			}
		}
	}
}

func (w *epollWatcher) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return // the loop has ended, or was told to
	}
	w.closed = true
	// Under w.mu: the loop closes the eventfd only with it held.
	var one = [8]byte{1}
	_, _ = unix.Write(w.wake, one[:])
}
