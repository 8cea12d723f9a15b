package session

import "context"

// AskRequest is what the attended prompt shows.
type AskRequest struct {
	SessionID  string
	Technician string
	Mode       string
	// Alternatives are other modes the user may pick instead.
	Alternatives []string
	// TimeoutS is the countdown shown; the caller's ctx carries the deadline.
	TimeoutS int
}

// Answer is the user's answer to the prompt.
type Answer struct {
	Accepted bool
	// Mode the user accepted (the requested one or an alternative).
	Mode string
}

// UI is everything the end user sees of a session. Tests use a fake.
type UI interface {
	// Ask shows the attended prompt and returns the answer, or ctx's error
	// when ctx ends first (the prompt then closes itself).
	Ask(ctx context.Context, req AskRequest) (Answer, error)
	// Live shows the user that the session is live (a notice naming the
	// technician) and, when mayEnd, offers to end it; it calls end when the
	// user confirms. It returns when ctx ends.
	Live(ctx context.Context, technician string, mayEnd bool, end func())
}
