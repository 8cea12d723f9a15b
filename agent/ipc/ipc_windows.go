package ipc

import (
	"context"
	"errors"
	"net"
)

// ErrUnsupported: the Windows named pipe with an ACL (SYSTEM and the
// session user only) is not implemented yet.
var ErrUnsupported = errors.New("ipc: the named-pipe channel to session helpers is not implemented on Windows yet")

// Listen is not implemented on Windows yet.
func Listen(ListenConfig) (*Listener, error) { return nil, ErrUnsupported }

func (l *Listener) close() error { return nil }

func dial(context.Context, string) (net.Conn, error) { return nil, ErrUnsupported }

// PeerUID is not implemented on Windows yet.
func PeerUID(net.Conn) (uint32, error) { return 0, ErrUnsupported }
