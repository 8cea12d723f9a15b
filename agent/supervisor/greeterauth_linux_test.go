package supervisor

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

func TestCookieFile(t *testing.T) {
	cookie, other := bytes.Repeat([]byte{0xab}, 16), bytes.Repeat([]byte{0xcd}, 16)
	var server []byte
	for _, e := range []xauthEntry{
		{family: 256, address: "host", number: "0", name: xauthCookieName, data: cookie}, // FamilyLocal
		{family: xauthFamilyWild, number: "0", name: xauthCookieName, data: cookie},      // the same cookie again
		{family: 0, address: "\x7f\x00\x00\x01", number: "0", name: "XDM-AUTHORIZATION-1", data: other},
		{family: 256, address: "host", number: "", name: xauthCookieName, data: other},
	} {
		server = appendXauth(server, e)
	}
	b, err := cookieFile(server, 7)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseXauth(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []xauthEntry{
		{family: xauthFamilyWild, number: "7", name: xauthCookieName, data: cookie},
		{family: xauthFamilyWild, number: "7", name: xauthCookieName, data: other},
	}
	if len(got) != len(want) {
		t.Fatalf("entries %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].family != want[i].family || got[i].address != "" || got[i].number != want[i].number || got[i].name != want[i].name || !bytes.Equal(got[i].data, want[i].data) {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, bad := range [][]byte{nil, {0xff}, server[:len(server)-3], appendXauth(nil, xauthEntry{family: 256, name: "XDM-AUTHORIZATION-1", data: other})} {
		if _, err := cookieFile(bad, 0); err == nil {
			t.Errorf("cookieFile(%x) accepted", bad)
		}
	}
}

// TestHelperXAuthority: a login screen's helper running as the display
// manager's user gets its own copy of the X server's cookie, which that
// user alone can read, for exactly as long as the helper runs.
func TestHelperXAuthority(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving the file to another user needs root")
	}
	const dmUID, otherUID = 64011, 64012
	cookie := bytes.Repeat([]byte{0x5a}, 16)
	serverAuth := filepath.Join(t.TempDir(), "root-:0")
	if err := os.WriteFile(serverAuth, appendXauth(nil, xauthEntry{family: 256, address: "host", number: "0", name: xauthCookieName, data: cookie}), 0o600); err != nil {
		t.Fatal(err)
	}
	d := Desktop{Key: "x11:greeter::0", UID: dmUID, GID: dmUID, Greeter: true, ServerAuth: serverAuth, Env: []string{"DISPLAY=:0"}}
	env, cleanup, err := prepareHelper(d)
	if err != nil {
		t.Fatal(err)
	}
	path := envValue(env, "XAUTHORITY")
	if path == "" {
		t.Fatalf("env %v has no XAUTHORITY", env)
	}
	for p, want := range map[string]struct {
		mode fs.FileMode
		uid  int
	}{
		path:                             {0o600, dmUID},
		filepath.Dir(path):               {fs.ModeDir | 0o700, dmUID},
		filepath.Dir(filepath.Dir(path)): {fs.ModeDir | 0o711, 0},
	} {
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want.mode || int(st.Sys().(*syscall.Stat_t).Uid) != want.uid {
			t.Errorf("%s: mode %v uid %d, want %v uid %d", p, st.Mode(), st.Sys().(*syscall.Stat_t).Uid, want.mode, want.uid)
		}
	}
	read := func(uid int) ([]byte, error) {
		cmd := exec.Command("cat", path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
		return cmd.Output()
	}
	b, err := read(dmUID)
	if err != nil {
		t.Fatalf("the display manager's user cannot read its copy: %v", err)
	}
	if es, err := parseXauth(b); err != nil || len(es) != 1 || !bytes.Equal(es[0].data, cookie) || es[0].number != "0" {
		t.Errorf("its copy holds %+v, %v", es, err)
	}
	if _, err := read(otherUID); err == nil {
		t.Error("another user can read the copy")
	}
	cleanup()
	if _, err := os.Stat(filepath.Dir(filepath.Dir(path))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after cleanup: %v", err)
	}

	// The supervisor does this around each run of the helper.
	var (
		mu   sync.Mutex
		seen []string
	)
	f := start(t, "crash", []Desktop{{Key: d.Key, UID: dmUID, GID: dmUID, Greeter: true, ServerAuth: serverAuth, Env: d.Env, Active: true}}, func(c *Config) {
		inner := c.Command
		c.Command = func(ctx context.Context, d Desktop) *exec.Cmd {
			mu.Lock()
			seen = append(seen, envValue(d.Env, "XAUTHORITY"))
			mu.Unlock()
			return inner(ctx, d)
		}
	})
	f.recs.waitFor(t, "session helper exited; restarting it", 2)
	f.stop()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 2 || seen[0] == "" || seen[0] == seen[1] || seen[0] == serverAuth {
		t.Fatalf("helpers got XAUTHORITY %q, want a new private copy each run", seen)
	}
	for _, p := range seen {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s outlived its helper: %v", p, err)
		}
	}
}

// TestHelperXAuthorityMissing: without the server's cookie the helper is
// not started (and not as root in its place).
func TestHelperXAuthorityMissing(t *testing.T) {
	d := Desktop{Key: "x11:greeter::0", UID: 64011, GID: 64011, Greeter: true, ServerAuth: filepath.Join(t.TempDir(), "missing"), Env: []string{"DISPLAY=:0"}}
	if _, _, err := prepareHelper(d); err == nil {
		t.Error("prepareHelper without the server's file succeeded")
	}
	f := start(t, "serve", []Desktop{{Key: d.Key, UID: d.UID, GID: d.GID, Greeter: true, ServerAuth: d.ServerAuth, Env: d.Env, Active: true}}, nil)
	f.recs.waitFor(t, "session helper exited; restarting it", 1)
	if n := f.starts.Load(); n != 0 {
		t.Errorf("the helper was started %d times", n)
	}
}
