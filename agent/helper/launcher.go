//go:build unix

package helper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/agent/tray"
)

// The launcher: desktops without a StatusNotifierItem tray (stock GNOME,
// kiosks) show no icon, so the packages install a desktop entry, "Tether —
// Enter Connection Code", that runs `tether-agent code`. That command asks
// the helper of the user's own desktop, over this socket, to open the same
// dialog as the tray's entry.

// LauncherSocket is where the helper of display (DISPLAY, or
// WAYLAND_DISPLAY) run by uid listens: in the user's runtime directory
// when there is one.
func LauncherSocket(uid int, display string) string {
	name := "tether-helper-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, display) + ".sock"
	if dir := fmt.Sprintf("/run/user/%d", uid); isDir(dir) {
		return filepath.Join(dir, name)
	}
	return filepath.Join("/tmp", fmt.Sprintf("tether-helper-%d", uid), name)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// launcherPath is this helper's launcher socket.
func launcherPath() string { return LauncherSocket(os.Geteuid(), displayName()) }

// displayName is the desktop this process belongs to.
func displayName() string {
	if d := os.Getenv("DISPLAY"); d != "" {
		return d
	}
	return os.Getenv("WAYLAND_DISPLAY")
}

// serveLauncher opens the dialogs the desktop's user asks for, until ctx
// ends. Only the helper's own user may connect (peer credentials).
func serveLauncher(ctx context.Context, path string, tr *tray.Tray, log *slog.Logger) error {
	me := uint32(os.Geteuid())
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// A folder another user made first, or one others may write to, could
	// be used to swap the socket: refuse it.
	if fi, err := os.Lstat(dir); err != nil {
		return err
	} else if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != me || fi.Mode().Perm()&0o022 != 0 || !fi.IsDir() {
		return fmt.Errorf("launcher folder %s is not this user's own", dir)
	}
	ln, err := ipc.Listen(ipc.ListenConfig{Path: path, Allowed: func(uid uint32) bool { return uid == me }})
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ipc.ErrPeerRefused):
			log.Warn("launcher: refused a connection", "error", err)
			continue
		case err != nil:
			return err
		}
		go func() {
			defer c.Close()
			m, err := c.Recv()
			if err != nil || m.Type != ipc.TypeOpen {
				return
			}
			answer := ipc.Msg{Type: ipc.TypeOpened}
			if m.Action != tray.ActionCode {
				answer.Error = fmt.Sprintf("unknown dialog %q", m.Action)
			} else if msg := tr.Open(m.Action); msg != "" {
				answer.Error = msg
			}
			_ = c.Send(answer)
		}()
	}
}

// OpenDialog asks the helper of this process's desktop to open a dialog
// (tray.ActionCode): what `tether-agent code` without a code does.
func OpenDialog(ctx context.Context, action string) error {
	path := launcherPath()
	c, err := ipc.Dial(ctx, path)
	if err != nil {
		return fmt.Errorf("no Tether session helper answers on this desktop (%s): %w", path, err)
	}
	defer c.Close()
	if err := c.Send(ipc.Msg{Type: ipc.TypeOpen, Action: action}); err != nil {
		return err
	}
	m, err := c.Recv()
	if err != nil {
		return fmt.Errorf("the session helper did not answer: %w", err)
	}
	if m.Error != "" {
		return errors.New(m.Error)
	}
	return nil
}
