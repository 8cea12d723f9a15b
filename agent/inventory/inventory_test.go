package inventory

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tetherdesk/tether/shared/protocol"
)

func TestCollect(t *testing.T) {
	inv := Collect(context.Background(), nil)
	if inv.OS != runtime.GOOS || inv.Arch != runtime.GOARCH || inv.AgentVersion == "" || inv.Hostname == "" {
		t.Errorf("Collect = %+v", inv)
	}
	if inv.IPs == nil || inv.Users == nil {
		t.Error("nil lists: they must encode as [] for the server")
	}
	for _, ip := range inv.IPs {
		p := net.ParseIP(ip)
		if p == nil || p.IsLoopback() || (p.To4() == nil && p.IsLinkLocalUnicast()) {
			t.Errorf("unexpected address %q", ip)
		}
	}
	if !slices.IsSorted(inv.IPs) || !slices.IsSorted(inv.Users) {
		t.Errorf("lists not sorted: %+v", inv)
	}
	// The server opens a tool's session only on an agent that names it.
	if want := slices.Sorted(slices.Values(protocol.Tools)); !slices.Equal(inv.Tools, want) {
		t.Errorf("tools %v, want %v", inv.Tools, want)
	}
}

func TestUsableIP(t *testing.T) {
	tests := []struct {
		cidr string
		want string // "" = excluded
	}{
		{"192.0.2.7/24", "192.0.2.7"},
		{"2001:db8::7/64", "2001:db8::7"},
		{"127.0.0.1/8", ""},
		{"::1/128", ""},
		{"fe80::1/64", ""},
		{"169.254.1.1/16", "169.254.1.1"}, // only IPv6 link-local is dropped
		{"::ffff:192.0.2.8/128", "192.0.2.8"},
		{"0.0.0.0/0", ""},
	}
	for _, tt := range tests {
		ip, n, err := net.ParseCIDR(tt.cidr)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		got, ok := usableIP(n)
		if (tt.want == "") == ok || (ok && got.String() != tt.want) {
			t.Errorf("usableIP(%s) = %v, %v; want %q", tt.cidr, got, ok, tt.want)
		}
	}
}

func TestEqualAndNormalize(t *testing.T) {
	a := protocol.Inventory{Hostname: "h", IPs: []string{"b", "a", "a"}, Users: nil}
	b := protocol.Inventory{Hostname: "h", IPs: []string{"a", "b"}, Users: []string{}}
	if !Equal(a, b) {
		t.Error("order, duplicates and nil-vs-empty must not count as a change")
	}
	b.Users = []string{"alice"}
	if Equal(a, b) {
		t.Error("a new user must count as a change")
	}
	withTools := a
	withTools.Tools = []string{"terminal"}
	if Equal(a, withTools) {
		t.Error("tools offered must count as a change")
	}
	if n := Normalize(a); !slices.Equal(n.IPs, []string{"a", "b"}) || n.Users == nil {
		t.Errorf("Normalize = %+v", n)
	}
	if a.IPs[0] != "b" {
		t.Error("Normalize modified its argument")
	}
}

func TestParseOSRelease(t *testing.T) {
	tests := []struct{ in, want string }{
		{"NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n", "Debian GNU/Linux 12 (bookworm)"},
		{"# comment\nPRETTY_NAME='Single Quoted'\n", "Single Quoted"},
		{"PRETTY_NAME=Bare\n", "Bare"},
		{"PRETTY_NAME=\"With \\\"escapes\\\"\"\n", `With "escapes"`},
		{"NAME=Alpine\nVERSION_ID=3.20.1\n", "Alpine 3.20.1"},
		{"garbage", ""},
	}
	for _, tt := range tests {
		if got := parseOSRelease(tt.in); got != tt.want {
			t.Errorf("parseOSRelease(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseSwVers(t *testing.T) {
	out := "ProductName:\t\tmacOS\nProductVersion:\t\t14.5\nBuildVersion:\t\t23F79\n"
	if got := parseSwVers(out); got != "macOS 14.5 (23F79)" {
		t.Errorf("parseSwVers = %q", got)
	}
	if got := parseSwVers(""); got != "" {
		t.Errorf("parseSwVers(\"\") = %q", got)
	}
}

func TestParseWho(t *testing.T) {
	out := "alice    console  Nov 23 09:12\nalice    ttys000  Nov 23 09:13\nbob      ttys001  Nov 23 10:00 (10.0.0.2)\n\n"
	if got := parseWho(out); !slices.Equal(got, []string{"alice", "alice", "bob"}) {
		t.Errorf("parseWho = %q", got)
	}
}

func TestFormatWindowsVersion(t *testing.T) {
	tests := []struct {
		product, display, build string
		ubr                     uint64
		want                    string
	}{
		{"Windows 10 Pro", "22H2", "19045", 4529, "Windows 10 Pro 22H2 (build 19045.4529)"},
		{"Windows 10 Enterprise", "23H2", "22631", 3880, "Windows 11 Enterprise 23H2 (build 22631.3880)"},
		{"Windows Server 2019 Standard", "", "17763", 0, "Windows Server 2019 Standard (build 17763)"},
		{"Windows 7 Professional", "", "", 0, "Windows 7 Professional"},
	}
	for _, tt := range tests {
		if got := formatWindowsVersion(tt.product, tt.display, tt.build, tt.ubr); got != tt.want {
			t.Errorf("formatWindowsVersion = %q, want %q", got, tt.want)
		}
	}
}

func TestNormalizeKeepsServerBounds(t *testing.T) {
	var ips, users []string
	for i := range 100 {
		ips = append(ips, netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}).String())
	}
	for i := range 300 {
		users = append(users, fmt.Sprintf("user%03d", i))
	}
	long := strings.Repeat("é", 200) // 400 bytes
	n := Normalize(protocol.Inventory{IPs: ips, Users: append(users, long), OSVersion: long})
	if len(n.IPs) != MaxIPs || len(n.Users) != MaxUsers {
		t.Errorf("lists: %d IPs, %d users", len(n.IPs), len(n.Users))
	}
	if n.Hostname != UnknownHostname {
		t.Errorf("Hostname = %q, want %q", n.Hostname, UnknownHostname)
	}
	if len(n.OSVersion) > MaxFieldBytes || !utf8.ValidString(n.OSVersion) || len(n.OSVersion) < MaxFieldBytes-1 {
		t.Errorf("OSVersion truncated to %d bytes, valid UTF-8 %v", len(n.OSVersion), utf8.ValidString(n.OSVersion))
	}
}

func TestTimeZoneFromTZ(t *testing.T) {
	at := time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ tz, name string }{
		{"Asia/Tokyo", "Asia/Tokyo"}, {":America/New_York", "America/New_York"}, {"", "UTC"}, {"Not/AZone", ""},
	} {
		t.Setenv("TZ", tc.tz)
		if name, _ := TimeZone(at); name != tc.name {
			t.Errorf("TZ=%q: zone %q, want %q", tc.tz, name, tc.name)
		}
	}
}
