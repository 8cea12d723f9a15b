//go:build linux

package testenv

import (
	"fmt"
	"sync"

	"github.com/godbus/dbus/v5"
)

// Notifications is a notification server (org.freedesktop.Notifications)
// on a test's session bus, as a desktop's shell provides one: programs
// that notify (zenity --notification) find it, and the test can read what
// they said.
type Notifications struct {
	conn *dbus.Conn
	mu   sync.Mutex
	got  []string
	next uint32
}

// ServeNotifications serves notifications on the bus at addr.
func ServeNotifications(addr string) (*Notifications, error) {
	conn, err := dbus.Connect(addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	n := &Notifications{conn: conn}
	const path, iface = "/org/freedesktop/Notifications", "org.freedesktop.Notifications"
	if err := conn.Export(notificationServer{n}, path, iface); err != nil {
		conn.Close()
		return nil, err
	}
	reply, err := conn.RequestName(iface, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		conn.Close()
		return nil, fmt.Errorf("owning %s: %v (reply %d)", iface, err, reply)
	}
	return n, nil
}

// Shown is what was notified so far: "summary: body" each.
func (n *Notifications) Shown() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.got...)
}

// Close leaves the bus.
func (n *Notifications) Close() error { return n.conn.Close() }

// notificationServer holds the D-Bus methods.
type notificationServer struct{ n *Notifications }

func (s notificationServer) GetCapabilities() ([]string, *dbus.Error) {
	return []string{"body", "actions"}, nil
}

func (s notificationServer) Notify(app string, replaces uint32, icon, summary, body string, actions []string,
	hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	s.n.got = append(s.n.got, summary+": "+body)
	s.n.next++
	return s.n.next, nil
}

func (s notificationServer) CloseNotification(id uint32) *dbus.Error { return nil }

func (s notificationServer) GetServerInformation() (string, string, string, string, *dbus.Error) {
	return "tether-test", "tether", "1", "1.2", nil
}
