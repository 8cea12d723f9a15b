//go:build linux

package wayland

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Shared-memory pixel formats (wl_shm.format): both are B, G, R, X/A bytes
// in memory on a little-endian machine.
const (
	FormatARGB8888 = 0
	FormatXRGB8888 = 1
)

// Buffer is a wl_buffer in memory shared with the compositor.
type Buffer struct {
	Obj          *Object
	Mem          []byte
	W, H, Stride int
	Format       uint32
	Released     func() // called (on the dispatching goroutine) when the compositor lets go
	fd           int
	pool         *Object
}

// NewBuffer creates a w×h buffer of format with stride bytes per row, in a
// memfd mapped here and in the compositor.
func NewBuffer(shm *Object, w, h, stride int, format uint32) (*Buffer, error) {
	size := stride * h
	if w <= 0 || h <= 0 || stride < w*4 || size <= 0 || size > 1<<30 {
		return nil, fmt.Errorf("wayland: buffer %dx%d stride %d is out of range", w, h, stride)
	}
	fd, err := unix.MemfdCreate("tether-wl", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("wayland: creating shared memory: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("wayland: sizing shared memory: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("wayland: mapping shared memory: %w", err)
	}
	c := shm.conn
	b := &Buffer{Mem: mem, W: w, H: h, Stride: stride, Format: format, fd: fd}
	b.pool = c.NewObject("wl_shm_pool", 1, nil)
	b.Obj = c.NewObject("wl_buffer", 1, func(op uint16, _ *Msg) {
		if op == 0 && b.Released != nil { // release
			b.Released()
		}
	})
	err = shm.Send(0, NewID(b.pool), FD(fd), Int(int32(size))) // create_pool
	if err == nil {
		err = b.pool.Send(0, NewID(b.Obj), Int(0), Int(int32(w)), Int(int32(h)), Int(int32(stride)), Uint(format)) // create_buffer
	}
	if err == nil {
		err = b.pool.Send(1) // destroy: the buffer keeps the memory
	}
	if err != nil {
		b.free()
		return nil, err
	}
	return b, nil
}

// Destroy destroys the wl_buffer and unmaps the memory.
func (b *Buffer) Destroy() {
	if b.Obj != nil {
		b.Obj.Send(0) //nolint:errcheck // the connection may be gone; the memory is ours
	}
	b.free()
}

func (b *Buffer) free() {
	if b.Mem != nil {
		unix.Munmap(b.Mem)
		b.Mem = nil
	}
	if b.fd >= 0 {
		unix.Close(b.fd)
		b.fd = -1
	}
}
