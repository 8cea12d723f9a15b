package api

import (
	"net/netip"
	"testing"
)

func TestClientAddr(t *testing.T) {
	lb := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("127.0.0.1/32")}
	for _, c := range []struct {
		name      string
		remote    string
		forwarded []string
		ps        []netip.Prefix
		want      string
	}{
		{"no proxies configured: the header is ignored", "203.0.113.9:5000", []string{"198.51.100.1"}, nil, "203.0.113.9:5000"},
		{"an untrusted peer cannot claim an address", "203.0.113.9:5000", []string{"127.0.0.1"}, lb, "203.0.113.9:5000"},
		{"through the load balancer", "10.0.0.5:4000", []string{"198.51.100.1"}, lb, "198.51.100.1:0"},
		{"the client's own claim left of the last hop is not believed", "10.0.0.5:4000", []string{"127.0.0.1, 198.51.100.1"}, lb, "198.51.100.1:0"},
		{"two load balancers", "127.0.0.1:4000", []string{"198.51.100.1, 10.0.0.7"}, lb, "198.51.100.1:0"},
		{"several header lines", "10.0.0.5:4000", []string{"192.0.2.1", "198.51.100.1"}, lb, "198.51.100.1:0"},
		{"IPv6 client", "10.0.0.5:4000", []string{"2001:db8::1"}, lb, "[2001:db8::1]:0"},
		{"no header: the balancer itself", "10.0.0.5:4000", nil, lb, "10.0.0.5:4000"},
		{"garbage leaves the connection's address", "10.0.0.5:4000", []string{"198.51.100.1, not-an-ip"}, lb, "10.0.0.5:4000"},
		{"only proxies: the first of them", "10.0.0.5:4000", []string{"10.0.0.9"}, lb, "10.0.0.9:0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := ClientAddr(c.remote, c.forwarded, c.ps); got != c.want {
				t.Errorf("ClientAddr(%q, %q) = %q, want %q", c.remote, c.forwarded, got, c.want)
			}
		})
	}
}
