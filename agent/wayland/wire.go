//go:build linux

// Package wayland is a small Wayland client: the wire protocol and the few
// interfaces Tether speaks (the registry, shared-memory buffers, outputs,
// wlroots' screencopy and virtual pointer, the virtual keyboard, and the
// surface, seat and xdg-shell requests of the test client).
//
// It is ours rather than a generated binding because capture and input are
// the product: the agent needs a dozen messages, and a generator plus a
// C library (libwayland-client) would be a larger thing to ship and audit
// than the wire format itself, which is simple: each message is the
// object id, then the size and opcode in one word, then 32-bit aligned
// arguments; file descriptors travel beside it as SCM_RIGHTS.
package wayland

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// Handler receives an object's events. m is valid only during the call.
type Handler func(opcode uint16, m *Msg)

// Conn is a connection to a compositor. Requests may be sent from any
// goroutine; events are read and dispatched by whoever calls Dispatch (one
// goroutine at a time).
type Conn struct {
	sock *net.UnixConn

	wmu sync.Mutex // one request at a time on the socket

	mu      sync.Mutex
	next    uint32
	free    []uint32
	objects map[uint32]*Object
	err     error // the first protocol error or read failure

	rbuf []byte // unread bytes
	fds  []int  // received and not yet taken by a message
}

// Object is a protocol object on a Conn.
type Object struct {
	ID      uint32
	Iface   string
	Version uint32
	conn    *Conn
	handler Handler
}

// The display object's requests and events (wl_display).
const (
	displaySync        = 0
	displayGetRegistry = 1
	displayEvError     = 0
	displayEvDeleteID  = 1
)

// ErrProtocol wraps a wl_display.error from the compositor.
var ErrProtocol = errors.New("wayland: protocol error")

// SocketPath is where the client of display (WAYLAND_DISPLAY: a name in
// runtimeDir, or an absolute path) connects.
func SocketPath(runtimeDir, display string) (string, error) {
	if display == "" {
		display = "wayland-0"
	}
	if filepath.IsAbs(display) {
		return display, nil
	}
	if runtimeDir == "" {
		return "", errors.New("wayland: XDG_RUNTIME_DIR is not set")
	}
	return filepath.Join(runtimeDir, display), nil
}

// DialEnv connects to the compositor named by WAYLAND_DISPLAY and
// XDG_RUNTIME_DIR.
func DialEnv() (*Conn, error) {
	d := os.Getenv("WAYLAND_DISPLAY")
	if d == "" {
		return nil, errors.New("wayland: WAYLAND_DISPLAY is not set")
	}
	p, err := SocketPath(os.Getenv("XDG_RUNTIME_DIR"), d)
	if err != nil {
		return nil, err
	}
	return Dial(p)
}

// Dial connects to the compositor socket at path.
func Dial(path string) (*Conn, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("wayland: connecting to %s: %w", path, err)
	}
	conn := &Conn{sock: c, next: 2, objects: map[uint32]*Object{}}
	conn.objects[1] = &Object{ID: 1, Iface: "wl_display", Version: 1, conn: conn, handler: conn.displayEvent}
	return conn, nil
}

// Close closes the connection and any received descriptors not taken.
func (c *Conn) Close() error {
	c.mu.Lock()
	for _, fd := range c.fds {
		unix.Close(fd)
	}
	c.fds = nil
	if c.err == nil {
		c.err = net.ErrClosed
	}
	c.mu.Unlock()
	return c.sock.Close()
}

// Err is the error that ended the connection, if any.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Conn) fail(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
	return c.err
}

func (c *Conn) displayEvent(op uint16, m *Msg) {
	switch op {
	case displayEvError:
		id, code, msg := m.Uint(), m.Uint(), m.String()
		iface := "?"
		c.mu.Lock()
		if o := c.objects[id]; o != nil {
			iface = o.Iface
		}
		c.mu.Unlock()
		c.fail(fmt.Errorf("%w: %s@%d: code %d: %s", ErrProtocol, iface, id, code, msg))
	case displayEvDeleteID:
		id := m.Uint()
		c.mu.Lock()
		delete(c.objects, id)
		c.free = append(c.free, id)
		c.mu.Unlock()
	}
}

// Display is the wl_display object (id 1).
func (c *Conn) Display() *Object {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.objects[1]
}

// NewObject allocates a client object id for iface with its event handler.
func (c *Conn) NewObject(iface string, version uint32, h Handler) *Object {
	c.mu.Lock()
	defer c.mu.Unlock()
	var id uint32
	if n := len(c.free); n > 0 {
		id, c.free = c.free[n-1], c.free[:n-1]
	} else {
		id = c.next
		c.next++
	}
	o := &Object{ID: id, Iface: iface, Version: version, conn: c, handler: h}
	c.objects[id] = o
	return o
}

// SetHandler replaces o's event handler.
func (o *Object) SetHandler(h Handler) {
	o.conn.mu.Lock()
	o.handler = h
	o.conn.mu.Unlock()
}

// Arg is one request argument.
type Arg struct {
	kind byte // 'u' 'i' 'f' 's' 'o' 'n' 'h' 'a'
	u    uint32
	s    string
	b    []byte
}

// Uint, Int, Fixed, String, Obj, NewID, FD and Array make request
// arguments. A nil object (Obj(nil)) is the null object.
func Uint(v uint32) Arg   { return Arg{kind: 'u', u: v} }
func Int(v int32) Arg     { return Arg{kind: 'i', u: uint32(v)} }
func Fixed(v float64) Arg { return Arg{kind: 'f', u: uint32(int32(math.Round(v * 256)))} }
func String(s string) Arg { return Arg{kind: 's', s: s} }
func NewID(o *Object) Arg { return Arg{kind: 'n', u: o.ID} }
func FD(fd int) Arg       { return Arg{kind: 'h', u: uint32(fd)} }
func Array(b []byte) Arg  { return Arg{kind: 'a', b: b} }
func Obj(o *Object) Arg {
	if o == nil {
		return Arg{kind: 'o'}
	}
	return Arg{kind: 'o', u: o.ID}
}

// maxMessage is the protocol's limit on one message (the size field is 16
// bits).
const maxMessage = 1<<16 - 4

// Send sends request opcode on o.
func (o *Object) Send(opcode uint16, args ...Arg) error {
	if err := o.conn.Err(); err != nil {
		return err
	}
	buf := make([]byte, 8, 64)
	var fds []int
	for _, a := range args {
		switch a.kind {
		case 's':
			buf = appendBytes(buf, append([]byte(a.s), 0))
		case 'a':
			buf = appendBytes(buf, a.b)
		case 'h':
			fds = append(fds, int(a.u))
		default:
			buf = binary.LittleEndian.AppendUint32(buf, a.u)
		}
	}
	if len(buf) > maxMessage {
		return fmt.Errorf("wayland: %s request %d of %d bytes is too long", o.Iface, opcode, len(buf))
	}
	binary.LittleEndian.PutUint32(buf, o.ID)
	binary.LittleEndian.PutUint32(buf[4:], uint32(len(buf))<<16|uint32(opcode))
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	c := o.conn
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, _, err := c.sock.WriteMsgUnix(buf, oob, nil); err != nil {
		return c.fail(fmt.Errorf("wayland: sending %s request %d: %w", o.Iface, opcode, err))
	}
	return nil
}

func appendBytes(buf, b []byte) []byte {
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(b)))
	buf = append(buf, b...)
	for len(buf)%4 != 0 {
		buf = append(buf, 0)
	}
	return buf
}

// Dispatch reads what the compositor sent (blocking until something comes)
// and calls the handlers of its messages. It returns the connection's
// error once there is one.
func (c *Conn) Dispatch() error {
	if err := c.Err(); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(28*4))
	n, oobn, _, _, err := c.sock.ReadMsgUnix(buf, oob)
	if err != nil {
		return c.fail(fmt.Errorf("wayland: reading: %w", err))
	}
	if oobn > 0 {
		cms, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return c.fail(fmt.Errorf("wayland: reading descriptors: %w", err))
		}
		for _, cm := range cms {
			if fds, err := unix.ParseUnixRights(&cm); err == nil {
				c.mu.Lock()
				c.fds = append(c.fds, fds...)
				c.mu.Unlock()
			}
		}
	}
	c.rbuf = append(c.rbuf, buf[:n]...)
	for len(c.rbuf) >= 8 {
		id := binary.LittleEndian.Uint32(c.rbuf)
		w := binary.LittleEndian.Uint32(c.rbuf[4:])
		size, op := int(w>>16), uint16(w)
		if size < 8 || size%4 != 0 {
			return c.fail(fmt.Errorf("%w: message of %d bytes", ErrProtocol, size))
		}
		if len(c.rbuf) < size {
			break
		}
		m := &Msg{data: c.rbuf[8:size], conn: c}
		c.mu.Lock()
		o := c.objects[id]
		c.mu.Unlock()
		if o != nil && o.handler != nil {
			o.handler(op, m)
		}
		c.rbuf = c.rbuf[size:]
		if err := c.Err(); err != nil {
			return err
		}
	}
	if len(c.rbuf) == 0 {
		c.rbuf = nil
	}
	return nil
}

// Roundtrip sends wl_display.sync and dispatches until its callback is
// done: every request sent before has been handled by the compositor and
// every event it caused dispatched.
func (c *Conn) Roundtrip() error {
	done := false
	cb := c.NewObject("wl_callback", 1, func(uint16, *Msg) { done = true })
	if err := c.Display().Send(displaySync, NewID(cb)); err != nil {
		return err
	}
	for !done {
		if err := c.Dispatch(); err != nil {
			return err
		}
	}
	return nil
}

// Msg is an event's arguments, read in order. A malformed message yields
// zero values and sets Err.
type Msg struct {
	data []byte
	conn *Conn
	Err  error
}

func (m *Msg) word() uint32 {
	if len(m.data) < 4 {
		if m.Err == nil {
			m.Err = fmt.Errorf("%w: short message", ErrProtocol)
		}
		return 0
	}
	v := binary.LittleEndian.Uint32(m.data)
	m.data = m.data[4:]
	return v
}

// Uint reads a uint or an object id.
func (m *Msg) Uint() uint32 { return m.word() }

// Int reads an int.
func (m *Msg) Int() int32 { return int32(m.word()) }

// Fixed reads a 24.8 fixed-point number.
func (m *Msg) Fixed() float64 { return float64(int32(m.word())) / 256 }

// Array reads an array; the bytes are valid only during the handler.
func (m *Msg) Array() []byte {
	n := int(m.word())
	p := (n + 3) &^ 3
	if n < 0 || p > len(m.data) {
		if m.Err == nil {
			m.Err = fmt.Errorf("%w: array of %d bytes in a short message", ErrProtocol, n)
		}
		m.data = nil
		return nil
	}
	b := m.data[:n]
	m.data = m.data[p:]
	return b
}

// String reads a string (without its terminating NUL).
func (m *Msg) String() string {
	b := m.Array()
	if len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return string(b)
}

// FD takes the next received descriptor; the handler owns it. -1 when the
// compositor sent none. A handler must take the descriptors of every event
// that carries them (wl_keyboard.keymap), or later ones are misread.
func (m *Msg) FD() int {
	c := m.conn
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.fds) == 0 {
		if m.Err == nil {
			m.Err = fmt.Errorf("%w: descriptor missing", ErrProtocol)
		}
		return -1
	}
	fd := c.fds[0]
	c.fds = c.fds[1:]
	return fd
}
