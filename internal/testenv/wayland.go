//go:build linux

package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"
)

// Compositor is a Wayland compositor a test started, with what a client of
// it needs in its environment.
type Compositor struct {
	Proc *Proc
	// RuntimeDir is its XDG_RUNTIME_DIR, Display its WAYLAND_DISPLAY.
	RuntimeDir, Display string
	// UID and GID it runs as (the test's own where it is not root).
	UID, GID int
	// XDisplay is its Xwayland's DISPLAY, where one was asked for.
	XDisplay string
}

// Socket is the compositor's socket path.
func (c *Compositor) Socket() string { return filepath.Join(c.RuntimeDir, c.Display) }

// Env is a client's environment for the compositor.
func (c *Compositor) Env() []string {
	return []string{"XDG_RUNTIME_DIR=" + c.RuntimeDir, "WAYLAND_DISPLAY=" + c.Display}
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
	return StartSwayOpts(ctx, SwayOptions{W: w, H: h}, timeout)
}

// SwayOptions say how StartSwayOpts starts sway.
type SwayOptions struct {
	W, H int
	// Xwayland starts sway's Xwayland too, for X clients (Compositor's
	// XDisplay).
	Xwayland bool
}

// StartSwayOpts is StartSway with options.
func StartSwayOpts(ctx context.Context, o SwayOptions, timeout time.Duration) (*Compositor, error) {
	rt, uid, gid, err := UserRuntimeDir()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(rt, "sway.conf")
	cfg := fmt.Sprintf("output HEADLESS-1 resolution %dx%d position 0 0\ndefault_border none\nfocus_follows_mouse no\n", o.W, o.H)
	xfile := filepath.Join(rt, "xdisplay")
	if o.Xwayland {
		// sway runs exec'd commands with its Xwayland's DISPLAY; xhost
		// lets the test's clients in where the test runs as another user.
		cfg += "xwayland enable\nexec sh -c 'xhost +local: >/dev/null && echo \"$DISPLAY\" > " + xfile + ".tmp && mv " + xfile + ".tmp " + xfile + "'\n"
	} else {
		cfg += "xwayland disable\n"
	}
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
	if o.Xwayland {
		if err := waitPath(ctx, p, xfile, timeout); err != nil {
			c.Stop()
			return nil, err
		}
		b, _ := os.ReadFile(xfile)
		if c.XDisplay = strings.TrimSpace(string(b)); c.XDisplay == "" {
			c.Stop()
			return nil, fmt.Errorf("sway started no Xwayland; stderr:\n%s", tail(p.Stderr.String(), 3000))
		}
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

// GnomeDesktop is a headless GNOME compositor (mutter) with what its
// remote-desktop API needs: a private D-Bus session bus, PipeWire and
// WirePlumber, all as DesktopUser.
type GnomeDesktop struct {
	Compositor
	// Bus is the session bus's address (DBUS_SESSION_BUS_ADDRESS).
	Bus string
	// Notifications is the desktop's notification server (GNOME Shell's
	// part in a real session).
	Notifications *Notifications
	procs         []*Proc
}

// Env is a client's environment for the desktop: the compositor's and
// the bus.
func (g *GnomeDesktop) Env() []string {
	return append(g.Compositor.Env(), "DBUS_SESSION_BUS_ADDRESS="+g.Bus)
}

// Procs are the processes of the desktop, for a failing test's log.
func (g *GnomeDesktop) Procs() []*Proc { return g.procs }

// Stop stops mutter, WirePlumber, PipeWire and the bus, and removes the
// runtime directory.
func (g *GnomeDesktop) Stop() {
	if g.Notifications != nil {
		g.Notifications.Close()
	}
	for i := len(g.procs) - 1; i >= 0; i-- {
		g.procs[i].Stop(5 * time.Second)
	}
	os.RemoveAll(g.RuntimeDir)
}

// SharedBusConfig is the configuration of a private session bus
// listening on sock that any local user may connect to, so that a test
// running as root and a desktop user's programs share it (a session bus
// lets only its own user in by default).
func SharedBusConfig(sock string) string { return fmt.Sprintf(sharedBusConfig, sock) }

const sharedBusConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

// StartMutter starts a headless mutter (Wayland only, one virtual w×h
// monitor) on a bus, PipeWire and WirePlumber of its own, as DesktopUser,
// with a notification server on the bus as GNOME Shell has.
// It returns once the compositor's socket and its remote-desktop API are
// up and WirePlumber manages the PipeWire graph.
func StartMutter(ctx context.Context, w, h int, timeout time.Duration) (*GnomeDesktop, error) {
	return StartMutterMonitors(ctx, []string{fmt.Sprintf("%dx%d", w, h)}, timeout)
}

// StartMutterMonitors is StartMutter with a virtual monitor of each size
// ("1280x720"), which mutter lays out left to right.
func StartMutterMonitors(ctx context.Context, sizes []string, timeout time.Duration) (*GnomeDesktop, error) {
	rt, uid, gid, err := UserRuntimeDir()
	if err != nil {
		return nil, err
	}
	g := &GnomeDesktop{Compositor: Compositor{RuntimeDir: rt, UID: uid, GID: gid}}
	fail := func(err error) (*GnomeDesktop, error) {
		g.Stop()
		return nil, err
	}
	busSock := filepath.Join(rt, "bus")
	conf := filepath.Join(rt, "bus.conf")
	if err := os.WriteFile(conf, []byte(SharedBusConfig(busSock)), 0o644); err != nil {
		return fail(err)
	}
	g.Bus = "unix:path=" + busSock
	env := append(os.Environ(), "XDG_RUNTIME_DIR="+rt, "HOME="+rt, "DBUS_SESSION_BUS_ADDRESS="+g.Bus,
		"XDG_SESSION_TYPE=wayland", "GSETTINGS_BACKEND=memory", "WAYLAND_DISPLAY=", "DISPLAY=",
		"XDG_CONFIG_HOME="+filepath.Join(rt, "config"), "XDG_STATE_HOME="+filepath.Join(rt, "state"))
	start := func(name string, args ...string) (*Proc, error) {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = env
		AsUser(cmd, uid, gid)
		p, err := Start(name, cmd)
		if err != nil {
			return nil, err
		}
		g.procs = append(g.procs, p)
		return p, nil
	}
	bus, err := start("dbus-daemon", "--config-file="+conf, "--nofork", "--nopidfile")
	if err != nil {
		return fail(err)
	}
	// The socket appears before the daemon listens on it: wait for an
	// answer.
	if err := Poll(ctx, timeout, func() (bool, error) {
		if bus.Exited() {
			return false, fmt.Errorf("dbus-daemon exited; stderr:\n%s", tail(bus.Stderr.String(), 3000))
		}
		return busHasName(g.Bus, "org.freedesktop.DBus")
	}); err != nil {
		return fail(fmt.Errorf("waiting for the session bus: %w", err))
	}
	if g.Notifications, err = ServeNotifications(g.Bus); err != nil {
		return fail(err)
	}
	pw, err := start("pipewire")
	if err != nil {
		return fail(err)
	}
	// PipeWire answers (its socket may exist before it listens).
	if err := Poll(ctx, timeout, func() (bool, error) {
		if pw.Exited() {
			return false, fmt.Errorf("pipewire exited; stderr:\n%s", tail(pw.Stderr.String(), 3000))
		}
		cmd := exec.CommandContext(ctx, "pw-cli", "info", "0")
		cmd.Env = env
		return cmd.Run() == nil, nil
	}); err != nil {
		return fail(fmt.Errorf("waiting for PipeWire: %w", err))
	}
	if _, err := start("wireplumber"); err != nil {
		return fail(err)
	}
	// WirePlumber is up once it published the default metadata.
	if err := Poll(ctx, timeout, func() (bool, error) {
		cmd := exec.CommandContext(ctx, "pw-cli", "ls", "Metadata")
		cmd.Env = env
		out, err := cmd.Output()
		return err == nil && strings.Contains(string(out), `"default"`), err
	}); err != nil {
		return fail(fmt.Errorf("waiting for WirePlumber: %w", err))
	}
	args := []string{"--headless", "--wayland", "--no-x11"}
	for _, sz := range sizes {
		args = append(args, "--virtual-monitor", sz)
	}
	m, err := start("mutter", args...)
	if err != nil {
		return fail(err)
	}
	g.Proc = m
	if g.Display, err = waitSocket(ctx, m, rt, timeout); err != nil {
		return fail(err)
	}
	// The remote-desktop API is on the bus.
	if err := Poll(ctx, timeout, func() (bool, error) {
		if m.Exited() {
			return false, fmt.Errorf("mutter exited; stderr:\n%s", tail(m.Stderr.String(), 3000))
		}
		return busHasName(g.Bus, "org.gnome.Mutter.RemoteDesktop")
	}); err != nil {
		return fail(fmt.Errorf("waiting for mutter's remote-desktop API: %w", err))
	}
	return g, nil
}

// StartPortals starts the desktop portal with GNOME's backend on the
// desktop, as a GNOME session has them: xdg-desktop-portal-gnome shows
// its dialogs on the compositor. It returns once the portal is on the bus.
func (g *GnomeDesktop) StartPortals(ctx context.Context, timeout time.Duration) error {
	env := append(os.Environ(), "XDG_RUNTIME_DIR="+g.RuntimeDir, "DBUS_SESSION_BUS_ADDRESS="+g.Bus,
		"WAYLAND_DISPLAY="+g.Display, "DISPLAY=", "XDG_CURRENT_DESKTOP=GNOME", "XDG_SESSION_TYPE=wayland",
		"GSETTINGS_BACKEND=memory")
	// The backend first: the portal finds its backends as it starts (our
	// bus activates nothing).
	for _, p := range []struct{ exe, name string }{
		{"/usr/libexec/xdg-desktop-portal-gnome", "org.freedesktop.impl.portal.desktop.gnome"},
		{"/usr/libexec/xdg-desktop-portal", "org.freedesktop.portal.Desktop"},
	} {
		cmd := exec.CommandContext(ctx, p.exe)
		cmd.Env = env
		proc, err := Start(filepath.Base(p.exe), cmd)
		if err != nil {
			return err
		}
		g.procs = append(g.procs, proc)
		if err := Poll(ctx, timeout, func() (bool, error) { return busHasName(g.Bus, p.name) }); err != nil {
			return fmt.Errorf("waiting for %s: %w; stderr:\n%s", p.name, err, tail(proc.Stderr.String(), 3000))
		}
	}
	return nil
}

// busHasName reports whether someone owns name on the bus at addr.
func busHasName(addr, name string) (bool, error) {
	conn, err := dbus.Connect(addr)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	var has bool
	err = conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, name).Store(&has)
	return has, err
}

// waitPath waits until p created path.
func waitPath(ctx context.Context, p *Proc, path string, timeout time.Duration) error {
	err := Poll(ctx, timeout, func() (bool, error) {
		if p.Exited() {
			return false, fmt.Errorf("%s exited", p.Name)
		}
		_, err := os.Stat(path)
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %s to create %s: %w; stderr:\n%s", p.Name, path, err, tail(p.Stderr.String(), 3000))
	}
	return nil
}
