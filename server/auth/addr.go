package auth

import "net/netip"

// AddrKey is the throttling key of a remote address: the address itself
// for IPv4, its /64 for IPv6 (one subscriber usually holds a whole /64, so
// per-address limits on single IPv6 addresses would not limit anyone).
func AddrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
