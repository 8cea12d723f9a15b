//go:build linux

package e2e

// netLab is a small network of its own on this machine: one network
// namespace per host (server, agent, viewer, proxy), each with a veth into
// a bridge that lives in a namespace of its own. Nothing touches the
// machine's own network; firewall rules (nftables) go into the hosts'
// namespaces, and the test's own connections are made from inside them.

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// labNet is the lab's /24; the hosts are .1 (server), .2 (agent), .3
// (viewer), .4 (proxy).
const labNet = "10.213.77"

var labHosts = []struct{ role, ip string }{
	{"srv", labNet + ".1"}, {"agt", labNet + ".2"}, {"vwr", labNet + ".3"}, {"prx", labNet + ".4"},
}

type netLab struct {
	t      testing.TB
	prefix string
}

// labIP is the address of role in the lab.
func labIP(role string) string {
	for _, h := range labHosts {
		if h.role == role {
			return h.ip
		}
	}
	panic("no lab host " + role)
}

// newNetLab builds the lab; the test's cleanup removes it. It needs root
// (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2 and nftables, which
// scripts/deps.sh installs.
func newNetLab(t testing.TB) *netLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	for _, bin := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found: install iproute2 and nftables (scripts/deps.sh test)", bin)
		}
	}
	l := &netLab{t: t, prefix: fmt.Sprintf("tl%d", os.Getpid()%100000)}
	t.Cleanup(l.remove)
	lan := l.ns("lan")
	l.ip("netns", "add", lan)
	l.ip("-n", lan, "link", "set", "lo", "up")
	l.ip("-n", lan, "link", "add", "br0", "type", "bridge")
	l.ip("-n", lan, "link", "set", "br0", "up")
	for _, h := range labHosts {
		ns := l.ns(h.role)
		l.ip("netns", "add", ns)
		l.ip("-n", ns, "link", "set", "lo", "up")
		l.ip("-n", lan, "link", "add", "v"+h.role, "type", "veth", "peer", "name", "eth0", "netns", ns)
		l.ip("-n", lan, "link", "set", "v"+h.role, "master", "br0", "up")
		l.ip("-n", ns, "addr", "add", h.ip+"/24", "dev", "eth0")
		l.ip("-n", ns, "link", "set", "eth0", "up")
	}
	return l
}

// ns is the namespace name of role.
func (l *netLab) ns(role string) string { return l.prefix + role }

func (l *netLab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (l *netLab) remove() {
	for _, h := range append(labHosts, struct{ role, ip string }{"lan", ""}) {
		_ = exec.Command("ip", "netns", "del", l.ns(h.role)).Run()
	}
}

// in makes cmd run in role's namespace (ip netns exec, which execs it: the
// process keeps its PID).
func (l *netLab) in(role string) func(*exec.Cmd) {
	return func(cmd *exec.Cmd) {
		ipPath, _ := exec.LookPath("ip")
		cmd.Args = append([]string{"ip", "netns", "exec", l.ns(role), cmd.Path}, cmd.Args[1:]...)
		cmd.Path = ipPath
	}
}

// firewall replaces the nftables rules of each role named in rules (a
// ruleset each; "" clears them).
func (l *netLab) firewall(t testing.TB, rules map[string]string) {
	t.Helper()
	for role, r := range rules {
		cmd := exec.Command("ip", "netns", "exec", l.ns(role), "nft", "-f", "-")
		cmd.Stdin = strings.NewReader("flush ruleset\n" + r)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft in %s: %v\n%s\nrules:\n%s", role, err, out, r)
		}
	}
}

// clearFirewalls removes every host's rules.
func (l *netLab) clearFirewalls(t testing.TB) {
	t.Helper()
	rules := map[string]string{}
	for _, h := range labHosts {
		rules[h.role] = ""
	}
	l.firewall(t, rules)
}

// dial connects from inside role's namespace: the socket is made on a
// thread that entered it, and stays there. The thread goes back to its
// own namespace before it is given back; it must not end instead, for
// processes the tests started from it would get their parent-death
// signal.
func (l *netLab) dial(role string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	path := "/run/netns/" + l.ns(role)
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			home, err := os.Open("/proc/thread-self/ns/net")
			if err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, err}
				return
			}
			defer home.Close()
			target, err := os.Open(path)
			if err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, err}
				return
			}
			defer target.Close()
			if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, fmt.Errorf("setns %s: %w", path, err)}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread() // home again: the thread may serve others
			} // else it stays locked, and ends with this goroutine
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}

// transport is an HTTP transport that connects from role's namespace and
// trusts any certificate (the lab server's is self-signed; the agent pins
// it by fingerprint).
func (l *netLab) transport(role string) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = l.dial(role)
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the lab server's self-signed certificate
	return tr
}

// run runs a command in role's namespace.
func (l *netLab) run(t testing.TB, role string, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", append([]string{"netns", "exec", l.ns(role)}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("%s in %s: %v\n%s", strings.Join(args, " "), role, err, out)
	}
}
