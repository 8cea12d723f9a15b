//go:build windows

package ipc

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/tetherdesk/tether/internal/wineskip"
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

// TestPipeRoundTrip runs the real pipe: Listen with pipeSDDL, a helper's
// Dial with its server check, the listener's peer check, and messages
// both ways. It also reads the DACL back from the live pipe.
func TestPipeRoundTrip(t *testing.T) {
	path := fmt.Sprintf(`\\.\pipe\tether-test-%d`, os.Getpid())
	var seen []uint32
	ln, err := Listen(ListenConfig{Path: path, Allowed: func(uid uint32) bool {
		seen = append(seen, uid)
		return uid == 0
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	accepted := make(chan *Conn, 1)
	acceptErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			acceptErr <- err
			return
		}
		accepted <- c
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, err := Dial(ctx, path)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer client.Close()
	var server *Conn
	select {
	case server = <-accepted:
	case err := <-acceptErr:
		t.Fatalf("Accept: %v", err)
	case <-ctx.Done():
		t.Fatal("Accept: no connection within 20s")
	}
	defer server.Close()
	if server.UID != 0 || len(seen) != 1 {
		t.Errorf("the peer check saw uids %v, conn uid %d; want [0] for a client of the service's own user", seen, server.UID)
	}
	if err := client.Send(Msg{Type: TypeReady}); err != nil {
		t.Fatal(err)
	}
	if m, err := server.Recv(); err != nil || m.Type != TypeReady {
		t.Fatalf("server Recv = %+v, %v", m, err)
	}
	if err := server.Send(Msg{Type: TypeEnd, SessionID: "s1"}); err != nil {
		t.Fatal(err)
	}
	if m, err := client.Recv(); err != nil || m.Type != TypeEnd {
		t.Fatalf("client Recv = %+v, %v", m, err)
	}

	// The DACL as the pipe carries it, not as the string says.
	h, err := pipeHandle(server.c)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := windows.GetSecurityInfo(h, windows.SE_KERNEL_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		wineskip.If(t, "GetSecurityInfo on a named pipe", "Wine does not return a pipe's security descriptor")
		t.Fatalf("GetSecurityInfo: %v", err)
	}
	got := sd.String()
	for _, want := range []string{"D:P", "(A;;0x12019b;;;IU)", ";;;SY)", ";;;BA)"} {
		if !strings.Contains(got, want) {
			t.Errorf("the live pipe's DACL %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, ";;;WD)") || strings.Contains(got, ";;;AU)") {
		t.Errorf("the live pipe's DACL %q grants everyone or authenticated users", got)
	}
}

// TestPipeNameNotShared: a second server cannot take the service's pipe
// name (go-winio creates the first instance with FILE_CREATE), so no
// process can squat instances of it.
func TestPipeNameNotShared(t *testing.T) {
	path := fmt.Sprintf(`\\.\pipe\tether-test-squat-%d`, os.Getpid())
	ln, err := Listen(ListenConfig{Path: path, Allowed: func(uint32) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ln2, err := Listen(ListenConfig{Path: path, Allowed: func(uint32) bool { return true }})
	if err == nil {
		ln2.Close()
		wineskip.If(t, "NtCreateNamedPipeFile with FILE_CREATE on an existing pipe",
			"Wine 8 opens one more instance of the existing pipe where Windows refuses the create")
		t.Error("a second Listen on the same pipe name succeeded")
	}
}
