package supervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// OwnDesktop is the desktop source of `run` mode (development, tests):
// the desktop of the agent's own environment (on Linux, its DISPLAY and
// XAUTHORITY), with the helper running as the agent's own user.
func OwnDesktop(getenv func(string) string) func(context.Context) ([]Desktop, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	return func(context.Context) ([]Desktop, error) {
		d, ok := ownDesktop(getenv)
		if !ok {
			return nil, ErrNoDesktop
		}
		return []Desktop{d}, nil
	}
}

// SystemDesktops is the desktop source of the OS service: every
// interactive desktop session on the machine.
func SystemDesktops(ctx context.Context) ([]Desktop, error) { return systemDesktops(ctx) }

// DesktopsFileEnv names the development aid DesktopsFile reads: with it set,
// the agent takes its desktops from that file instead of the system (both
// `run` and `service`), re-reading it often, so a test can switch the active
// desktop. Not for production use.
const DesktopsFileEnv = "TETHER_DESKTOPS_FILE"

// DesktopsFileScan is how often the supervisor re-reads a desktops file.
const DesktopsFileScan = 200 * time.Millisecond

// desktopsFile is the JSON document of a desktops file:
//
//	{"active": "b", "desktops": [
//	  {"key": "a", "display": ":91", "greeter": true},
//	  {"key": "b", "display": ":92", "xauthority": "/tmp/xa", "uid": 64001, "user": "alice"}]}
//
// Each desktop has DISPLAY (and XAUTHORITY), or a Wayland display
// ("wayland": WAYLAND_DISPLAY, "runtime_dir": XDG_RUNTIME_DIR, "dbus":
// DBUS_SESSION_BUS_ADDRESS; DISPLAY is then its Xwayland's). uid (with gid, default the
// uid) and user say whose desktop it is — default: the agent's own user —
// and greeter marks a login screen; consent to an attended session follows
// them as it follows real desktops' users. Where the agent runs as root,
// a desktop's helper runs as its uid, as for a real desktop; otherwise
// helpers run as the agent's own user whatever the file says.
type desktopsFile struct {
	Active   string `json:"active"`
	Desktops []struct {
		Key        string `json:"key"`
		Display    string `json:"display"`
		XAuthority string `json:"xauthority"`
		Wayland    string `json:"wayland"`
		RuntimeDir string `json:"runtime_dir"`
		DBus       string `json:"dbus"`
		UID        *int   `json:"uid"`
		GID        *int   `json:"gid"`
		User       string `json:"user"`
		Greeter    bool   `json:"greeter"`
	} `json:"desktops"`
}

// DesktopsFile is a desktop source reading path (see DesktopsFileEnv).
func DesktopsFile(path string) func(context.Context) ([]Desktop, error) {
	return func(context.Context) ([]Desktop, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading the desktops file: %w", err)
		}
		return parseDesktopsFile(b)
	}
}

func parseDesktopsFile(b []byte) ([]Desktop, error) {
	var f desktopsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("parsing the desktops file: %w", err)
	}
	var out []Desktop
	for _, d := range f.Desktops {
		if d.Key == "" || d.Display == "" && d.Wayland == "" || slices.ContainsFunc(out, func(o Desktop) bool { return o.Key == d.Key }) {
			return nil, fmt.Errorf("desktops file: each desktop needs a unique key and a display (%q)", d.Key)
		}
		if d.Wayland != "" && d.RuntimeDir == "" {
			return nil, fmt.Errorf("desktops file: Wayland desktop %q needs its runtime_dir", d.Key)
		}
		var env []string
		for k, v := range map[string]string{"DISPLAY": d.Display, "XAUTHORITY": d.XAuthority, "WAYLAND_DISPLAY": d.Wayland,
			"XDG_RUNTIME_DIR": d.RuntimeDir, "DBUS_SESSION_BUS_ADDRESS": d.DBus} {
			if v != "" {
				env = append(env, k+"="+v)
			}
		}
		if d.Wayland != "" {
			env = append(env, "XDG_SESSION_TYPE=wayland")
		}
		slices.Sort(env)
		desk := Desktop{Key: d.Key, UID: -1, GID: -1, User: d.User, Env: env, Active: d.Key == f.Active, Greeter: d.Greeter}
		if d.UID != nil {
			if *d.UID < 0 || d.GID != nil && *d.GID < 0 {
				return nil, fmt.Errorf("desktops file: desktop %q has a negative uid or gid", d.Key)
			}
			desk.UID, desk.GID = *d.UID, *d.UID
			if d.GID != nil {
				desk.GID = *d.GID
			}
		} else if d.GID != nil {
			return nil, fmt.Errorf("desktops file: desktop %q has a gid without a uid", d.Key)
		}
		out = append(out, desk)
	}
	return out, nil
}

// envValue is key's value in env ("K=V" entries).
func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}
