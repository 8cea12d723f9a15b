package app

import "github.com/tetherdesk/tether/server/app/core"

// enrollLimits bound enrollment: a leaked token cannot fill the store with
// fake endpoints at will, and nobody can try tokens fast. A mass rollout
// behind one NAT address stays well inside the defaults.
type enrollLimits struct {
	perAddress, failures, perToken *core.Throttle
}

func newEnrollLimits(cfg Config) enrollLimits {
	return enrollLimits{
		// In the store: every server node counts the same attempts.
		perAddress: core.NewThrottle(cfg.Store, "enroll/address", cfg.EnrollPerAddress, cfg.EnrollWindow, cfg.Now, cfg.Logger),
		failures:   core.NewThrottle(cfg.Store, "enroll/failures", cfg.EnrollFailuresPerAddress, cfg.EnrollWindow, cfg.Now, cfg.Logger),
		perToken:   core.NewThrottle(cfg.Store, "enroll/token", cfg.EnrollPerToken, cfg.EnrollWindow, cfg.Now, cfg.Logger),
	}
}

// admit counts an attempt from addr (an auth.AddrKey), or says why not.
func (l enrollLimits) admit(addr string) error {
	if blocked, wait := l.failures.Blocked(addr); blocked {
		return &ThrottledError{RetryAfter: wait, Message: "too many enrollments with wrong tokens came from this network address; try again later"}
	}
	if blocked, wait := l.perAddress.Blocked(addr); blocked {
		return &ThrottledError{RetryAfter: wait, Message: "too many enrollments came from this network address; try again later"}
	}
	l.perAddress.Fail(addr)
	return nil
}

// admitToken counts a use of a valid token (by its id), or says why not.
func (l enrollLimits) admitToken(tokenID string) error {
	if blocked, wait := l.perToken.Blocked(tokenID); blocked {
		return &ThrottledError{RetryAfter: wait, Message: "this enrollment token is being used too fast; try again later"}
	}
	l.perToken.Fail(tokenID)
	return nil
}
