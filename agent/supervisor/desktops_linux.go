package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func systemDesktops(ctx context.Context) ([]Desktop, error) {
	return linuxSystem{
		proc: "/proc", x11: "/tmp/.X11-unix", owner: fileOwner,
		seat:  seatInfo{run: runCommand, activeVTFile: "/sys/class/tty/tty0/active"},
		users: systemUsers{},
	}.desktops(ctx)
}

// Users is the passwd database, as far as desktops need it.
type Users interface {
	// ByName looks up an account by name.
	ByName(name string) (Account, bool)
	// ByUID looks up an account by uid.
	ByUID(uid int) (Account, bool)
}

// Account is one passwd entry.
type Account struct {
	Name     string
	UID, GID int
	Home     string
}

// systemUsers reads the system's user database (os/user: NSS with cgo,
// /etc/passwd without).
type systemUsers struct{}

func (systemUsers) ByName(name string) (Account, bool) { return account(user.Lookup(name)) }
func (systemUsers) ByUID(uid int) (Account, bool)      { return account(user.LookupId(strconv.Itoa(uid))) }

func account(u *user.User, err error) (Account, bool) {
	if err != nil {
		return Account{}, false
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return Account{}, false
	}
	return Account{Name: u.Username, UID: uid, GID: gid, Home: u.HomeDir}, true
}

// displayManagerAccounts are the accounts display managers run their
// login screens as, in the order they are looked for.
var displayManagerAccounts = []string{"gdm", "Debian-gdm", "lightdm", "sddm"}

// isDisplayManagerAccount: one of displayManagerAccounts, or one of GDM's
// dynamic greeter users (gdm-greeter, gdm-greeter-2, ...).
func isDisplayManagerAccount(name string) bool {
	return slices.Contains(displayManagerAccounts, name) || name == "gdm-greeter" || strings.HasPrefix(name, "gdm-greeter-")
}

// runCommand runs a short command and returns its standard output.
func runCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, name, args...).Output()
}

// ActiveSource tells which desktop is in front: the seat's active logind
// session, else the foreground virtual terminal. seatInfo is the real one;
// tests use a fake.
type ActiveSource interface {
	// ActiveSession is the seat's active logind session; ok is false
	// when there is no logind (or no active session).
	ActiveSession(ctx context.Context) (sess LogindSession, ok bool)
	// ActiveVT is the number of the foreground virtual terminal.
	ActiveVT() (vt int, ok bool)
}

// LogindSession is what loginctl says of a session.
type LogindSession struct {
	ID, Name, Type, Display string
	VT                      int
}

// seatInfo asks loginctl about seat0 and reads the active VT from sysfs.
type seatInfo struct {
	run          func(ctx context.Context, name string, args ...string) ([]byte, error)
	activeVTFile string
}

func (si seatInfo) ActiveSession(ctx context.Context) (LogindSession, bool) {
	out, err := si.run(ctx, "loginctl", "show-seat", "seat0", "-p", "ActiveSession")
	if err != nil {
		return LogindSession{}, false
	}
	id := parseProps(out)["ActiveSession"]
	if id == "" || strings.ContainsAny(id, " /") {
		return LogindSession{}, false
	}
	out, err = si.run(ctx, "loginctl", "show-session", id, "-p", "Display", "-p", "Type", "-p", "Name", "-p", "VTNr")
	if err != nil {
		return LogindSession{}, false
	}
	p := parseProps(out)
	vt, _ := strconv.Atoi(p["VTNr"])
	return LogindSession{ID: id, Name: p["Name"], Type: p["Type"], Display: p["Display"], VT: vt}, true
}

func (si seatInfo) ActiveVT() (int, bool) {
	b, err := os.ReadFile(si.activeVTFile)
	if err != nil {
		return 0, false
	}
	return parseVT(strings.TrimSpace(string(b)), "tty")
}

// parseProps parses loginctl's "Key=Value" lines.
func parseProps(out []byte) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok {
			m[k] = v
		}
	}
	return m
}

// parseVT parses prefix+N ("tty2", "vt7").
func parseVT(s, prefix string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(s, prefix))
	return n, err == nil && strings.HasPrefix(s, prefix) && n > 0
}

// linuxSystem finds the machine's X11 desktops and the active one.
type linuxSystem struct {
	proc, x11 string
	owner     func(string) (uid, gid int, ok bool)
	seat      ActiveSource
	// users finds display-manager accounts; nil: none (the login screen's
	// helper then runs as root).
	users Users
}

// xServer is a running X server: its display, VT and authority file.
type xServer struct {
	display int
	vt      int
	auth    string
	// uid and gid the server runs as; -1 for root (the service's user).
	uid, gid int
}

// xServerNames are the X servers whose displays are desktops. Xwayland is
// not one: its display is part of a Wayland session we cannot capture.
var xServerNames = []string{"X", "Xorg", "Xorg.bin", "Xvfb", "Xvnc", "Xtigervnc"}

// parseXServer reads an X server's command line (NUL-separated):
// "/usr/lib/xorg/Xorg :0 -seat seat0 -auth /var/run/lightdm/root/:0 vt7".
func parseXServer(cmdline []byte) (xServer, bool) {
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if len(args) == 0 || !slices.Contains(xServerNames, filepath.Base(args[0])) {
		return xServer{}, false
	}
	x := xServer{display: -1}
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-auth" && i+1 < len(args):
			x.auth = args[i+1]
			i++
		case strings.HasPrefix(a, ":") && x.display < 0:
			if n, ok := localDisplay(a); ok {
				x.display = n
			}
		case strings.HasPrefix(a, "vt"):
			if n, ok := parseVT(a, "vt"); ok {
				x.vt = n
			}
		}
	}
	return x, x.display >= 0
}

// desktops lists the X11 desktops: displays with user processes on them
// (scanProc), and displays of X servers without any, such as a display
// manager's login screen (gdm, lightdm, sddm). Desktops of display-manager
// accounts are login screens (Greeter). A login screen's helper runs as
// the display manager's user where there is one (greeterUser), with a
// private copy of the X server's cookie (Desktop.ServerAuth); only where
// there is none does it run as root, with the X server's -auth file — and
// a helper running as root shows no window but the acceptance prompt
// (agent/session, Config.Privileged). Then it marks the active one: the
// seat's active logind session (its Display, else its VT), else the X
// server on the foreground VT, else the lowest display.
func (ls linuxSystem) desktops(ctx context.Context) ([]Desktop, error) {
	ds, wds, xs, vtUsers, err := scanProcAll(ls.proc, ls.x11, ls.owner)
	if err != nil {
		return nil, err
	}
	if ls.users != nil {
		for i := range wds {
			if a, ok := ls.users.ByUID(wds[i].UID); ok && isDisplayManagerAccount(a.Name) {
				wds[i].Greeter = true // GDM's login screen on Wayland
			}
		}
	}
	byDisplay := map[int]xServer{}
	for _, x := range xs {
		byDisplay[x.display] = x
	}
	have := map[int]bool{}
	for i := range ds {
		n, _ := localDisplay(envValue(ds[i].Env, "DISPLAY"))
		have[n] = true
		// A user process that does not know the authority file: the X
		// server's, when it runs as that user (rootless Xorg).
		if x, ok := byDisplay[n]; ok && x.auth != "" && envValue(ds[i].Env, "XAUTHORITY") == "" && x.uid == ds[i].UID {
			ds[i].Env = append(ds[i].Env, "XAUTHORITY="+x.auth)
			slices.Sort(ds[i].Env)
		}
		if ls.users != nil {
			if a, ok := ls.users.ByUID(ds[i].UID); ok && isDisplayManagerAccount(a.Name) {
				ds[i].Greeter = true
			}
		}
	}
	for _, x := range xs {
		if have[x.display] {
			continue
		}
		if _, err := os.Stat(filepath.Join(ls.x11, "X"+strconv.Itoa(x.display))); err != nil {
			continue
		}
		have[x.display] = true
		ds = append(ds, ls.greeterDesktop(x, vtUsers))
	}
	sortDesktops(ds)
	nx := len(ds)
	ds = append(ds, wds...)
	for i := range ds {
		ds[i].Active = false
	}
	if i := ls.activeIndex(ctx, ds, nx, byDisplay); i >= 0 {
		ds[i].Active = true
	}
	return ds, nil
}

// greeterDesktop is the login screen of X server x, which no user process
// runs on.
func (ls linuxSystem) greeterDesktop(x xServer, vtUsers map[int]int) Desktop {
	disp := ":" + strconv.Itoa(x.display)
	d := Desktop{Key: "x11:greeter:" + disp, UID: x.uid, GID: x.gid, Greeter: true, Env: []string{"DISPLAY=" + disp}}
	if x.uid >= 0 {
		// A rootless X server: its user is the display manager's, and
		// may read its own authority file.
		if x.auth != "" {
			d.Env = append(d.Env, "XAUTHORITY="+x.auth)
		}
		if a, ok := ls.lookupUID(x.uid); ok {
			d.User = a.Name
			d.Env = append(d.Env, accountEnv(a)...)
		}
		slices.Sort(d.Env)
		return d
	}
	if a, ok := ls.greeterUser(x, vtUsers); ok {
		d.UID, d.GID, d.User = a.UID, a.GID, a.Name
		d.ServerAuth = x.auth // copied for the helper at each start
		d.Env = append(d.Env, accountEnv(a)...)
		slices.Sort(d.Env)
		return d
	}
	// No display-manager user: root, the X server's own file.
	d.User = "root"
	if x.auth != "" {
		d.Env = append(d.Env, "XAUTHORITY="+x.auth)
	}
	return d
}

// greeterUser is the display manager's own user for the login screen of
// root X server x: the user of a non-root process on its VT, else the
// first display-manager account the passwd database has.
func (ls linuxSystem) greeterUser(x xServer, vtUsers map[int]int) (Account, bool) {
	if uid, ok := vtUsers[x.vt]; ok && x.vt > 0 {
		if a, ok := ls.lookupUID(uid); ok {
			return a, true
		}
		return Account{UID: uid, GID: uid}, true
	}
	if ls.users == nil {
		return Account{}, false
	}
	for _, name := range displayManagerAccounts {
		if a, ok := ls.users.ByName(name); ok && a.UID > 0 {
			return a, true
		}
	}
	return Account{}, false
}

func (ls linuxSystem) lookupUID(uid int) (Account, bool) {
	if ls.users == nil {
		return Account{}, false
	}
	a, ok := ls.users.ByUID(uid)
	return a, ok && a.UID == uid
}

// accountEnv is what a helper running as a should have of its own.
func accountEnv(a Account) []string {
	var env []string
	if a.Name != "" {
		env = append(env, "USER="+a.Name, "LOGNAME="+a.Name)
	}
	if a.Home != "" {
		env = append(env, "HOME="+a.Home)
	}
	return env
}

// activeIndex picks the active desktop of ds (the X11 ones first, sorted
// by display, then nx on the Wayland ones), -1 when the active session is
// not one of them (a text console).
func (ls linuxSystem) activeIndex(ctx context.Context, ds []Desktop, nx int, xs map[int]xServer) int {
	if len(ds) == 0 {
		return -1
	}
	wayland := ds[nx:]
	display := func(d Desktop) int { n, _ := localDisplay(envValue(d.Env, "DISPLAY")); return n }
	byVT := func(vt int) int {
		for i, d := range ds {
			if x, ok := xs[display(d)]; ok && x.vt == vt {
				return i
			}
		}
		return -1
	}
	if ls.seat != nil {
		if sess, ok := ls.seat.ActiveSession(ctx); ok {
			if n, ok := localDisplay(sess.Display); ok {
				best := -1
				for i, d := range ds {
					if display(d) == n && (best < 0 || d.User == sess.Name) {
						best = i
					}
				}
				if best >= 0 {
					return best
				}
			}
			if sess.VT > 0 {
				if i := byVT(sess.VT); i >= 0 {
					return i
				}
			}
			if sess.Type == "wayland" {
				// The user's Wayland session: logind knows no display.
				for i, d := range wayland {
					if d.User == sess.Name || ls.userIs(d.UID, sess.Name) {
						return nx + i
					}
				}
				return -1
			}
			if sess.Type != "x11" && sess.Type != "" {
				return -1 // a text console in front: none of ours
			}
		}
		if vt, ok := ls.seat.ActiveVT(); ok {
			if i := byVT(vt); i >= 0 {
				return i
			}
		}
	}
	return 0
}

// userIs reports whether uid is the account named name.
func (ls linuxSystem) userIs(uid int, name string) bool {
	a, ok := ls.lookupUID(uid)
	return ok && a.Name == name
}

func fileOwner(path string) (uid, gid int, ok bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}

// candidate is one process with a DISPLAY or WAYLAND_DISPLAY in its
// environment.
type candidate struct {
	uid, gid    int
	display     string
	xauthority  string
	dbus, xdgRT string
	home, user  string
	wayland     string // WAYLAND_DISPLAY
	current     string // XDG_CURRENT_DESKTOP
}

// scanProc finds the X11 desktops of the machine: the local displays
// (/tmp/.X11-unix/X<n>) that processes of a non-root user run on, with the
// DISPLAY and XAUTHORITY of that user's processes. The lowest display with
// a user is marked active. (Wayland sessions are not covered; the login
// screen is found by linuxSystem.desktops from the X server processes.)
func scanProc(proc, x11 string, owner func(string) (uid, gid int, ok bool)) ([]Desktop, error) {
	ds, _, _, _, err := scanProcAll(proc, x11, owner)
	if err != nil {
		return nil, err
	}
	if len(ds) > 0 {
		ds[0].Active = true
	}
	return ds, nil
}

// scanProcAll is scanProc without marking an active desktop, plus the
// Wayland sessions (processes with WAYLAND_DISPLAY whose socket exists),
// the X servers it saw and, by virtual terminal, the user of the
// lowest-numbered non-root process whose controlling terminal it is. X
// displays that Xwayland serves are no X11 desktops.
func scanProcAll(proc, x11 string, owner func(string) (uid, gid int, ok bool)) ([]Desktop, []Desktop, []xServer, map[int]int, error) {
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("reading %s: %w", proc, err)
	}
	best := map[string]candidate{}
	wbest := map[string]candidate{} // Wayland sessions by key
	xwayland := map[int]bool{}      // displays Xwayland serves
	var xs []xServer
	vtUsers := map[int]int{}
	vtPID := map[int]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join(proc, e.Name())
		if st, err := os.ReadFile(filepath.Join(dir, "stat")); err == nil {
			if vt, ok := statVT(st); ok {
				if uid, _, ok := owner(dir); ok && uid != 0 {
					if p, seen := vtPID[vt]; !seen || pid < p {
						vtUsers[vt], vtPID[vt] = uid, pid
					}
				}
			}
		}
		if cl, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
			if n, ok := parseXwayland(cl); ok {
				xwayland[n] = true
			}
			if x, ok := parseXServer(cl); ok {
				x.uid, x.gid = -1, -1
				if uid, gid, ok := owner(dir); ok && uid != 0 {
					x.uid, x.gid = uid, gid
				}
				xs = append(xs, x)
			}
		}
		raw, err := os.ReadFile(filepath.Join(dir, "environ"))
		if err != nil || len(raw) == 0 {
			continue
		}
		uid, gid, ok := owner(dir)
		if !ok || uid == 0 {
			continue
		}
		c := candidate{uid: uid, gid: gid}
		for _, kv := range bytes.Split(raw, []byte{0}) {
			k, v, ok := strings.Cut(string(kv), "=")
			if !ok {
				continue
			}
			switch k {
			case "DISPLAY":
				c.display = v
			case "XAUTHORITY":
				c.xauthority = v
			case "DBUS_SESSION_BUS_ADDRESS":
				c.dbus = v
			case "XDG_RUNTIME_DIR":
				c.xdgRT = v
			case "HOME":
				c.home = v
			case "USER":
				c.user = v
			case "WAYLAND_DISPLAY":
				c.wayland = v
			case "XDG_CURRENT_DESKTOP":
				c.current = v
			}
		}
		if c.wayland != "" {
			// A Wayland session: its DISPLAY, if any, is Xwayland's.
			sock, err := waylandSocket(c.xdgRT, c.wayland)
			if err != nil {
				continue
			}
			if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
				continue
			}
			key := fmt.Sprintf("wayland:%d:%s", c.uid, sock)
			if prev, ok := wbest[key]; ok && score(prev) >= score(c) {
				continue
			}
			wbest[key] = c
			continue
		}
		n, ok := localDisplay(c.display)
		if !ok {
			continue
		}
		if _, err := os.Stat(filepath.Join(x11, "X"+strconv.Itoa(n))); err != nil {
			continue
		}
		// Prefer a process that knows the X authority file and the bus.
		if prev, ok := best[c.display]; ok && score(prev) >= score(c) {
			continue
		}
		best[c.display] = c
	}
	var out []Desktop
	for d, c := range best {
		if n, _ := localDisplay(d); xwayland[n] {
			continue // an X client of a Wayland session
		}
		env := []string{"DISPLAY=" + c.display}
		for k, v := range map[string]string{"XAUTHORITY": c.xauthority, "DBUS_SESSION_BUS_ADDRESS": c.dbus,
			"XDG_RUNTIME_DIR": c.xdgRT, "HOME": c.home, "USER": c.user, "LOGNAME": c.user} {
			if v != "" {
				env = append(env, k+"="+v)
			}
		}
		slices.Sort(env)
		out = append(out, Desktop{Key: fmt.Sprintf("x11:%d:%s", c.uid, c.display), UID: c.uid, GID: c.gid, User: c.user, Env: env})
	}
	sortDesktops(out)
	return out, waylandDesktops(wbest), xs, vtUsers, nil
}

// sortDesktops orders X11 desktops by display number.
func sortDesktops(ds []Desktop) {
	slices.SortFunc(ds, func(a, b Desktop) int {
		na, _ := localDisplay(envValue(a.Env, "DISPLAY"))
		nb, _ := localDisplay(envValue(b.Env, "DISPLAY"))
		return na - nb
	})
}

// waylandSocket is the socket of WAYLAND_DISPLAY display in runtimeDir.
func waylandSocket(runtimeDir, display string) (string, error) {
	if filepath.IsAbs(display) {
		return display, nil
	}
	if runtimeDir == "" || strings.Contains(display, "/") {
		return "", fmt.Errorf("no runtime directory for %q", display)
	}
	return filepath.Join(runtimeDir, display), nil
}

// waylandDesktops are the desktops of the Wayland sessions found, in key
// order. Their helpers get the session's Wayland display, runtime
// directory and D-Bus session bus (the portal and GNOME's remote-desktop
// API live there), and its Xwayland display for our own windows.
func waylandDesktops(cs map[string]candidate) []Desktop {
	var out []Desktop
	for key, c := range cs {
		env := []string{"WAYLAND_DISPLAY=" + c.wayland, "XDG_SESSION_TYPE=wayland"}
		for k, v := range map[string]string{"XDG_RUNTIME_DIR": c.xdgRT, "DBUS_SESSION_BUS_ADDRESS": c.dbus,
			"DISPLAY": c.display, "XAUTHORITY": c.xauthority, "XDG_CURRENT_DESKTOP": c.current,
			"HOME": c.home, "USER": c.user, "LOGNAME": c.user} {
			if v != "" {
				env = append(env, k+"="+v)
			}
		}
		slices.Sort(env)
		out = append(out, Desktop{Key: key, UID: c.uid, GID: c.gid, User: c.user, Env: env})
	}
	slices.SortFunc(out, func(a, b Desktop) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// parseXwayland reads the display number off an Xwayland command line.
func parseXwayland(cmdline []byte) (int, bool) {
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if len(args) == 0 || filepath.Base(args[0]) != "Xwayland" {
		return 0, false
	}
	for _, a := range args[1:] {
		if n, ok := localDisplay(a); ok {
			return n, true
		}
	}
	return 0, false
}

// ttyMajor is the device major number of the virtual terminals.
const ttyMajor = 4

// statVT reads a /proc/<pid>/stat line: the virtual terminal (tty1..63)
// that is the process's controlling terminal, if one is.
func statVT(stat []byte) (int, bool) {
	s := string(stat)
	i := strings.LastIndexByte(s, ')') // comm may hold spaces and parentheses
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	// state ppid pgrp session tty_nr ...
	if len(f) < 5 {
		return 0, false
	}
	nr, err := strconv.Atoi(f[4])
	if err != nil || nr <= 0 {
		return 0, false
	}
	major, minor := (nr>>8)&0xfff, (nr&0xff)|((nr>>12)&0xfff00)
	return minor, major == ttyMajor && minor >= 1 && minor <= 63
}

func score(c candidate) int {
	s := 0
	if c.xauthority != "" {
		s += 2
	}
	if c.dbus != "" {
		s++
	}
	return s
}

// localDisplay parses ":N" or ":N.S" (no host part).
func localDisplay(d string) (int, bool) {
	if !strings.HasPrefix(d, ":") {
		return 0, false
	}
	num, _, _ := strings.Cut(d[1:], ".")
	n, err := strconv.Atoi(num)
	return n, err == nil && n >= 0
}
