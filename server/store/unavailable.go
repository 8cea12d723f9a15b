package store

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
)

// Unavailable reports whether err says the database could not be reached
// (refused, reset, shut down, starting up), not that the request was
// wrong: the caller should answer 503 and be asked again shortly. It reads
// the driver's errors by their shape: a network error, a bad connection,
// a connection cut mid-answer, or a PostgreSQL state of class 08
// (connection exception) or 57P (operator intervention: shutdown,
// restart, not yet accepting connections).
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &oe) || errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var st interface{ SQLState() string }
	if errors.As(err, &st) {
		s := st.SQLState()
		return strings.HasPrefix(s, "08") || strings.HasPrefix(s, "57P")
	}
	return false
}
