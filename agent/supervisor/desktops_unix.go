//go:build unix && !darwin

package supervisor

func ownDesktop(getenv func(string) string) (Desktop, bool) {
	if wl := getenv("WAYLAND_DISPLAY"); wl != "" {
		// A Wayland session: its DISPLAY, if any, is Xwayland's, kept
		// for our own windows; the bus is where the portal lives.
		var env []string
		for _, k := range []string{"WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "XAUTHORITY", "XDG_CURRENT_DESKTOP"} {
			if v := getenv(k); v != "" {
				env = append(env, k+"="+v)
			}
		}
		env = append(env, "XDG_SESSION_TYPE=wayland")
		return Desktop{Key: "own:wayland:" + wl, UID: -1, GID: -1, User: getenv("USER"), Env: env, Active: true}, true
	}
	display := getenv("DISPLAY")
	if display == "" {
		return Desktop{}, false
	}
	env := []string{"DISPLAY=" + display}
	if xa := getenv("XAUTHORITY"); xa != "" {
		env = append(env, "XAUTHORITY="+xa)
	}
	return Desktop{Key: "own:" + display, UID: -1, GID: -1, User: getenv("USER"), Env: env, Active: true}, true
}
