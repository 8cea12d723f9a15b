package tray

import (
	"context"
	"fmt"

	"github.com/godbus/dbus/v5"
)

// watcherName is the StatusNotifierWatcher: the desktop's panel (KDE
// Plasma, GNOME with the AppIndicator extension, Xfce's and LXQt's panels,
// snixembed for XEmbed trays) owns it on the session bus and shows the
// items that register with it.
const watcherName = "org.kde.StatusNotifierWatcher"

// hostAvailable reports whether the session bus has a StatusNotifierWatcher.
// It never starts a bus of its own (no autolaunch): a desktop without one
// simply has no tray.
func hostAvailable(ctx context.Context) error {
	conn, err := dbus.SessionBusPrivateNoAutoStartup()
	if err != nil {
		return fmt.Errorf("%w: no D-Bus session bus: %v", ErrNoHost, err)
	}
	defer conn.Close()
	if err := conn.Auth(nil); err != nil {
		return fmt.Errorf("%w: D-Bus session bus authentication: %v", ErrNoHost, err)
	}
	if err := conn.Hello(); err != nil {
		return fmt.Errorf("%w: D-Bus session bus hello: %v", ErrNoHost, err)
	}
	var has bool
	call := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, watcherName)
	if err := call.Store(&has); err != nil {
		return fmt.Errorf("%w: asking the session bus for %s: %v", ErrNoHost, watcherName, err)
	}
	if !has {
		return fmt.Errorf("%w: nobody owns %s on the session bus (the desktop shows no tray icons)", ErrNoHost, watcherName)
	}
	return nil
}

// iconData is the icon as the Linux tray takes it (PNG).
func iconData(i Icon) []byte { return iconPNG(i) }
