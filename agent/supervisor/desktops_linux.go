package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

func systemDesktops(context.Context) ([]Desktop, error) {
	return scanProc("/proc", "/tmp/.X11-unix", fileOwner)
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

// candidate is one process with a DISPLAY in its environment.
type candidate struct {
	uid, gid    int
	display     string
	xauthority  string
	dbus, xdgRT string
	home, user  string
}

// scanProc finds the X11 desktops of the machine: the local displays
// (/tmp/.X11-unix/X<n>) that processes of a non-root user run on, with the
// DISPLAY and XAUTHORITY of that user's processes. The lowest display with
// a user is marked active. (Wayland sessions and the login screen are not
// covered yet.)
func scanProc(proc, x11 string, owner func(string) (uid, gid int, ok bool)) ([]Desktop, error) {
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", proc, err)
	}
	best := map[string]candidate{}
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		dir := filepath.Join(proc, e.Name())
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
			}
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
	for _, c := range best {
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
	slices.SortFunc(out, func(a, b Desktop) int {
		na, _ := localDisplay(envValue(a.Env, "DISPLAY"))
		nb, _ := localDisplay(envValue(b.Env, "DISPLAY"))
		return na - nb
	})
	if len(out) > 0 {
		out[0].Active = true
	}
	return out, nil
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

func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}
