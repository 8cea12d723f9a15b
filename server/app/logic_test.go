package app

import (
	"errors"
	"os/exec"
	"testing"
	"time"

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

// TestInstallCommandQuoting: the POSIX line survives a real shell with
// hostile values; the PowerShell line's values are verbatim strings.
func TestInstallCommandQuoting(t *testing.T) {
	values := []string{"tet_plain-Token.1", "it's", "$(echo pwned)", "a;b", "`x`", "sp ace", "\"dq\"", ""}
	for _, v := range values {
		out, err := exec.Command("sh", "-c", "printf '%s' "+shellQuote(v)).Output()
		if err != nil || string(out) != v {
			t.Errorf("shellQuote(%q) = %s: the shell read %q (%v)", v, shellQuote(v), out, err)
		}
	}
	for v, want := range map[string]string{
		"tet_x":     "'tet_x'",
		"it's":      "'it''s'",
		"$env:PATH": "'$env:PATH'",
	} {
		if got := psQuote(v); got != want {
			t.Errorf("psQuote(%q) = %s, want %s", v, got, want)
		}
	}
	s := &Service{cfg: Config{PublicURL: "https://tether.example:8443/", Fingerprint: "ab:cd"}}
	if got, want := s.powerShellCommand("tet_1"), "msiexec.exe /i tether-agent.msi /qn SERVER_URL='https://tether.example:8443' ENROLL_TOKEN='tet_1' FINGERPRINT='ab:cd'"; got != want {
		t.Errorf("powerShellCommand = %s, want %s", got, want)
	}
	if got, want := s.installCommand("tet_1"), "tether-agent install --server https://tether.example:8443 --token tet_1 --fingerprint ab:cd"; got != want {
		t.Errorf("installCommand = %s, want %s", got, want)
	}
}

// TestHold: a poll is held as long as its agent waits, within PollHold;
// an agent that does not say gets at most the old 25 s.
func TestHold(t *testing.T) {
	s := &Service{cfg: Config{PollHold: 2 * time.Minute}}
	short := &Service{cfg: Config{PollHold: 3 * time.Second}}
	for _, c := range []struct {
		s    *Service
		ms   int64
		want time.Duration
	}{
		{s, 0, protocol.LegacyHold},
		{short, 0, 3 * time.Second},
		{s, 60_000, time.Minute},
		{s, 600_000, 2 * time.Minute},
		{short, 60_000, 3 * time.Second},
		{s, 1, time.Second},
	} {
		if got := c.s.hold(protocol.PollRequest{Wait: true, HoldMS: c.ms}); got != c.want {
			t.Errorf("PollHold %v, hold_ms %d: held %v, want %v", c.s.cfg.PollHold, c.ms, got, c.want)
		}
	}
}
