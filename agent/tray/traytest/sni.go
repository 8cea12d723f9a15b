package traytest

import (
	"fmt"

	"github.com/godbus/dbus/v5"
)

// Tooltip is the org.kde.StatusNotifierItem.ToolTip property: (sa(iiay)ss).
type Tooltip struct {
	Name  string
	Icons []struct {
		W, H int32
		Pix  []byte
	}
	Title, Text string
}

// ReadTooltip reads the tooltip of the status notifier item at the bus
// name item, as a panel does.
func ReadTooltip(conn *dbus.Conn, item string) (Tooltip, error) {
	var tip Tooltip
	v, err := conn.Object(item, "/StatusNotifierItem").GetProperty("org.kde.StatusNotifierItem.ToolTip")
	if err != nil {
		return tip, fmt.Errorf("reading the tooltip of %s: %w", item, err)
	}
	if err := dbus.Store([]any{v.Value()}, &tip); err != nil {
		return tip, fmt.Errorf("decoding the tooltip of %s: %w", item, err)
	}
	return tip, nil
}
