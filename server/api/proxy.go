package api

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

func trusted(a netip.Addr, ps []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientAddr is the address of the client behind a request: the
// connection's own, unless that is a trusted proxy (a load balancer);
// then the last address in X-Forwarded-For that is not a trusted proxy
// (each proxy appends the address it was reached from, so anything left
// of that is the client's own claim). A header that cannot be read leaves
// the connection's address.
func ClientAddr(remote string, forwarded []string, ps []netip.Prefix) string {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil || len(ps) == 0 || !trusted(ap.Addr(), ps) || len(forwarded) == 0 {
		return remote
	}
	var hops []string
	for _, v := range forwarded {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := netip.Addr{}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return remote
		}
		client = a.Unmap()
		if !trusted(client, ps) {
			break
		}
	}
	if !client.IsValid() {
		return remote
	}
	return net.JoinHostPort(client.String(), "0")
}

// behindProxies sets r.RemoteAddr to the client's address (ClientAddr)
// for everything after it: rate limits, audit, endpoint addresses and the
// loopback-only checks all see the client, not the load balancer.
func behindProxies(next http.Handler, ps []netip.Prefix) http.Handler {
	if len(ps) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if addr := ClientAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), ps); addr != r.RemoteAddr {
			r2 := *r
			r2.RemoteAddr = addr
			r = &r2
		}
		next.ServeHTTP(w, r)
	})
}

// proxied reports whether a request says it came through a proxy. A
// loopback connection that does is a load balancer on this host passing
// on somebody else's request: not a local client.
func proxied(r *http.Request) bool {
	return r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" || r.Header.Get("X-Real-Ip") != ""
}
