//go:build windows

package ipc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"unsafe"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// PipeName is the named pipe between the agent service and its session
// helpers on Windows. A ListenConfig.Path (and a Dial path) that is not a
// pipe path (\\.\pipe\...), such as the helper.sock path the agent derives
// from its state directory, stands for this pipe.
const PipeName = `\\.\pipe\tether-agent-helper`

// pipeSDDL is the pipe's DACL (protected, nothing inherited): SYSTEM,
// Administrators and the pipe's owner (the user running the agent in `run`
// mode) have full access; interactive users may only connect, read and
// write. They get FILE_GENERIC_READ | FILE_WRITE_DATA | FILE_WRITE_EA |
// FILE_WRITE_ATTRIBUTES (0x12019b) but not FILE_APPEND_DATA, which on a pipe
// is FILE_CREATE_PIPE_INSTANCE: a user cannot add server instances to the
// pipe to impersonate the service (helpers check the server anyway).
const pipeSDDL = "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;OW)(A;;0x12019b;;;IU)"

// clientAccess is what a helper asks for when it opens the pipe: exactly
// what the IU entry of pipeSDDL grants.
const clientAccess = 0x12019b

// PipePath maps a configured path to the pipe's path.
func PipePath(p string) string {
	if strings.HasPrefix(strings.ToLower(p), `\\.\pipe\`) {
		return p
	}
	return PipeName
}

// Listen creates the named pipe with pipeSDDL. go-winio creates the first
// instance with FILE_FLAG_FIRST_PIPE_INSTANCE, so Listen fails when someone
// else squats the name. Each connection's client process is then checked
// (PeerUID): its "uid" is 0 for LocalSystem or the service's own user, else
// the Windows session id of a process that runs as that session's
// logged-on user. The supervisor's Windows desktops carry the session id
// as their UID, so a helper is bound to the session it was started in.
func Listen(cfg ListenConfig) (*Listener, error) {
	if cfg.Path == "" || cfg.Allowed == nil {
		return nil, errors.New("ipc: pipe path and Allowed are required")
	}
	if cfg.UIDOf == nil {
		cfg.UIDOf = PeerUID
	}
	name := PipePath(cfg.Path)
	ln, err := winio.ListenPipe(name, &winio.PipeConfig{
		SecurityDescriptor: pipeSDDL,
		InputBufferSize:    64 << 10,
		OutputBufferSize:   64 << 10,
	})
	if err != nil {
		return nil, fmt.Errorf("ipc: listening on %s: %w", name, err)
	}
	ln, err = plugFirstInstance(ln, name)
	if err != nil {
		return nil, err
	}
	return &Listener{ln: ln, allowed: cfg.Allowed, uidOf: cfg.UIDOf, path: cfg.Path}, nil
}

// plugFirstInstance covers a difference of Wine's named pipes. go-winio
// opens the pipe's first instance without read or write access, which on
// Windows keeps clients out of it (they get ERROR_PIPE_BUSY until Accept
// makes the next instance). Wine lets a client connect to that instance,
// where nobody accepts it, so the helper's Dial succeeds and hangs. Where a
// connection succeeds now, before any Accept, it is such an instance: the
// listener keeps it occupied with a client of its own until it closes. On
// Windows the open fails and nothing changes.
func plugFirstInstance(ln net.Listener, name string) (net.Listener, error) {
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		ln.Close()
		return nil, err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ, 0, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		return ln, nil
	}
	return &pluggedListener{Listener: ln, plug: h}, nil
}

type pluggedListener struct {
	net.Listener
	plug windows.Handle
}

func (l *pluggedListener) Close() error {
	err := l.Listener.Close()
	windows.CloseHandle(l.plug)
	return err
}

func (l *Listener) close() error { return l.ln.Close() }

// fder is implemented by go-winio's pipe connections.
type fder interface{ Fd() uintptr }

func pipeHandle(c net.Conn) (windows.Handle, error) {
	f, ok := c.(fder)
	if !ok {
		return 0, fmt.Errorf("not a named pipe connection: %T", c)
	}
	return windows.Handle(f.Fd()), nil
}

// dial opens the pipe and checks that its server is the service: a
// process running as LocalSystem, or as the helper's own user (`run`
// mode). A pipe created by another user is refused, so a helper never
// takes sessions from an impostor.
func dial(ctx context.Context, path string) (net.Conn, error) {
	c, err := winio.DialPipeAccess(ctx, PipePath(path), clientAccess)
	if err != nil {
		return nil, err
	}
	if err := checkServer(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("%w: %v", ErrPeerRefused, err)
	}
	return c, nil
}

func checkServer(c net.Conn) error {
	h, err := pipeHandle(c)
	if err != nil {
		return err
	}
	var pid uint32
	if err := windows.GetNamedPipeServerProcessId(h, &pid); err != nil {
		return fmt.Errorf("reading the pipe server's process id: %w", err)
	}
	own, err := ownSID()
	if err != nil {
		return err
	}
	user, _, err := processIdentity(pid)
	if err == nil {
		if serverAllowed(user, own) {
			return nil
		}
		return fmt.Errorf("the pipe server (pid %d) runs as %s, not as LocalSystem", pid, user)
	}
	if !errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		return fmt.Errorf("reading the pipe server's identity: %w", err)
	}
	// A standard user may not open the token of a SYSTEM process. Then the
	// server must run in session 0 (services) and own the pipe as
	// LocalSystem or Administrators: a user cannot create a pipe owned by
	// either.
	var session uint32
	if err := windows.ProcessIdToSessionId(pid, &session); err != nil {
		return fmt.Errorf("reading the pipe server's session: %w", err)
	}
	if session != 0 {
		return fmt.Errorf("the pipe server (pid %d) runs in session %d, not as a service", pid, session)
	}
	sd, err := windows.GetSecurityInfo(h, windows.SE_KERNEL_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("reading the pipe's owner: %w", err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("reading the pipe's owner: %w", err)
	}
	if owner == nil || !(owner.IsWellKnown(windows.WinLocalSystemSid) || owner.IsWellKnown(windows.WinBuiltinAdministratorsSid)) {
		return fmt.Errorf("the pipe is owned by %v, not by LocalSystem or Administrators", owner)
	}
	return nil
}

// serverAllowed: the pipe server must run as LocalSystem or as the
// helper's own user.
func serverAllowed(serverSID, ownSID string) bool {
	return serverSID == localSystemSID || serverSID == ownSID
}

// localSystemSID is NT AUTHORITY\SYSTEM.
const localSystemSID = "S-1-5-18"

// PeerUID identifies the client process of a pipe connection (see Listen):
// 0 for LocalSystem or the service's own user; otherwise the session id of
// a process that runs as the user logged on to that session. Any other
// client (a process of another user, a service account in session 0) is
// refused with an error.
func PeerUID(c net.Conn) (uint32, error) {
	h, err := pipeHandle(c)
	if err != nil {
		return 0, err
	}
	var pid uint32
	if err := windows.GetNamedPipeClientProcessId(h, &pid); err != nil {
		return 0, fmt.Errorf("reading the pipe client's process id: %w", err)
	}
	user, session, err := processIdentity(pid)
	if err != nil {
		return 0, fmt.Errorf("reading the identity of pid %d: %w", pid, err)
	}
	own, err := ownSID()
	if err != nil {
		return 0, err
	}
	sessionUser := ""
	if user != localSystemSID && user != own && session != 0 {
		sessionUser, err = sessionUserSID(session)
		if err != nil {
			return 0, fmt.Errorf("reading the user of session %d: %w", session, err)
		}
	}
	return classifyPeer(user, own, session, sessionUser)
}

// classifyPeer maps a client's identity to the uid the Allowed callbacks
// see (see PeerUID). sessionUser is the SID of the user logged on to the
// client's session ("" if none).
func classifyPeer(user, own string, session uint32, sessionUser string) (uint32, error) {
	switch {
	case user == "":
		return 0, errors.New("client without a user")
	case user == localSystemSID || user == own:
		return 0, nil
	case session == 0:
		return 0, fmt.Errorf("client %s runs in session 0 but is not the service", user)
	case sessionUser == "" || user != sessionUser:
		return 0, fmt.Errorf("client %s is not the user logged on to session %d", user, session)
	}
	return session, nil
}

// processIdentity returns the user SID and session id of pid's token.
func processIdentity(pid uint32) (user string, session uint32, err error) {
	p, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return "", 0, err
	}
	defer windows.CloseHandle(p)
	var tok windows.Token
	if err := windows.OpenProcessToken(p, windows.TOKEN_QUERY, &tok); err != nil {
		return "", 0, err
	}
	defer tok.Close()
	return tokenIdentity(tok)
}

func tokenIdentity(tok windows.Token) (user string, session uint32, err error) {
	tu, err := tok.GetTokenUser()
	if err != nil {
		return "", 0, err
	}
	var n uint32
	if err := windows.GetTokenInformation(tok, windows.TokenSessionId, (*byte)(unsafe.Pointer(&session)), 4, &n); err != nil {
		return "", 0, err
	}
	return tu.User.Sid.String(), session, nil
}

// ownSID is the user SID of this process.
func ownSID() (string, error) {
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("reading this process's user: %w", err)
	}
	return tu.User.Sid.String(), nil
}

// sessionUserSID is the SID of the user logged on to session (needs
// SeTcbPrivilege, which LocalSystem has).
func sessionUserSID(session uint32) (string, error) {
	var tok windows.Token
	if err := windows.WTSQueryUserToken(session, &tok); err != nil {
		return "", err
	}
	defer tok.Close()
	tu, err := tok.GetTokenUser()
	if err != nil {
		return "", err
	}
	return tu.User.Sid.String(), nil
}
