package services

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/tetherdesk/tether/shared/protocol"
)

const (
	sdDest    = "org.freedesktop.systemd1"
	sdPath    = dbus.ObjectPath("/org/freedesktop/systemd1")
	sdManager = "org.freedesktop.systemd1.Manager"
)

type systemd struct {
	conn *dbus.Conn
	obj  dbus.BusObject
}

// open connects for as long as the Manager lives: not for ctx, which
// only bounds the first request (a connection made WithContext closes
// when its context ends).
func open(context.Context) (Manager, error) {
	var (
		conn *dbus.Conn
		err  error
	)
	if addr := os.Getenv(BusEnv); addr != "" {
		conn, err = dbus.Connect(addr)
	} else {
		conn, err = dbus.ConnectSystemBus()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: the system bus: %v", ErrUnsupported, err)
	}
	return &systemd{conn: conn, obj: conn.Object(sdDest, sdPath)}, nil
}

// unitStatus is ListUnits' a(ssssssouso).
type unitStatus struct {
	Name, Description, Load, Active, Sub, Following string
	Path                                            dbus.ObjectPath
	JobID                                           uint32
	JobType                                         string
	JobPath                                         dbus.ObjectPath
}

type unitFile struct{ Path, State string }

// List lists the service units systemd has loaded, with how each starts
// (the state of its unit file: enabled, disabled, static...).
func (m *systemd) List(ctx context.Context) ([]protocol.ServiceInfo, error) {
	var units []unitStatus
	if err := m.obj.CallWithContext(ctx, sdManager+".ListUnits", 0).Store(&units); err != nil {
		return nil, fmt.Errorf("listing systemd units: %w", err)
	}
	startup := map[string]string{}
	var files []unitFile
	if err := m.obj.CallWithContext(ctx, sdManager+".ListUnitFiles", 0).Store(&files); err == nil {
		for _, f := range files {
			name := f.Path[strings.LastIndexByte(f.Path, '/')+1:]
			startup[name] = f.State
		}
	}
	out := []protocol.ServiceInfo{}
	for _, u := range units {
		if !strings.HasSuffix(u.Name, ".service") || u.Load == "not-found" {
			continue
		}
		out = append(out, protocol.ServiceInfo{Name: u.Name, Description: u.Description, State: u.Active, Sub: u.Sub, Startup: startup[u.Name]})
	}
	sortByName(out)
	return out, nil
}

// unitName makes a name a service unit's ("cups" → "cups.service").
func unitName(name string) (string, error) {
	if err := protocol.CheckServiceName(name); err != nil {
		return "", err
	}
	if !strings.Contains(name, ".") {
		name += ".service"
	}
	if !strings.HasSuffix(name, ".service") {
		return "", fmt.Errorf("%q is not a service unit", name)
	}
	return name, nil
}

func (m *systemd) job(ctx context.Context, method, name string) error {
	unit, err := unitName(name)
	if err != nil {
		return err
	}
	var job dbus.ObjectPath
	if err := m.obj.CallWithContext(ctx, sdManager+"."+method, 0, unit, "replace").Store(&job); err != nil {
		return fmt.Errorf("%s %s: %w", strings.ToLower(strings.TrimSuffix(method, "Unit")), unit, err)
	}
	return nil
}

func (m *systemd) Start(ctx context.Context, name string) error { return m.job(ctx, "StartUnit", name) }
func (m *systemd) Stop(ctx context.Context, name string) error  { return m.job(ctx, "StopUnit", name) }
func (m *systemd) Restart(ctx context.Context, name string) error {
	return m.job(ctx, "RestartUnit", name)
}
func (m *systemd) Close() error { return m.conn.Close() }
