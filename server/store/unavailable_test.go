package store

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
)

type sqlState string

func (s sqlState) Error() string    { return "postgres says " + string(s) }
func (s sqlState) SQLState() string { return string(s) }

func TestUnavailable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{ErrNotFound, false},
		{fmt.Errorf("list agents: %w", ErrConflict), false},
		{errors.New("syntax error at or near"), false},
		{sqlState("23505"), false}, // unique violation: the request's fault
		{fmt.Errorf("list agents: %w", refused), true},
		{fmt.Errorf("query: %w", driver.ErrBadConn), true},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{fmt.Errorf("query: %w", sqlState("57P01")), true}, // admin shutdown
		{sqlState("57P03"), true},                          // cannot connect now
		{sqlState("08006"), true},                          // connection failure
	} {
		if got := Unavailable(c.err); got != c.want {
			t.Errorf("Unavailable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
