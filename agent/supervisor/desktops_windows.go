//go:build windows

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// On Windows a desktop is a WTS session. Its Key is "wts:<session id>:<user
// SID>" — "wts:<id>:" while the session shows the login screen, so that a
// logon (or logoff) replaces the session's helper. UID is the session id
// when a user is logged on (the helper runs as that user, and the IPC
// check maps a client running as the session's user to its session id), -1
// when not (the helper runs as LocalSystem in that session).
const wtsKeyPrefix = "wts:"

// noActiveSession is what WTSGetActiveConsoleSessionId returns when no
// session is attached to the console (during a session switch).
const noActiveSession = 0xFFFFFFFF

// wtsSession is what systemDesktops learns of one session.
type wtsSession struct {
	ID    uint32
	State uint32 // windows.WTSActive, ...
	// UserSID and User ("DOMAIN\name") are empty when nobody is logged on.
	UserSID, User string
}

func systemDesktops(context.Context) ([]Desktop, error) {
	active := windows.WTSGetActiveConsoleSessionId()
	var (
		infos *windows.WTS_SESSION_INFO
		n     uint32
	)
	if err := windows.WTSEnumerateSessions(0, 0, 1, &infos, &n); err != nil {
		return nil, fmt.Errorf("enumerating WTS sessions: %w", err)
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(infos)))
	var sessions []wtsSession
	for _, si := range unsafe.Slice(infos, n) {
		s := wtsSession{ID: si.SessionID, State: si.State}
		if !wantSession(s, active) {
			continue
		}
		sid, user, err := sessionUser(si.SessionID)
		switch {
		case err == nil:
			s.UserSID, s.User = sid, user
		case errors.Is(err, windows.ERROR_NO_TOKEN):
			// Nobody logged on: the login screen.
		default:
			return nil, fmt.Errorf("reading the user of session %d: %w", si.SessionID, err)
		}
		sessions = append(sessions, s)
	}
	return wtsDesktops(sessions, active), nil
}

// wantSession: session 0 (services) never has a desktop; a session gets a
// helper while it is attached to the console or a remote client (active or
// connected, e.g. the login screen), and the console session always.
// Disconnected sessions (a user switched away) and listeners do not.
func wantSession(s wtsSession, active uint32) bool {
	if s.ID == 0 {
		return false
	}
	return s.ID == active || s.State == windows.WTSActive || s.State == windows.WTSConnected
}

// wtsDesktops turns the sessions into desktops, sorted by session id; the
// console's session is the active one.
func wtsDesktops(sessions []wtsSession, active uint32) []Desktop {
	var out []Desktop
	for _, s := range sessions {
		if !wantSession(s, active) {
			continue
		}
		d := Desktop{
			Key:    wtsKey(s.ID, s.UserSID),
			UID:    -1,
			GID:    -1,
			User:   s.User,
			Active: s.ID == active && active != noActiveSession,
		}
		if s.UserSID != "" {
			d.UID = int(s.ID)
			d.Owner = s.UserSID
		} else {
			d.User = "SYSTEM"
			d.Greeter = true
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Desktop) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func wtsKey(session uint32, userSID string) string {
	return wtsKeyPrefix + strconv.FormatUint(uint64(session), 10) + ":" + userSID
}

// parseWTSKey is the inverse of wtsKey; ok is false for other keys (`run`
// mode's "own", a desktops file's).
func parseWTSKey(key string) (session uint32, userSID string, ok bool) {
	rest, found := strings.CutPrefix(key, wtsKeyPrefix)
	if !found {
		return 0, "", false
	}
	id, sid, found := strings.Cut(rest, ":")
	if !found {
		return 0, "", false
	}
	n, err := strconv.ParseUint(id, 10, 32)
	if err != nil || n == 0 || n == noActiveSession {
		return 0, "", false
	}
	return uint32(n), sid, true
}

// sessionUser is the SID and name of the user logged on to session
// (WTSQueryUserToken needs SeTcbPrivilege: the service runs as LocalSystem).
// The error wraps ERROR_NO_TOKEN when nobody is logged on.
func sessionUser(session uint32) (sid, name string, err error) {
	var tok windows.Token
	if err := windows.WTSQueryUserToken(session, &tok); err != nil {
		return "", "", err
	}
	defer tok.Close()
	tu, err := tok.GetTokenUser()
	if err != nil {
		return "", "", err
	}
	sid = tu.User.Sid.String()
	if account, domain, _, err := tu.User.Sid.LookupAccount(""); err == nil {
		name = account
		if domain != "" {
			name = domain + `\` + account
		}
	}
	return sid, name, nil
}
