package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestScanProc(t *testing.T) {
	root := t.TempDir()
	proc, x11 := filepath.Join(root, "proc"), filepath.Join(root, "x11")
	os.MkdirAll(x11, 0o755)
	os.WriteFile(filepath.Join(x11, "X1"), nil, 0o644)
	os.WriteFile(filepath.Join(x11, "X3"), nil, 0o644)
	owners := map[string]int{}
	add := func(pid string, uid int, env ...string) {
		dir := filepath.Join(proc, pid)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "environ"), []byte(strings.Join(env, "\x00")+"\x00"), 0o644)
		owners[dir] = uid
	}
	add("10", 0, "DISPLAY=:1")                                                      // root: ignored
	add("11", 1000, "DISPLAY=:1", "USER=ann")                                       // no XAUTHORITY
	add("12", 1000, "DISPLAY=:1", "XAUTHORITY=/run/user/1000/xauth", "USER=ann")    // preferred
	add("13", 1001, "DISPLAY=:3.0", "XAUTHORITY=/home/bob/.Xauthority", "USER=bob") // second desktop
	add("14", 1002, "DISPLAY=:7", "USER=carl")                                      // no socket: ignored
	add("15", 1003, "DISPLAY=remote:1", "USER=dan")                                 // remote: ignored
	add("self", 1000, "DISPLAY=:1")                                                 // not a pid
	owner := func(p string) (int, int, bool) { u, ok := owners[p]; return u, u, ok }
	ds, err := scanProc(proc, x11, owner)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 {
		t.Fatalf("got %d desktops: %+v", len(ds), ds)
	}
	if ds[0].Key != "x11:1000::1" || !ds[0].Active || ds[0].UID != 1000 || envValue(ds[0].Env, "XAUTHORITY") != "/run/user/1000/xauth" {
		t.Errorf("first desktop %+v", ds[0])
	}
	if ds[1].Key != "x11:1001::3.0" || ds[1].Active || envValue(ds[1].Env, "USER") != "bob" {
		t.Errorf("second desktop %+v", ds[1])
	}
}

// fakeSeat is an ActiveSource from fixtures: loginctl output through
// seatInfo's parser, or no logind at all.
func fakeSeat(t *testing.T, outputs map[string]string, vt string) seatInfo {
	vtFile := filepath.Join(t.TempDir(), "active")
	if vt != "" {
		os.WriteFile(vtFile, []byte(vt+"\n"), 0o644)
	}
	return seatInfo{
		activeVTFile: vtFile,
		run: func(_ context.Context, name string, args ...string) ([]byte, error) {
			out, ok := outputs[name+" "+strings.Join(args, " ")]
			if !ok {
				return nil, errors.New("exit status 1")
			}
			return []byte(out), nil
		},
	}
}

const (
	showSeat       = "loginctl show-seat seat0 -p ActiveSession"
	showSessionFmt = "loginctl show-session %s -p Display -p Type -p Name -p VTNr"
)

func TestLinuxDesktops(t *testing.T) {
	root := t.TempDir()
	proc, x11 := filepath.Join(root, "proc"), filepath.Join(root, "x11")
	os.MkdirAll(x11, 0o755)
	for _, n := range []string{"X0", "X1", "X5", "X9"} {
		os.WriteFile(filepath.Join(x11, n), nil, 0o644)
	}
	// Carl's Wayland session: its socket in his runtime directory.
	carlRT := filepath.Join(root, "run-1002")
	os.MkdirAll(carlRT, 0o700)
	l, err := net.Listen("unix", filepath.Join(carlRT, "wayland-0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	owners := map[string]int{}
	add := func(pid string, uid int, cmdline []string, env ...string) {
		dir := filepath.Join(proc, pid)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "cmdline"), []byte(strings.Join(cmdline, "\x00")+"\x00"), 0o644)
		os.WriteFile(filepath.Join(dir, "environ"), []byte(strings.Join(env, "\x00")+"\x00"), 0o644)
		owners[dir] = uid
	}
	// The login screen: lightdm's X server on vt7, no user process on :0.
	add("100", 0, []string{"/usr/lib/xorg/Xorg", ":0", "-seat", "seat0", "-auth", "/var/run/lightdm/root/:0", "-nolisten", "tcp", "vt7", "-novtswitch"})
	// Ann's session: X server on vt8, her processes with DISPLAY=:1.
	add("200", 0, []string{"/usr/lib/xorg/Xorg", ":1", "-auth", "/var/run/lightdm/root/:1", "vt8"})
	add("201", 1000, []string{"xfce4-session"}, "DISPLAY=:1", "XAUTHORITY=/home/ann/.Xauthority", "USER=ann")
	// A rootless Xorg of bob's on vt2; his processes do not name XAUTHORITY.
	add("300", 1001, []string{"/usr/libexec/Xorg", "vt2", "-displayfd", "3", ":5", "-auth", "/run/user/1001/gdm/Xauthority"})
	add("301", 1001, []string{"gnome-shell"}, "DISPLAY=:5", "USER=bob")
	// Xwayland and a server without a socket are no desktops, nor are
	// X clients of a Wayland session.
	add("400", 1002, []string{"/usr/bin/Xwayland", ":9", "-auth", "/run/user/1002/.mutter-Xwaylandauth"})
	add("402", 1002, []string{"xterm"}, "DISPLAY=:9", "XAUTHORITY=/run/user/1002/.mutter-Xwaylandauth", "USER=carl")
	add("403", 1002, []string{"gnome-shell"}, "WAYLAND_DISPLAY=wayland-0", "XDG_RUNTIME_DIR="+carlRT, "DISPLAY=:9",
		"DBUS_SESSION_BUS_ADDRESS=unix:path="+carlRT+"/bus", "XDG_CURRENT_DESKTOP=GNOME", "USER=carl")
	add("404", 1002, []string{"weston-terminal"}, "WAYLAND_DISPLAY=wayland-0", "XDG_RUNTIME_DIR="+carlRT, "USER=carl")
	// A Wayland display whose socket is gone.
	add("405", 1003, []string{"sway"}, "WAYLAND_DISPLAY=wayland-1", "XDG_RUNTIME_DIR="+carlRT, "USER=dan")
	add("401", 0, []string{"Xvfb", ":3"})
	owner := func(p string) (int, int, bool) { u, ok := owners[p]; return u, u, ok }
	carlKey := "wayland:1002:" + filepath.Join(carlRT, "wayland-0")

	tests := []struct {
		name    string
		outputs map[string]string
		vt      string
		active  string // key, "" for none
	}{
		{"logind: ann's session by display", map[string]string{
			showSeat: "ActiveSession=c2\n", fmt.Sprintf(showSessionFmt, "c2"): "Display=:1\nType=x11\nName=ann\nVTNr=8\n",
		}, "tty7", "x11:1000::1"},
		{"logind: the greeter session by display", map[string]string{
			showSeat: "ActiveSession=c1\n", fmt.Sprintf(showSessionFmt, "c1"): "Display=:0\nType=x11\nName=lightdm\nVTNr=7\n",
		}, "tty8", "x11:greeter::0"},
		{"logind: session without Display, by its VT", map[string]string{
			showSeat: "ActiveSession=3\n", fmt.Sprintf(showSessionFmt, "3"): "Display=\nType=x11\nName=bob\nVTNr=2\n",
		}, "", "x11:1001::5"},
		{"logind: a text console in front", map[string]string{
			showSeat: "ActiveSession=5\n", fmt.Sprintf(showSessionFmt, "5"): "Display=\nType=tty\nName=root\nVTNr=3\n",
		}, "tty3", ""},
		{"logind: carl's wayland session in front", map[string]string{
			showSeat: "ActiveSession=6\n", fmt.Sprintf(showSessionFmt, "6"): "Display=\nType=wayland\nName=carl\nVTNr=4\n",
		}, "tty4", carlKey},
		{"logind: someone else's wayland session in front", map[string]string{
			showSeat: "ActiveSession=7\n", fmt.Sprintf(showSessionFmt, "7"): "Display=\nType=wayland\nName=erin\nVTNr=5\n",
		}, "tty5", ""},
		{"no logind: the X server on the active VT", nil, "tty8", "x11:1000::1"},
		{"no logind: the login screen's VT", nil, "tty7", "x11:greeter::0"},
		{"no logind, no VT: the lowest display", nil, "", "x11:greeter::0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls := linuxSystem{proc: proc, x11: x11, owner: owner, seat: fakeSeat(t, tt.outputs, tt.vt)}
			ds, err := ls.desktops(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			active := ""
			for _, d := range ds {
				keys = append(keys, d.Key)
				if d.Active {
					if active != "" {
						t.Errorf("two active desktops: %s and %s", active, d.Key)
					}
					active = d.Key
				}
			}
			if want := []string{"x11:greeter::0", "x11:1000::1", "x11:1001::5", carlKey}; !slices.Equal(keys, want) {
				t.Fatalf("desktops %v, want %v", keys, want)
			}
			if active != tt.active {
				t.Errorf("active %q, want %q", active, tt.active)
			}
			if g := ds[0]; g.UID != -1 || !g.Greeter || g.ServerAuth != "" || envValue(g.Env, "XAUTHORITY") != "/var/run/lightdm/root/:0" || envValue(g.Env, "DISPLAY") != ":0" {
				t.Errorf("greeter desktop %+v", g)
			}
			if b := ds[2]; b.UID != 1001 || envValue(b.Env, "XAUTHORITY") != "/run/user/1001/gdm/Xauthority" {
				t.Errorf("bob's desktop %+v", b)
			}
			if c := ds[3]; c.UID != 1002 || c.User != "carl" || envValue(c.Env, "WAYLAND_DISPLAY") != "wayland-0" ||
				envValue(c.Env, "XDG_RUNTIME_DIR") != carlRT || envValue(c.Env, "DISPLAY") != ":9" ||
				envValue(c.Env, "DBUS_SESSION_BUS_ADDRESS") == "" || envValue(c.Env, "XDG_CURRENT_DESKTOP") != "GNOME" {
				t.Errorf("carl's Wayland desktop %+v", c)
			}
		})
	}
}

func TestParseXServer(t *testing.T) {
	tests := []struct {
		cmdline string
		ok      bool
		want    xServer
	}{
		{"/usr/bin/X\x00:0\x00-auth\x00/run/sddm/xauth_AbC\x00vt1\x00", true, xServer{display: 0, vt: 1, auth: "/run/sddm/xauth_AbC"}},
		{"/usr/lib/xorg/Xorg\x00vt1\x00-displayfd\x003\x00-auth\x00/run/user/120/gdm/Xauthority\x00-nolisten\x00tcp\x00:1024\x00", true, xServer{display: 1024, vt: 1, auth: "/run/user/120/gdm/Xauthority"}},
		{"Xvfb\x00:42\x00-screen\x000\x001280x720x24\x00", true, xServer{display: 42}},
		{"/usr/bin/Xwayland\x00:0\x00", false, xServer{}},
		{"/usr/bin/Xorg\x00-auth\x00", false, xServer{}},
		{"bash\x00:0\x00", false, xServer{}},
		{"", false, xServer{}},
	}
	for _, tt := range tests {
		got, ok := parseXServer([]byte(tt.cmdline))
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("parseXServer(%q) = %+v, %v; want %+v, %v", tt.cmdline, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSeatInfo(t *testing.T) {
	si := fakeSeat(t, map[string]string{showSeat: "ActiveSession=c7\n", fmt.Sprintf(showSessionFmt, "c7"): "Display=:0\nType=x11\nName=gdm\nVTNr=1\n"}, "tty1")
	sess, ok := si.ActiveSession(context.Background())
	if !ok || sess != (LogindSession{ID: "c7", Name: "gdm", Type: "x11", Display: ":0", VT: 1}) {
		t.Errorf("ActiveSession = %+v, %v", sess, ok)
	}
	if vt, ok := si.ActiveVT(); !ok || vt != 1 {
		t.Errorf("ActiveVT = %d, %v", vt, ok)
	}
	for _, out := range []string{"ActiveSession=\n", "", "ActiveSession=../x\n"} {
		si := fakeSeat(t, map[string]string{showSeat: out}, "")
		if sess, ok := si.ActiveSession(context.Background()); ok {
			t.Errorf("ActiveSession from %q = %+v", out, sess)
		}
		if _, ok := si.ActiveVT(); ok {
			t.Error("ActiveVT without the sysfs file")
		}
	}
}

// fakeUsers is a passwd database.
type fakeUsers []Account

func (f fakeUsers) ByName(name string) (Account, bool) {
	for _, a := range f {
		if a.Name == name {
			return a, true
		}
	}
	return Account{}, false
}

func (f fakeUsers) ByUID(uid int) (Account, bool) {
	for _, a := range f {
		if a.UID == uid {
			return a, true
		}
	}
	return Account{}, false
}

// TestGreeterUser: a login screen's helper runs as the display manager's
// user where there is one — the X server's own (rootless), a non-root
// process on its VT, a display-manager account — with a private copy of
// the X server's cookie (ServerAuth) instead of the server's file; as root
// only where there is none. Desktops of display-manager accounts are login
// screens too.
func TestGreeterUser(t *testing.T) {
	lightdm := Account{Name: "lightdm", UID: 131, GID: 139, Home: "/var/lib/lightdm"}
	gdm := Account{Name: "Debian-gdm", UID: 120, GID: 125, Home: "/var/lib/gdm3"}
	ann := Account{Name: "ann", UID: 1000, GID: 1000, Home: "/home/ann"}
	tty := func(vt int) string { return strconv.Itoa(ttyMajor<<8 | vt) }
	type proc struct {
		pid     string
		uid     int
		cmdline []string
		tty     string // tty_nr in stat; "" for none
		env     []string
	}
	rootX := proc{"100", 0, []string{"/usr/lib/xorg/Xorg", ":0", "-auth", "/var/run/lightdm/root/:0", "vt7"}, "0", nil}
	tests := []struct {
		name    string
		procs   []proc
		users   fakeUsers
		uid     int
		user    string
		auth    string // ServerAuth
		xauth   string // XAUTHORITY
		home    string
		greeter bool
	}{
		{"a display-manager account", []proc{rootX}, fakeUsers{ann, lightdm}, 131, "lightdm", "/var/run/lightdm/root/:0", "", "/var/lib/lightdm", true},
		{"the first account in order", []proc{rootX}, fakeUsers{lightdm, gdm}, 120, "Debian-gdm", "/var/run/lightdm/root/:0", "", "/var/lib/gdm3", true},
		{"a process on the VT", []proc{rootX, {"150", 131, []string{"lightdm-greeter-session"}, tty(7), nil}, {"160", 1000, []string{"bash"}, tty(2), nil}},
			fakeUsers{ann, lightdm, gdm}, 131, "lightdm", "/var/run/lightdm/root/:0", "", "/var/lib/lightdm", true},
		{"no display-manager user: root", []proc{rootX, {"160", 1000, []string{"bash"}, tty(2), nil}}, fakeUsers{ann},
			-1, "root", "", "/var/run/lightdm/root/:0", "", true},
		{"a rootless X server's user", []proc{{"200", 120, []string{"/usr/lib/xorg/Xorg", "vt1", ":0", "-auth", "/run/user/120/gdm/Xauthority"}, "0", nil}},
			fakeUsers{gdm}, 120, "Debian-gdm", "", "/run/user/120/gdm/Xauthority", "/var/lib/gdm3", true},
		{"a greeter process with DISPLAY", []proc{rootX, {"150", 131, []string{"lightdm-gtk-greeter"}, "0", []string{"DISPLAY=:0", "USER=lightdm"}}},
			fakeUsers{lightdm}, 131, "lightdm", "", "", "", true},
		{"a user's desktop", []proc{rootX, {"160", 1000, []string{"xfce4-session"}, "0", []string{"DISPLAY=:0", "USER=ann"}}},
			fakeUsers{ann, lightdm}, 1000, "ann", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			proc, x11 := filepath.Join(root, "proc"), filepath.Join(root, "x11")
			os.MkdirAll(x11, 0o755)
			os.WriteFile(filepath.Join(x11, "X0"), nil, 0o644)
			owners := map[string]int{}
			for _, p := range tt.procs {
				dir := filepath.Join(proc, p.pid)
				os.MkdirAll(dir, 0o755)
				os.WriteFile(filepath.Join(dir, "cmdline"), []byte(strings.Join(p.cmdline, "\x00")+"\x00"), 0o644)
				os.WriteFile(filepath.Join(dir, "environ"), []byte(strings.Join(p.env, "\x00")+"\x00"), 0o644)
				os.WriteFile(filepath.Join(dir, "stat"), []byte(p.pid+" (a (b) c) S 1 "+p.pid+" "+p.pid+" "+p.tty+" -1 4194560 0 0"), 0o644)
				owners[dir] = p.uid
			}
			owner := func(p string) (int, int, bool) { u, ok := owners[p]; return u, u, ok }
			ls := linuxSystem{proc: proc, x11: x11, owner: owner, users: tt.users}
			ds, err := ls.desktops(context.Background())
			if err != nil || len(ds) != 1 {
				t.Fatalf("desktops = %+v, %v; want one", ds, err)
			}
			d := ds[0]
			if d.UID != tt.uid || d.User != tt.user || d.ServerAuth != tt.auth || envValue(d.Env, "XAUTHORITY") != tt.xauth || d.Greeter != tt.greeter {
				t.Errorf("desktop %+v\nwant uid %d user %q ServerAuth %q XAUTHORITY %q greeter %v", d, tt.uid, tt.user, tt.auth, tt.xauth, tt.greeter)
			}
			if tt.home != "" && envValue(d.Env, "HOME") != tt.home {
				t.Errorf("HOME %q, want %q", envValue(d.Env, "HOME"), tt.home)
			}
			if d.UID > 0 && d.GID <= 0 {
				t.Errorf("helper of uid %d would run with gid %d", d.UID, d.GID)
			}
		})
	}
}

func TestStatVT(t *testing.T) {
	for _, tc := range []struct {
		stat string
		vt   int
		ok   bool
	}{
		{"42 (bash) S 1 42 42 1031 42 4194560", 7, true},
		{"42 (my (odd) name) S 1 42 42 1025 42", 1, true},
		{"42 (sshd) S 1 42 42 34816 42", 0, false}, // pts/0
		{"42 (Xorg) S 1 42 42 0 -1", 0, false},
		{"42 (x) S 1", 0, false},
		{"garbage", 0, false},
	} {
		vt, ok := statVT([]byte(tc.stat))
		if ok != tc.ok || ok && vt != tc.vt {
			t.Errorf("statVT(%q) = %d, %v; want %d, %v", tc.stat, vt, ok, tc.vt, tc.ok)
		}
	}
}
