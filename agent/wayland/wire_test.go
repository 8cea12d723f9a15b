//go:build linux

package wayland

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// pair is a Conn on one end of a socket pair and the raw other end, the
// compositor's side.
func pair(t testing.TB) (*Conn, *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "sock")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	c := &Conn{sock: conn(fds[0]), next: 2, objects: map[uint32]*Object{}}
	c.objects[1] = &Object{ID: 1, Iface: "wl_display", Version: 1, conn: c, handler: c.displayEvent}
	other := conn(fds[1])
	t.Cleanup(func() { c.Close(); other.Close() })
	return c, other
}

// message is a compositor's event: object, opcode, arguments.
func message(id uint32, op uint16, args ...[]byte) []byte {
	var body []byte
	for _, a := range args {
		body = append(body, a...)
	}
	b := binary.LittleEndian.AppendUint32(nil, id)
	b = binary.LittleEndian.AppendUint32(b, uint32(8+len(body))<<16|uint32(op))
	return append(b, body...)
}

func u32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func str(s string) []byte { return appendBytes(nil, append([]byte(s), 0)) }

func TestRequestEncoding(t *testing.T) {
	c, other := pair(t)
	o := c.NewObject("test", 1, nil)
	if err := o.Send(3, Uint(7), Int(-2), Fixed(1.5), String("hi"), Obj(nil), Array([]byte{1, 2, 3})); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	n, err := other.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	want := message(o.ID, 3, u32(7), u32(0xfffffffe), u32(384), str("hi"), u32(0), appendBytes(nil, []byte{1, 2, 3}))
	if got := buf[:n]; string(got) != string(want) {
		t.Errorf("request bytes\n%x\nwant\n%x", got, want)
	}
}

func TestEventDecoding(t *testing.T) {
	c, other := pair(t)
	var got []any
	o := c.NewObject("test", 1, func(op uint16, m *Msg) {
		got = append(got, op, m.Uint(), m.Int(), m.Fixed(), m.String(), m.Array(), m.Err)
	})
	ev := message(o.ID, 5, u32(9), u32(0xffffffff), u32(512), str("wl"), appendBytes(nil, []byte{4, 5}))
	// Split across two writes: a message may arrive in pieces.
	other.Write(ev[:7])
	other.Write(ev[7:])
	for len(got) == 0 {
		if err := c.Dispatch(); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 7 || got[0] != uint16(5) || got[1] != uint32(9) || got[2] != int32(-1) || got[3] != 2.0 || got[4] != "wl" ||
		string(got[5].([]byte)) != "\x04\x05" || got[6] != nil {
		t.Errorf("decoded %v", got)
	}
	// A protocol error from the compositor ends the connection with it.
	other.Write(message(1, displayEvError, u32(o.ID), u32(3), str("bad request")))
	if err := c.Dispatch(); !errors.Is(err, ErrProtocol) {
		t.Errorf("after wl_display.error Dispatch = %v, want ErrProtocol", err)
	}
}

// FuzzDispatch: whatever a compositor sends, Dispatch decodes it or
// fails with an error; it never panics or reads past a message.
func FuzzDispatch(f *testing.F) {
	f.Add(message(2, 0, u32(1), str("abc"), appendBytes(nil, []byte{1})))
	f.Add(message(1, displayEvDeleteID, u32(2)))
	f.Add(message(1, displayEvError, u32(2), u32(1), str("x")))
	f.Add([]byte{2, 0, 0, 0, 0, 0, 9, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4000 {
			return
		}
		c, other := pair(t)
		c.NewObject("test", 1, func(op uint16, m *Msg) {
			m.Uint()
			_ = m.String()
			m.Array()
			m.Fixed()
			m.Int()
		})
		if _, err := other.Write(b); err != nil {
			t.Skip()
		}
		other.Close()
		for i := 0; i < 10; i++ {
			if err := c.Dispatch(); err != nil {
				return
			}
		}
	})
}
