//go:build linux

package testenv

import (
	"fmt"
	"slices"
	"sync"

	"github.com/godbus/dbus/v5"
)

// FakeSystemd answers the part of systemd's manager interface
// (org.freedesktop.systemd1.Manager) the services tool uses, on a bus of
// the test's: where systemd cannot run, the tool is tested through the
// same D-Bus calls. Units are services; StartUnit and friends change
// their state at once.
type FakeSystemd struct {
	conn *dbus.Conn

	mu    sync.Mutex
	units map[string]*FakeUnit
	calls []string
}

// FakeUnit is one unit of a FakeSystemd.
type FakeUnit struct {
	Description, Active, Sub, FileState string
}

// ServeFakeSystemd takes systemd's name on the bus at addr and serves
// units (by unit name) until Close.
func ServeFakeSystemd(addr string, units map[string]FakeUnit) (*FakeSystemd, error) {
	conn, err := dbus.Connect(addr)
	if err != nil {
		return nil, fmt.Errorf("fake systemd: connecting to %s: %w", addr, err)
	}
	f := &FakeSystemd{conn: conn, units: map[string]*FakeUnit{}}
	for n, u := range units {
		u := u
		f.units[n] = &u
	}
	if err := conn.Export(fakeManager{f}, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager"); err != nil {
		conn.Close()
		return nil, err
	}
	reply, err := conn.RequestName("org.freedesktop.systemd1", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		conn.Close()
		return nil, fmt.Errorf("fake systemd: taking the name: %v (reply %d)", err, reply)
	}
	return f, nil
}

// Unit returns a unit as it is now.
func (f *FakeSystemd) Unit(name string) (FakeUnit, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.units[name]
	if !ok {
		return FakeUnit{}, false
	}
	return *u, true
}

// Calls lists the job calls so far ("StopUnit foo.service").
func (f *FakeSystemd) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Close leaves the bus.
func (f *FakeSystemd) Close() error { return f.conn.Close() }

type fakeManager struct{ f *FakeSystemd }

type fakeUnitStatus struct {
	Name, Description, Load, Active, Sub, Following string
	Path                                            dbus.ObjectPath
	JobID                                           uint32
	JobType                                         string
	JobPath                                         dbus.ObjectPath
}

func (m fakeManager) ListUnits() ([]fakeUnitStatus, *dbus.Error) {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	var out []fakeUnitStatus
	for n, u := range m.f.units {
		out = append(out, fakeUnitStatus{Name: n, Description: u.Description, Load: "loaded", Active: u.Active, Sub: u.Sub,
			Path: "/org/freedesktop/systemd1/unit/x", JobPath: "/"})
	}
	return out, nil
}

func (m fakeManager) ListUnitFiles() ([]struct{ Path, State string }, *dbus.Error) {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	var out []struct{ Path, State string }
	for n, u := range m.f.units {
		out = append(out, struct{ Path, State string }{"/lib/systemd/system/" + n, u.FileState})
	}
	return out, nil
}

func (m fakeManager) job(method, name, mode string, active, sub string) (dbus.ObjectPath, *dbus.Error) {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	m.f.calls = append(m.f.calls, method+" "+name)
	u, ok := m.f.units[name]
	if !ok || mode != "replace" {
		return "", dbus.NewError("org.freedesktop.systemd1.NoSuchUnit", []any{"Unit " + name + " not found."})
	}
	u.Active, u.Sub = active, sub
	return "/org/freedesktop/systemd1/job/1", nil
}

func (m fakeManager) StartUnit(name, mode string) (dbus.ObjectPath, *dbus.Error) {
	return m.job("StartUnit", name, mode, "active", "running")
}

func (m fakeManager) StopUnit(name, mode string) (dbus.ObjectPath, *dbus.Error) {
	return m.job("StopUnit", name, mode, "inactive", "dead")
}

func (m fakeManager) RestartUnit(name, mode string) (dbus.ObjectPath, *dbus.Error) {
	return m.job("RestartUnit", name, mode, "active", "running")
}
