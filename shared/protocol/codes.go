package protocol

import (
	"errors"
	"strings"
	"time"
)

// Connection codes for broker sessions (added 2026-11): a technician
// issues a 9-digit code, the end user enters it on the endpoint, and the
// server binds a session to that endpoint.

// PathRedeemCode is where an agent enters a code; bearer = agent secret.
const PathRedeemCode = "/api/agent/v1/code"

// Error codes of the redeem call.
const (
	CodeWrongCode   = "code_wrong"   // no live code has these digits
	CodeExpiredCode = "code_expired" // the code's 15 minutes are over
)

// States of a connection code.
const (
	ConnCodeWaiting   = "waiting"   // issued, waiting for the target to enter it
	ConnCodeUsed      = "used"      // entered; SessionID is the session it started
	ConnCodeCancelled = "cancelled" // cancelled by the technician
	ConnCodeExpired   = "expired"   // not entered in time
)

// ConnectionCode is GET /api/v1/codes/{id} and the answer of issuing,
// renewing and extending. Code is shown to its technician only.
type ConnectionCode struct {
	ID         string    `json:"id"`
	Code       string    `json:"code,omitempty"` // 123-456-789
	State      string    `json:"state"`
	Technician string    `json:"technician"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires"`
	// SecondsLeft until Expires by the server's clock, so a console with a
	// wrong clock still counts down right.
	SecondsLeft int    `json:"seconds_left"`
	SessionID   string `json:"session_id,omitempty"`
	EndpointID  string `json:"endpoint_id,omitempty"`
	Hostname    string `json:"hostname,omitempty"`
}

// RedeemCodeRequest is the body of POST PathRedeemCode.
type RedeemCodeRequest struct {
	Code string `json:"code"`
}

// RedeemCodeResponse tells the agent which session the code started; the
// session itself reaches the service as a screenshare.start action.
type RedeemCodeResponse struct {
	SessionID  string `json:"session_id"`
	Technician string `json:"technician"`
	Mode       Mode   `json:"mode"`
	Attended   bool   `json:"attended"`
	// Start is the session's screenshare.start, agent token included, so
	// the agent starts it at once; the same action still comes through
	// the poll, where the agent recognises it as one it holds.
	Start *ScreenShareStart `json:"start,omitempty"`
}

// CodeDigits is the length of a connection code.
const CodeDigits = 9

// ErrCodeFormat says a code is not 9 digits.
var ErrCodeFormat = errors.New("a connection code has 9 digits, like 123-456-789")

// ParseCode accepts a code as people type it (123-456-789, 123 456 789,
// 123456789) and returns its 9 digits.
func ParseCode(s string) (string, error) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '-' || r == ' ' || r == '\t':
		default:
			return "", ErrCodeFormat
		}
	}
	if b.Len() != CodeDigits {
		return "", ErrCodeFormat
	}
	return b.String(), nil
}

// FormatCode shows 9 digits as 123-456-789.
func FormatCode(digits string) string {
	if len(digits) != CodeDigits {
		return digits
	}
	return digits[:3] + "-" + digits[3:6] + "-" + digits[6:]
}
