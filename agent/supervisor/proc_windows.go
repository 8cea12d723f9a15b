//go:build windows

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

func interrupt(p *os.Process) error { return p.Kill() }

// setUser has nothing to set on the exec.Cmd: a helper for a WTS session is
// created by startInSession instead of exec.Cmd.Start.
func setUser(*exec.Cmd, Desktop) {}

func init() { startHelper = startInSession }

// startInSession starts cmd in the WTS session of d (a desktop of
// systemDesktops, key "wts:..."): as the session's user, with the user's
// token (WTSQueryUserToken + DuplicateTokenEx) and environment
// (CreateEnvironmentBlock), or, at the login screen, as LocalSystem with a
// copy of the service's token moved to the session (TokenSessionId); on the
// session's interactive desktop winsta0\default (CreateProcessAsUser). Any
// other desktop (`run` mode, a desktops file) is started by cmd.Start.
//
// exec.Cmd cannot name the desktop (lpDesktop), so the process is created
// here and handed to cmd as cmd.Process, which cmd.Wait then waits for. Its
// standard output and error go through a pipe to cmd.Stderr (cmd.Stdout is
// ignored); ctx ending terminates it.
func startInSession(ctx context.Context, cmd *exec.Cmd, d Desktop) error {
	session, userSID, ok := parseWTSKey(d.Key)
	if !ok {
		return cmd.Start()
	}
	if cmd.Err != nil {
		return cmd.Err
	}
	if cmd.Process != nil {
		return errors.New("exec: already started")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	enableServicePrivileges()
	tok, err := sessionToken(session, userSID)
	if err != nil {
		return err
	}
	defer tok.Close()
	base, err := tok.Environ(false) // CreateEnvironmentBlock
	if err != nil {
		return fmt.Errorf("creating the environment of session %d: %w", session, err)
	}
	block, err := envBlock(mergeEnv(base, helperOverlay(cmd.Env, d)))
	if err != nil {
		return err
	}
	app, err := windows.UTF16PtrFromString(cmd.Path)
	if err != nil {
		return err
	}
	cmdLine, err := windows.UTF16PtrFromString(windows.ComposeCommandLine(cmd.Args))
	if err != nil {
		return err
	}
	var dir *uint16
	if cmd.Dir != "" {
		if dir, err = windows.UTF16PtrFromString(cmd.Dir); err != nil {
			return err
		}
	}
	desktop, _ := windows.UTF16PtrFromString(`winsta0\default`)

	// The child's stdout and stderr: the write end of a pipe, the only
	// handle it inherits (PROC_THREAD_ATTRIBUTE_HANDLE_LIST).
	var r, w windows.Handle
	if err := windows.CreatePipe(&r, &w, nil, 0); err != nil {
		return fmt.Errorf("creating the helper's output pipe: %w", err)
	}
	rf := os.NewFile(uintptr(r), "helper-output")
	closeW := sync.OnceFunc(func() { windows.CloseHandle(w) })
	defer closeW()
	if err := windows.SetHandleInformation(w, windows.HANDLE_FLAG_INHERIT, windows.HANDLE_FLAG_INHERIT); err != nil {
		rf.Close()
		return fmt.Errorf("helper output pipe: %w", err)
	}
	attrs, err := windows.NewProcThreadAttributeList(1)
	if err != nil {
		rf.Close()
		return err
	}
	defer attrs.Delete()
	inherit := []windows.Handle{w}
	if err := attrs.Update(windows.PROC_THREAD_ATTRIBUTE_HANDLE_LIST, unsafe.Pointer(&inherit[0]), uintptr(len(inherit))*unsafe.Sizeof(inherit[0])); err != nil {
		rf.Close()
		return err
	}
	si := &windows.StartupInfoEx{
		StartupInfo: windows.StartupInfo{
			Desktop:   desktop,
			Flags:     windows.STARTF_USESTDHANDLES,
			StdOutput: w,
			StdErr:    w,
		},
		ProcThreadAttributeList: attrs.List(),
	}
	si.Cb = uint32(unsafe.Sizeof(*si))
	var pi windows.ProcessInformation
	flags := uint32(windows.CREATE_UNICODE_ENVIRONMENT | windows.EXTENDED_STARTUPINFO_PRESENT | windows.CREATE_NO_WINDOW)
	if err := windows.CreateProcessAsUser(tok, app, cmdLine, nil, nil, true, flags, &block[0], dir, &si.StartupInfo, &pi); err != nil {
		rf.Close()
		return fmt.Errorf("starting the helper in session %d (CreateProcessAsUser): %w", session, err)
	}
	closeW()
	windows.CloseHandle(pi.Thread)
	// pi.Process stays open until the process ended, so its id is not
	// reused while cmd.Process refers to it.
	p, err := os.FindProcess(int(pi.ProcessId))
	if err != nil {
		windows.TerminateProcess(pi.Process, 1)
		windows.CloseHandle(pi.Process)
		rf.Close()
		return fmt.Errorf("opening the helper process: %w", err)
	}
	cmd.Process = p
	out := cmd.Stderr
	if out == nil {
		out = io.Discard
	}
	go func() {
		_, _ = io.Copy(out, rf)
		rf.Close()
	}()
	// os.FindProcess's handle may not terminate: ending ctx terminates the
	// process through pi.Process.
	h := pi.Process
	var (
		hmu    sync.Mutex
		closed bool
	)
	stop := context.AfterFunc(ctx, func() {
		hmu.Lock()
		defer hmu.Unlock()
		if !closed {
			_ = windows.TerminateProcess(h, 1)
		}
	})
	go func() {
		_, _ = windows.WaitForSingleObject(h, windows.INFINITE)
		stop()
		hmu.Lock()
		closed = true
		windows.CloseHandle(h)
		hmu.Unlock()
	}()
	return nil
}

// helperOverlay is what the helper gets on top of its user's environment:
// the TETHER_* settings helperEnv let through (TETHER_CAPTURE) and the
// desktop's own.
func helperOverlay(cmdEnv []string, d Desktop) []string {
	var out []string
	for _, kv := range cmdEnv {
		if strings.HasPrefix(strings.ToUpper(kv), "TETHER_") {
			out = append(out, kv)
		}
	}
	return append(out, d.Env...)
}

// mergeEnv is base with overlay's variables set (names compared without
// case, as Windows does).
func mergeEnv(base, overlay []string) []string {
	idx := map[string]int{}
	var out []string
	set := func(kv string) {
		name, _, _ := strings.Cut(kv, "=")
		if name == "" { // "=C:=C:\..." per-drive entries
			if strings.HasPrefix(kv, "=") {
				out = append(out, kv)
			}
			return
		}
		k := strings.ToUpper(name)
		if i, ok := idx[k]; ok {
			out[i] = kv
			return
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	for _, kv := range base {
		set(kv)
	}
	for _, kv := range overlay {
		set(kv)
	}
	return out
}

// envBlock encodes env for CreateProcess(AsUser) with
// CREATE_UNICODE_ENVIRONMENT: NUL-terminated UTF-16 strings, then a NUL.
func envBlock(env []string) ([]uint16, error) {
	var b []uint16
	for _, kv := range env {
		u, err := windows.UTF16FromString(kv) // rejects NUL inside, ends with NUL
		if err != nil {
			return nil, fmt.Errorf("environment entry %q: %w", kv, err)
		}
		b = append(b, u...)
	}
	if len(b) == 0 {
		b = append(b, 0)
	}
	return append(b, 0), nil
}

// sessionToken is a primary token for a helper in session: the logged-on
// user's (whose SID must still be userSID), or, when userSID is "" (login
// screen), a copy of the service's own LocalSystem token moved to session.
func sessionToken(session uint32, userSID string) (windows.Token, error) {
	var src windows.Token
	if userSID != "" {
		if err := windows.WTSQueryUserToken(session, &src); err != nil {
			return 0, fmt.Errorf("reading the token of session %d's user (WTSQueryUserToken): %w", session, err)
		}
	} else if err := windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_DUPLICATE|windows.TOKEN_QUERY, &src); err != nil {
		return 0, fmt.Errorf("opening the service's token: %w", err)
	}
	defer src.Close()
	var tok windows.Token
	if err := windows.DuplicateTokenEx(src, windows.MAXIMUM_ALLOWED, nil, windows.SecurityIdentification, windows.TokenPrimary, &tok); err != nil {
		return 0, fmt.Errorf("duplicating the token for session %d: %w", session, err)
	}
	if userSID != "" {
		tu, err := tok.GetTokenUser()
		if err != nil {
			tok.Close()
			return 0, err
		}
		if got := tu.User.Sid.String(); got != userSID {
			tok.Close()
			return 0, fmt.Errorf("session %d now belongs to %s, not %s", session, got, userSID)
		}
		return tok, nil
	}
	s := session
	if err := windows.SetTokenInformation(tok, windows.TokenSessionId, (*byte)(unsafe.Pointer(&s)), uint32(unsafe.Sizeof(s))); err != nil {
		tok.Close()
		return 0, fmt.Errorf("moving the service's token to session %d: %w", session, err)
	}
	return tok, nil
}

// enableServicePrivileges enables, once, what CreateProcessAsUser and
// SetTokenInformation(TokenSessionId) need; LocalSystem holds them, maybe
// disabled. Failures show later as those calls' errors.
var enableServicePrivileges = sync.OnceFunc(func() {
	var tok windows.Token
	if err := windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_ADJUST_PRIVILEGES|windows.TOKEN_QUERY, &tok); err != nil {
		return
	}
	defer tok.Close()
	for _, name := range []string{"SeTcbPrivilege", "SeAssignPrimaryTokenPrivilege", "SeIncreaseQuotaPrivilege"} {
		var tp windows.Tokenprivileges
		n, _ := windows.UTF16PtrFromString(name)
		if windows.LookupPrivilegeValue(nil, n, &tp.Privileges[0].Luid) != nil {
			continue
		}
		tp.PrivilegeCount = 1
		tp.Privileges[0].Attributes = windows.SE_PRIVILEGE_ENABLED
		_ = windows.AdjustTokenPrivileges(tok, false, &tp, 0, nil, nil)
	}
})
