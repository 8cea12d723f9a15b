package core

import (
	"errors"
	"fmt"
	"time"
)

// Errors the API maps to HTTP statuses; store.ErrNotFound and
// store.ErrConflict pass through as well.
var (
	ErrUnauthorized = errors.New("sign-in required")
	ErrForbidden    = errors.New("permission denied")
	ErrBadRequest   = errors.New("bad request")
	ErrBadToken     = errors.New("enrollment token unknown, revoked or expired")
	ErrBadSecret    = errors.New("agent credentials unknown or revoked")
	ErrUnsupported  = errors.New("unsupported")
	// ErrUnavailable: the server cannot do it right now (503).
	ErrUnavailable = errors.New("service unavailable")
)

// ThrottledError says a caller must wait before trying again. Message,
// when set, says why in words for that case.
type ThrottledError struct {
	RetryAfter time.Duration
	Message    string
}

func (e *ThrottledError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("too many failed attempts; try again in %s", e.RetryAfter.Round(time.Second))
}

// BadRequest wraps ErrBadRequest with a message the caller sees.
func BadRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
}

// ErrAuditUnavailable refuses a security-relevant change whose audit record
// could not be written: no such change goes unrecorded.
var ErrAuditUnavailable = fmt.Errorf("%w: the audit log cannot be written, so the change was not made", ErrUnavailable)
