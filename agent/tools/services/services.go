// Package services is the services tool: the endpoint's services with
// their state, and starting, stopping and restarting one. On Linux it
// speaks to systemd's manager over D-Bus (org.freedesktop.systemd1), the
// interface systemctl uses; on Windows to the service control manager.
package services

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/tetherdesk/tether/shared/protocol"
)

// BusEnv names a D-Bus address to find systemd's manager on instead of
// the system bus (tests: a private bus with the same interface).
const BusEnv = "TETHER_SYSTEMD_BUS"

// ErrUnsupported: no service manager this package knows of here.
var ErrUnsupported = errors.New("services: no service manager to speak to on this system")

// Manager lists and controls services.
type Manager interface {
	List(ctx context.Context) ([]protocol.ServiceInfo, error)
	Start(ctx context.Context, name string) error
	Stop(ctx context.Context, name string) error
	Restart(ctx context.Context, name string) error
	Close() error
}

// Open connects to this system's service manager.
func Open(ctx context.Context) (Manager, error) { return open(ctx) }

func sortByName(s []protocol.ServiceInfo) {
	slices.SortFunc(s, func(a, b protocol.ServiceInfo) int {
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
}
