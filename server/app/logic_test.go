package app

import (
	"errors"
	"testing"

	"github.com/tetherdesk/tether/shared/protocol"
)

// TestCheckTransition: the session state machine the agent side may drive.
func TestCheckTransition(t *testing.T) {
	const (
		req  = protocol.SessionRequested
		wait = protocol.SessionAwaitingAcceptance
		conn = protocol.SessionConnecting
		act  = protocol.SessionActive
		end  = protocol.SessionEnded
	)
	for _, tc := range []struct {
		attended bool
		from, to protocol.SessionState
		reason   protocol.Reason
		ok       bool
	}{
		{true, req, wait, "", true},
		{true, req, conn, "", false}, // attended must be asked first
		{false, req, conn, "", true},
		{false, req, wait, "", false},
		{true, wait, conn, "", true},
		{true, conn, act, "", true},
		{true, act, conn, "", false},
		{true, wait, end, protocol.EndedDeclined, true},
		{true, wait, end, protocol.EndedAcceptTimeout, true},
		{true, act, end, protocol.EndedDeclined, false}, // declined only while asked
		{true, act, end, protocol.EndedByUser, true},
		{true, act, end, protocol.EndedUserChanged, true},
		{true, act, end, protocol.EndedByTechnician, false}, // the technician's end is the server's
		{true, act, end, "", false},
		{true, conn, act, protocol.EndedError, false}, // only ended carries a reason
		{true, end, act, "", false},
	} {
		err := CheckTransition(tc.attended, tc.from, tc.to, tc.reason)
		if (err == nil) != tc.ok {
			t.Errorf("attended=%v %s→%s (%q): %v, want ok=%v", tc.attended, tc.from, tc.to, tc.reason, err, tc.ok)
		}
	}
	if err := CheckTransition(true, end, act, ""); !errors.Is(err, ErrConflict) {
		t.Errorf("from ended: %v, want a conflict", err)
	}
}
