//go:build linux

package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Compositor is a Wayland compositor a test started, with what a client of
// it needs in its environment.
type Compositor struct {
	Proc *Proc
	// RuntimeDir is its XDG_RUNTIME_DIR, Display its WAYLAND_DISPLAY.
	RuntimeDir, Display string
	// UID and GID it runs as (the test's own where it is not root).
	UID, GID int
}

// Socket is the compositor's socket path.
func (c *Compositor) Socket() string { return filepath.Join(c.RuntimeDir, c.Display) }

// Env is a client's environment for the compositor.
func (c *Compositor) Env() []string {
	return []string{"XDG_RUNTIME_DIR=" + c.RuntimeDir, "WAYLAND_DISPLAY=" + c.Display}
}

// DesktopUser is whom a test's desktop (a compositor and its session)
// runs as: the test's own user, or nobody where the test runs as root,
// because compositors refuse root (sway) and D-Bus lets no uid without an
// account in.
func DesktopUser() (uid, gid int) {
	if os.Geteuid() != 0 {
		return os.Geteuid(), os.Getegid()
	}
	if u, err := user.Lookup("nobody"); err == nil {
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 == nil && err2 == nil && uid > 0 {
			return uid, gid
		}
	}
	return 64100, 64100
}

// AsUser makes cmd run as uid:gid when the test runs as root.
func AsUser(cmd *exec.Cmd, uid, gid int) {
	if os.Geteuid() == 0 && uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}}
	}
}

// UserRuntimeDir makes an XDG_RUNTIME_DIR for the desktop user, in the
// system's temporary directory (a test's own directory is not the
// desktop user's to enter). The caller removes it.
func UserRuntimeDir() (string, int, int, error) {
	uid, gid := DesktopUser()
	rt, err := os.MkdirTemp("", "tether-rt-")
	if err != nil {
		return "", 0, 0, err
	}
	if err := os.Chown(rt, uid, gid); err != nil {
		os.RemoveAll(rt)
		return "", 0, 0, err
	}
	return rt, uid, gid, nil
}

// StartSway starts a headless sway (wlroots' headless backend, software
// rendering) with one w×h output, as DesktopUser, in a runtime directory
// of its own. It waits at most timeout for the compositor's socket. Stop
// stops it and removes the directory.
func StartSway(ctx context.Context, w, h int, timeout time.Duration) (*Compositor, error) {
	rt, uid, gid, err := UserRuntimeDir()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(rt, "sway.conf")
	cfg := fmt.Sprintf("output HEADLESS-1 resolution %dx%d position 0 0\nxwayland disable\ndefault_border none\nfocus_follows_mouse no\n", w, h)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "sway", "-c", conf)
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+rt, "HOME="+rt, "WLR_BACKENDS=headless",
		"WLR_LIBINPUT_NO_DEVICES=1", "WLR_RENDERER=pixman", "WAYLAND_DISPLAY=", "DISPLAY=")
	AsUser(cmd, uid, gid)
	p, err := Start("sway", cmd)
	if err != nil {
		os.RemoveAll(rt)
		return nil, err
	}
	c := &Compositor{Proc: p, RuntimeDir: rt, UID: uid, GID: gid}
	if c.Display, err = waitSocket(ctx, p, rt, timeout); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// Stop stops the compositor (and what else the test started in its
// process group) and removes its runtime directory.
func (c *Compositor) Stop() {
	c.Proc.Stop(5 * time.Second)
	os.RemoveAll(c.RuntimeDir)
}

// waitSocket waits for a compositor's wayland-N socket in rt.
func waitSocket(ctx context.Context, p *Proc, rt string, timeout time.Duration) (string, error) {
	var name string
	err := Poll(ctx, timeout, func() (bool, error) {
		if p.Exited() {
			return false, fmt.Errorf("%s exited", p.Name)
		}
		ents, _ := os.ReadDir(rt)
		for _, e := range ents {
			if n := e.Name(); strings.HasPrefix(n, "wayland-") && !strings.HasSuffix(n, ".lock") && e.Type()&os.ModeSocket != 0 {
				name = n
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return "", fmt.Errorf("waiting for %s's Wayland socket: %w; stderr:\n%s", p.Name, err, tail(p.Stderr.String(), 3000))
	}
	return name, nil
}
