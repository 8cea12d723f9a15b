// Package inventory describes the endpoint: hostname, addresses, OS and
// version, architecture, agent version and logged-in users. The OS-specific
// parts live in inventory_<os>.go with a fallback for other systems.
package inventory

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tetherdesk/tether/shared/protocol"
	"github.com/tetherdesk/tether/shared/version"
)

// Collect gathers the inventory. A part that cannot be read is left empty and
// logged at debug level: a partial inventory is more useful to the console
// than none, and the same failure would otherwise be logged every minute.
func Collect(ctx context.Context, log *slog.Logger) protocol.Inventory {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "inventory")
	inv := protocol.Inventory{
		OS:           runtime.GOOS,
		Arch:         runtime.GOARCH,
		AgentVersion: version.Version,
	}
	var err error
	if inv.Hostname, err = os.Hostname(); err != nil {
		log.Debug("reading hostname", "error", err)
	}
	if inv.IPs, err = addresses(); err != nil {
		log.Debug("listing interface addresses", "error", err)
	}
	if inv.OSVersion, err = osVersion(ctx); err != nil {
		log.Debug("reading OS version", "error", err)
	}
	if inv.Users, err = loggedInUsers(ctx); err != nil {
		log.Debug("listing logged-in users", "error", err)
	}
	inv.TimeZone, inv.UTCOffsetS = TimeZone(time.Now())
	// The server sends a tool's session only to an agent that names it.
	inv.Tools = slices.Clone(protocol.Tools)
	return Normalize(inv)
}

// addresses lists the addresses of interfaces that are up, without loopback
// and IPv6 link-local ones (fe80::/10 is meaningless off the link).
func addresses() ([]string, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var ips []string
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ip, ok := usableIP(a); ok {
				ips = append(ips, ip.String())
			}
		}
	}
	return ips, nil
}

func usableIP(a net.Addr) (netip.Addr, bool) {
	var ip net.IP
	switch v := a.(type) {
	case *net.IPNet:
		ip = v.IP
	case *net.IPAddr:
		ip = v.IP
	default:
		return netip.Addr{}, false
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}, false
	}
	addr = addr.Unmap()
	if addr.IsLoopback() || addr.IsUnspecified() || (addr.Is6() && addr.IsLinkLocalUnicast()) {
		return netip.Addr{}, false
	}
	return addr.WithZone(""), true
}

// Bounds the server enforces on an inventory (it rejects the whole poll
// otherwise, which would leave the agent retrying forever). An endpoint
// beyond them reports the first addresses and users in sort order.
const (
	MaxIPs        = 64
	MaxUsers      = 256
	MaxTools      = 32
	MaxFieldBytes = 255
	// UnknownHostname stands in when the OS will not tell: the server
	// requires a hostname.
	UnknownHostname = "unknown"
)

// Normalize sorts and deduplicates the lists, turns nil lists into empty
// ones (so that equal endpoints compare and encode equal) and keeps every
// field within the server's bounds.
func Normalize(inv protocol.Inventory) protocol.Inventory {
	inv.Hostname = truncate(inv.Hostname)
	if inv.Hostname == "" {
		inv.Hostname = UnknownHostname
	}
	inv.OS, inv.OSVersion = truncate(inv.OS), truncate(inv.OSVersion)
	inv.Arch, inv.AgentVersion = truncate(inv.Arch), truncate(inv.AgentVersion)
	inv.IPs = sortedUnique(inv.IPs)
	inv.IPs = inv.IPs[:min(len(inv.IPs), MaxIPs)]
	users := make([]string, 0, len(inv.Users))
	for _, u := range inv.Users {
		users = append(users, truncate(u))
	}
	inv.Users = sortedUnique(users)
	inv.Users = inv.Users[:min(len(inv.Users), MaxUsers)]
	inv.Tools = sortedUnique(inv.Tools)
	inv.Tools = inv.Tools[:min(len(inv.Tools), MaxTools)]
	return inv
}

// truncate cuts s to MaxFieldBytes without splitting a UTF-8 sequence.
func truncate(s string) string {
	if len(s) <= MaxFieldBytes {
		return s
	}
	cut := MaxFieldBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

func sortedUnique(in []string) []string {
	out := slices.Clone(in)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Equal reports whether two inventories describe the same state.
func Equal(a, b protocol.Inventory) bool {
	a, b = Normalize(a), Normalize(b)
	return a.Hostname == b.Hostname && a.OS == b.OS && a.OSVersion == b.OSVersion &&
		a.Arch == b.Arch && a.AgentVersion == b.AgentVersion &&
		slices.Equal(a.IPs, b.IPs) && slices.Equal(a.Users, b.Users) &&
		a.TimeZone == b.TimeZone && a.UTCOffsetS == b.UTCOffsetS && slices.Equal(a.Tools, b.Tools)
}

// TimeZone names the endpoint's time zone (IANA, "" when unknown) and
// its offset east of UTC at now: notifications may start at a time of
// day on the endpoint's clock. TZ wins, as it does for the process.
func TimeZone(now time.Time) (name string, offsetS int) {
	_, offsetS = now.In(time.Local).Zone()
	if tz, ok := os.LookupEnv("TZ"); ok {
		tz = strings.TrimPrefix(tz, ":")
		if tz == "" {
			return "UTC", 0
		}
		if _, err := time.LoadLocation(tz); err == nil && !strings.HasPrefix(tz, "/") {
			return tz, offsetS
		}
		return "", offsetS
	}
	return localZoneName(), offsetS
}
