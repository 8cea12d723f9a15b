package app

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/protocol"
)

// agentEndReasons are the reasons the agent side may end a session with.
var agentEndReasons = []protocol.Reason{protocol.EndedDeclined, protocol.EndedAcceptTimeout, protocol.EndedByUser, protocol.EndedError, protocol.EndedUserChanged,
	protocol.EndedConnectionLost}

func joinReasons(rs []protocol.Reason) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return strings.Join(out, ", ")
}

// nextStates is the state machine of protocol/session.go, without ended
// (reachable from every state but ended itself).
func nextStates(attended bool, from protocol.SessionState) []protocol.SessionState {
	switch from {
	case protocol.SessionRequested:
		if attended {
			return []protocol.SessionState{protocol.SessionAwaitingAcceptance}
		}
		return []protocol.SessionState{protocol.SessionConnecting}
	case protocol.SessionAwaitingAcceptance:
		return []protocol.SessionState{protocol.SessionConnecting}
	case protocol.SessionConnecting:
		return []protocol.SessionState{protocol.SessionActive}
	}
	return nil
}

// CheckTransition validates a state change reported by the agent side.
func CheckTransition(attended bool, from, to protocol.SessionState, reason protocol.Reason) error {
	if from == protocol.SessionEnded {
		return fmt.Errorf("%w: %w", ErrSessionEnded, ErrConflict)
	}
	if to == protocol.SessionEnded {
		if !slices.Contains(agentEndReasons, reason) {
			return badRequest("the agent may not end a session with reason %q (want one of %s)", reason, joinReasons(agentEndReasons))
		}
		if (reason == protocol.EndedDeclined || reason == protocol.EndedAcceptTimeout) && from != protocol.SessionAwaitingAcceptance {
			return badRequest("reason %q is only possible while awaiting acceptance, not in %s", reason, from)
		}
		return nil
	}
	if reason != "" {
		return badRequest("only ended carries a reason")
	}
	if !slices.Contains(nextStates(attended, from), to) {
		kind := "an unattended"
		if attended {
			kind = "an attended"
		}
		return badRequest("%s session cannot go from %s to %q", kind, from, to)
	}
	return nil
}

// ErrConflict is store.ErrConflict, for errors.Is on transitions.
var ErrConflict = store.ErrConflict
