//go:build windows

package ipc

import (
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

func TestPipePath(t *testing.T) {
	for in, want := range map[string]string{
		`C:\ProgramData\Tether\helper.sock`: PipeName,
		"":                                  PipeName,
		`\\.\pipe\tether-test-1`:            `\\.\pipe\tether-test-1`,
		`\\.\PIPE\Other`:                    `\\.\PIPE\Other`,
	} {
		if got := PipePath(in); got != want {
			t.Errorf("PipePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPipeSDDLParses(t *testing.T) {
	sd, err := windows.SecurityDescriptorFromString(pipeSDDL)
	if err != nil {
		t.Fatalf("pipeSDDL %q: %v", pipeSDDL, err)
	}
	if got := sd.String(); got == "" {
		t.Fatal("empty security descriptor")
	}
	// No entry for Everyone, Authenticated Users, Users or anonymous.
	for _, sid := range []string{";WD)", ";AU)", ";BU)", ";AN)"} {
		if strings.Contains(pipeSDDL, sid) {
			t.Errorf("pipeSDDL grants %s", sid)
		}
	}
	// Interactive users may not create pipe instances (FILE_APPEND_DATA).
	if clientAccess&windows.FILE_APPEND_DATA != 0 {
		t.Error("clientAccess includes FILE_CREATE_PIPE_INSTANCE")
	}
}

func TestClassifyPeer(t *testing.T) {
	const own, alice, bob = "S-1-5-21-1-2-3-500", "S-1-5-21-1-2-3-1001", "S-1-5-21-1-2-3-1002"
	for _, tc := range []struct {
		name        string
		user        string
		session     uint32
		sessionUser string
		want        uint32
		ok          bool
	}{
		{"system in session 0", localSystemSID, 0, "", 0, true},
		{"system at a login screen", localSystemSID, 2, "", 0, true},
		{"service's own user", own, 0, "", 0, true},
		{"session user", alice, 3, alice, 3, true},
		{"another user in the session", bob, 3, alice, 0, false},
		{"user in a session without a user", alice, 3, "", 0, false},
		{"service account in session 0", "S-1-5-19", 0, "", 0, false},
		{"no user", "", 1, alice, 0, false},
	} {
		got, err := classifyPeer(tc.user, own, tc.session, tc.sessionUser)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s: classifyPeer = %d, %v; want %d, ok=%v", tc.name, got, err, tc.want, tc.ok)
		}
	}
}

func TestServerAllowed(t *testing.T) {
	if !serverAllowed(localSystemSID, "S-1-5-21-9") || !serverAllowed("S-1-5-21-9", "S-1-5-21-9") {
		t.Error("LocalSystem or the own user refused")
	}
	if serverAllowed("S-1-5-21-8", "S-1-5-21-9") {
		t.Error("another user allowed")
	}
}
