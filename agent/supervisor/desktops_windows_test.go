//go:build windows

package supervisor

import (
	"slices"
	"testing"

	"golang.org/x/sys/windows"
)

func TestWTSDesktops(t *testing.T) {
	const alice, bob = "S-1-5-21-1-2-3-1001", "S-1-5-21-1-2-3-1002"
	sessions := []wtsSession{
		{ID: 0, State: windows.WTSDisconnected},                                   // services
		{ID: 1, State: windows.WTSConnected},                                      // console at the login screen
		{ID: 2, State: windows.WTSDisconnected, UserSID: bob, User: `PC\bob`},     // switched away
		{ID: 3, State: windows.WTSActive, UserSID: alice, User: `PC\alice`},       // remote desktop
		{ID: 65536, State: windows.WTSListen},                                     // RDP listener
		{ID: 4, State: windows.WTSDisconnected, UserSID: alice, User: `PC\alice`}, // console, switching
	}
	got := wtsDesktops(sessions, 1)
	want := []Desktop{
		{Key: "wts:1:", UID: -1, GID: -1, User: "SYSTEM", Active: true, Greeter: true},
		{Key: "wts:3:" + alice, UID: 3, GID: -1, User: `PC\alice`, Owner: alice},
	}
	if !slices.EqualFunc(got, want, equalDesktop) {
		t.Errorf("wtsDesktops(active 1) = %+v\nwant %+v", got, want)
	}
	got = wtsDesktops(sessions, 4)
	want = []Desktop{
		{Key: "wts:1:", UID: -1, GID: -1, User: "SYSTEM", Greeter: true},
		{Key: "wts:3:" + alice, UID: 3, GID: -1, User: `PC\alice`, Owner: alice},
		{Key: "wts:4:" + alice, UID: 4, GID: -1, User: `PC\alice`, Owner: alice, Active: true},
	}
	if !slices.EqualFunc(got, want, equalDesktop) {
		t.Errorf("wtsDesktops(active 4) = %+v\nwant %+v", got, want)
	}
	for _, d := range wtsDesktops(sessions, noActiveSession) {
		if d.Active {
			t.Errorf("%s active without a console session", d.Key)
		}
	}
}

func equalDesktop(a, b Desktop) bool {
	return a.Key == b.Key && a.UID == b.UID && a.GID == b.GID && a.User == b.User && a.Active == b.Active && len(a.Env) == len(b.Env) &&
		a.Greeter == b.Greeter && a.Owner == b.Owner
}

func TestParseWTSKey(t *testing.T) {
	for _, tc := range []struct {
		key     string
		session uint32
		sid     string
		ok      bool
	}{
		{"wts:1:", 1, "", true},
		{"wts:3:S-1-5-21-1-2-3-1001", 3, "S-1-5-21-1-2-3-1001", true},
		{"wts:0:", 0, "", false},
		{"wts:x:", 0, "", false},
		{"wts:4294967295:", 0, "", false},
		{"wts:2", 0, "", false},
		{"own", 0, "", false},
		{"x11:1000::0", 0, "", false},
	} {
		s, sid, ok := parseWTSKey(tc.key)
		if s != tc.session || sid != tc.sid || ok != tc.ok {
			t.Errorf("parseWTSKey(%q) = %d, %q, %v; want %d, %q, %v", tc.key, s, sid, ok, tc.session, tc.sid, tc.ok)
		}
		if tc.ok && wtsKey(s, sid) != tc.key {
			t.Errorf("wtsKey(%d, %q) = %q", s, sid, wtsKey(s, sid))
		}
	}
}

func TestSASPolicy(t *testing.T) {
	for v, want := range map[uint64]bool{0: false, 1: true, 2: false, 3: true, 4: false} {
		if got := sasPolicyAllowsServices(v); got != want {
			t.Errorf("sasPolicyAllowsServices(%d) = %v", v, got)
		}
	}
}
