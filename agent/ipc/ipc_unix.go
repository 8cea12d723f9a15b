//go:build unix

package ipc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
)

// Listen creates the socket. Its directory is created if needed; the
// socket itself is world-connectable (0666) because the peer-credential
// check, not the file mode, decides who may talk: helpers run as the
// desktop user, the service as root.
func Listen(cfg ListenConfig) (*Listener, error) {
	if cfg.Path == "" || cfg.Allowed == nil {
		return nil, errors.New("ipc: socket path and Allowed are required")
	}
	if cfg.UIDOf == nil {
		cfg.UIDOf = PeerUID
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o755); err != nil {
		return nil, fmt.Errorf("ipc: creating socket directory: %w", err)
	}
	if err := os.Remove(cfg.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("ipc: removing stale socket: %w", err)
	}
	ln, err := net.Listen("unix", cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("ipc: listening on %s: %w", cfg.Path, err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(cfg.Path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("ipc: socket mode: %w", err)
	}
	return &Listener{ln: ln, allowed: cfg.Allowed, uidOf: cfg.UIDOf, path: cfg.Path}, nil
}

func (l *Listener) close() error { return l.ln.Close() }

// dial connects and checks that the listener is the service: root or the
// helper's own user (`run` mode). A socket planted by another user is
// refused, so a helper never takes sessions from an impostor.
func dial(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	me := uint32(os.Geteuid())
	if _, err := CheckPeer(c, PeerUID, func(uid uint32) bool { return uid == 0 || uid == me }); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// PeerUID returns the user id of the process at the other end of a Unix
// socket connection.
func PeerUID(c net.Conn) (uint32, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, fmt.Errorf("not a unix socket connection: %T", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var (
		uid  uint32
		cerr error
	)
	if err := raw.Control(func(fd uintptr) { uid, cerr = peerUID(int(fd)) }); err != nil {
		return 0, err
	}
	return uid, cerr
}
