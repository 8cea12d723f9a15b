package app

import "github.com/tetherdesk/tether/server/auth"

// enrollLimits bound enrollment: a leaked token cannot fill the store with
// fake endpoints at will, and nobody can try tokens fast. A mass rollout
// behind one NAT address stays well inside the defaults.
type enrollLimits struct {
	perAddress, failures, perToken *auth.Throttle
}

func newEnrollLimits(cfg Config) enrollLimits {
	return enrollLimits{
		perAddress: auth.NewThrottle(cfg.EnrollPerAddress, cfg.EnrollWindow, cfg.Now),
		failures:   auth.NewThrottle(cfg.EnrollFailuresPerAddress, cfg.EnrollWindow, cfg.Now),
		perToken:   auth.NewThrottle(cfg.EnrollPerToken, cfg.EnrollWindow, cfg.Now),
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
