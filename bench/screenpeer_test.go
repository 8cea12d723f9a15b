//go:build linux

package bench

// The peer: x11vnc on the same display, websockify in front of it, and
// noVNC's own RFB client (Debian's /usr/share/novnc) in a page the
// benchmark serves, watched by the same probe as the Tether viewer.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tetherdesk/tether/internal/testenv"
)

// noVNCDir is where Debian's novnc package puts noVNC.
const noVNCDir = "/usr/share/novnc"

// peerTools lists what the peer needs that is missing.
func peerTools() []string {
	var miss []string
	vnc := "x11vnc"
	if screenDesktop == "sway" {
		vnc = "wayvnc"
	}
	for _, bin := range []string{vnc, "websockify", "ss"} {
		if _, err := exec.LookPath(bin); err != nil {
			miss = append(miss, bin)
		}
	}
	if _, err := os.Stat(filepath.Join(noVNCDir, "core", "rfb.js")); err != nil {
		miss = append(miss, noVNCDir+"/core/rfb.js")
	}
	return miss
}

// peerPage is the noVNC viewer: noVNC's RFB class from the Debian package
// with its default settings (quality 6, compression 2, the encodings it
// asks for), scaled to fit the window as the Tether viewer is
// (scaleViewport: CSS scaling of a full-size canvas, like view.js). The
// classic script runs before the module's imports, so its wrappers see
// noVNC's logger and socket being made: console.error counts errors
// (noVNC logs decode and protocol failures there), and the WebSocket
// subclass hands every message's size to the probe (tb.message). A frame
// is a flip of noVNC's display that drew something to the visible canvas
// (the end of a FramebufferUpdate, once its images have decoded).
const peerPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>noVNC peer</title>
<style>html, body { margin: 0; height: 100%; background: #2b2f36; overflow: hidden; } #screen { width: 100%; height: 100%; }</style>
<script>
window.peerStats = { frames: 0, fbus: 0, messages: 0, errors: 0, state: "connecting", reason: "", lastError: "", fbuSeen: false };
(() => {
  const stats = window.peerStats;
  const origError = console.error;
  console.error = function (...a) { stats.errors++; stats.lastError = a.map(String).join(" ").slice(0, 300); return origError.apply(this, a); };
  // A real WebSocket with a listener added (noVNC checks the socket's
  // own prototype for its methods, so no subclass).
  const WS = window.WebSocket;
  const Counted = function (...args) {
    const ws = new WS(...args);
    ws.addEventListener("message", (ev) => {
      stats.messages++;
      const d = ev.data;
      if (window.__tb) window.__tb.message(d instanceof ArrayBuffer ? d.byteLength : (d && (d.size || d.length)) || 0);
    });
    return ws;
  };
  Counted.prototype = WS.prototype;
  for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Counted[k] = WS[k];
  window.WebSocket = Counted;
})();
</script>
</head>
<body>
<div id="screen"></div>
<script type="module">
import RFB from "/novnc/core/rfb.js";
const stats = window.peerStats;
const port = new URLSearchParams(location.search).get("ws");
const rfb = new RFB(document.getElementById("screen"), "ws://127.0.0.1:" + port + "/");
rfb.scaleViewport = true;
window.peerRFB = rfb;
rfb.addEventListener("connect", () => { stats.state = "connected"; });
rfb.addEventListener("disconnect", (e) => {
  stats.state = "disconnected";
  if (!e.detail.clean) { stats.errors++; stats.reason = "unclean disconnect"; }
});
rfb.addEventListener("securityfailure", (e) => { stats.errors++; stats.reason = "security failure: " + e.detail.reason; });
const fbu = rfb._framebufferUpdate;
rfb._framebufferUpdate = function () {
  stats.fbuSeen = true;
  const done = fbu.call(this);
  if (done) stats.fbus++;
  return done;
};
const d = rfb._display, flip = d.flip;
d.flip = function (fromQueue) {
  const queued = this._renderQ.length !== 0 && !fromQueue;
  const b = this._damageBounds;
  const drew = !queued && b.right > b.left && b.bottom > b.top;
  const r = flip.call(this, fromQueue);
  if (drew && stats.fbuSeen) {
    stats.frames++;
    if (window.__tb) window.__tb.frame();
  }
  return r;
};
</script>
</body>
</html>
`

// peerProc is x11vnc (or wayvnc), websockify and the page server.
type peerProc struct {
	name       string // x11vnc or wayvnc
	vnc        *testenv.Proc
	websockify *testenv.Proc
	rfbPort    int
	wsPort     int
	web        *http.Server
	webURL     string // the page, with the websockify port
	vncArgs    []string
	wsArgs     []string
	logs       []*os.File
}

// freePort asks the kernel for a free loopback port (it may be taken
// again before the program binds it; unlikely on a test machine).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startPeer(ctx context.Context, display string, sway *testenv.Compositor) (*peerProc, error) {
	p := &peerProc{name: "x11vnc"}
	if sway != nil {
		p.name = "wayvnc"
	}
	var err error
	if p.rfbPort, err = freePort(); err != nil {
		return nil, err
	}
	if p.wsPort, err = freePort(); err != nil {
		return nil, err
	}
	logTo := func(name string) (*os.File, error) {
		f, err := os.Create(filepath.Join(outDir, name))
		if err == nil {
			p.logs = append(p.logs, f)
		}
		return f, err
	}
	// x11vnc with its defaults (DAMAGE hints, MIT-SHM, -wait 20, -defer
	// 20, wireframe and scroll detection on) and only what a loopback
	// benchmark needs: the port, loopback only, no password, keep
	// running across clients.
	p.vncArgs = []string{"-display", display, "-rfbport", strconv.Itoa(p.rfbPort), "-localhost", "-nopw", "-forever", "-shared"}
	env := childEnv()
	if sway != nil {
		// wayvnc with its defaults (screencopy with damage, 30 frames/s at
		// most) on sway's output, loopback, no password.
		p.vncArgs = []string{"127.0.0.1", strconv.Itoa(p.rfbPort)}
		env = childEnv(sway.Env()...)
	}
	lf, err := logTo("screen-" + p.name + ".log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("x11vnc", p.vncArgs...)
	if sway != nil {
		cmd = exec.Command("wayvnc", p.vncArgs...)
	}
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = lf, lf
	if p.vnc, err = testenv.Start(p.name, cmd); err != nil {
		p.close()
		return nil, err
	}
	// x11vnc prints PORT=N once it listens (a probing connection would
	// only log a failed WebSocket handshake); wayvnc prints nothing, and
	// a probe there is harmless.
	err = testenv.Poll(ctx, 30*time.Second, testenv.Until(func() bool {
		if p.vnc.Exited() {
			return true
		}
		if sway != nil {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.rfbPort), time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		}
		b, _ := os.ReadFile(lf.Name())
		return strings.Contains(string(b), fmt.Sprintf("\nPORT=%d", p.rfbPort))
	}))
	if err != nil || p.vnc.Exited() {
		p.close()
		return nil, fmt.Errorf("%s did not listen on port %d (%v); log:\n%s", p.name, p.rfbPort, err, tailFile(lf.Name(), 2048))
	}
	p.wsArgs = []string{fmt.Sprintf("127.0.0.1:%d", p.wsPort), fmt.Sprintf("127.0.0.1:%d", p.rfbPort)}
	wf, err := logTo(screenFile("-websockify.log"))
	if err != nil {
		p.close()
		return nil, err
	}
	cmd = exec.Command("websockify", p.wsArgs...)
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = wf, wf
	if p.websockify, err = testenv.Start("websockify", cmd); err != nil {
		p.close()
		return nil, err
	}
	if err := waitPort(ctx, p.wsPort, p.websockify, 30*time.Second); err != nil || p.websockify.Exited() {
		p.close()
		return nil, fmt.Errorf("websockify did not listen on port %d (%v); log:\n%s", p.wsPort, err, tailFile(wf.Name(), 2048))
	}

	mux := http.NewServeMux()
	mux.Handle("/novnc/", http.StripPrefix("/novnc/", http.FileServer(http.Dir(noVNCDir))))
	mux.HandleFunc("/peer.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(peerPage))
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		p.close()
		return nil, err
	}
	p.web = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.web.Serve(l) }()
	p.webURL = fmt.Sprintf("http://%s/peer.html?ws=%d", l.Addr(), p.wsPort)
	return p, nil
}

func waitPort(ctx context.Context, port int, proc *testenv.Proc, timeout time.Duration) error {
	return testenv.Poll(ctx, timeout, testenv.Until(func() bool {
		if proc.Exited() {
			return true
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}))
}

func (p *peerProc) close() {
	if p.web != nil {
		_ = p.web.Close()
	}
	if p.websockify != nil {
		p.websockify.Stop(3 * time.Second)
	}
	if p.vnc != nil {
		p.vnc.Stop(3 * time.Second)
	}
	for _, f := range p.logs {
		f.Close()
	}
}

// tcpTotals is what the kernel counted for the TCP connections on a
// local port (ss -ti): payload bytes both ways and segments both ways.
type tcpTotals struct {
	Conns     int
	BytesSent int64 // by the local end: to the viewer, for websockify
	BytesRecv int64
	SegsOut   int64
	SegsIn    int64
}

// loopbackHeader is what one TCP segment costs on the loopback device
// beyond its payload, as /proc/net/dev counts it: 14 bytes of Ethernet
// header (lo counts it), 20 of IPv4, 32 of TCP with timestamps.
const loopbackHeader = 14 + 20 + 32

// Wire is the connection's bytes as the loopback interface counts them.
func (t tcpTotals) Wire() int64 {
	return t.BytesSent + t.BytesRecv + loopbackHeader*(t.SegsOut+t.SegsIn)
}

// tcpPort sums ss's TCP counters of the established connections whose
// local port is port.
func tcpPort(port int) (tcpTotals, error) {
	out, err := exec.Command("ss", "-tinH", "state", "established", fmt.Sprintf("( sport = :%d )", port)).Output()
	if err != nil {
		return tcpTotals{}, fmt.Errorf("ss: %w", err)
	}
	var t tcpTotals
	for _, l := range strings.Split(string(out), "\n") {
		// A connection's line, then its counters on an indented one.
		if l != "" && l[0] != ' ' && l[0] != '\t' {
			t.Conns++
		}
	}
	t.add(string(out))
	return t, nil
}

// add adds the counters ss printed in s.
func (t *tcpTotals) add(s string) {
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "bytes_sent":
			t.BytesSent += n
		case "bytes_received":
			t.BytesRecv += n
		case "segs_out":
			t.SegsOut += n
		case "segs_in":
			t.SegsIn += n
		}
	}
}

// tcpToPort sums ss's TCP counters of the established connections to
// port (their client ends), split into those of processes named owner and
// the others.
func tcpToPort(port int, owner string) (mine, others tcpTotals, err error) {
	out, err := exec.Command("ss", "-tinpH", "state", "established", fmt.Sprintf("( dport = :%d )", port)).Output()
	if err != nil {
		return mine, others, fmt.Errorf("ss: %w", err)
	}
	cur := &others
	for _, l := range strings.Split(string(out), "\n") {
		if l == "" {
			continue
		}
		if l[0] != ' ' && l[0] != '\t' { // a connection's line; its counters follow, indented
			cur = &others
			if strings.Contains(l, `(("`+owner+`"`) {
				cur = &mine
			}
			cur.Conns++
			continue
		}
		cur.add(l)
	}
	return mine, others, nil
}

// peerSys is the x11vnc + websockify + noVNC side of the comparison.
type peerSys struct {
	e *screenEnv
	p *peerProc
}

func (s *peerSys) Name() string { return "peer" }

// open loads the noVNC page and waits until it has drawn a frame.
func (s *peerSys) open(ctx context.Context) (openInfo, error) {
	var oi openInfo
	br := s.e.br
	if err := br.do("blank page", 30*time.Second, chromedp.Navigate("about:blank")); err != nil {
		return oi, err
	}
	t0 := time.Now()
	if err := br.do("open noVNC", 30*time.Second, chromedp.Navigate(s.p.webURL)); err != nil {
		return oi, err
	}
	type lite struct {
		First  float64 `json:"f"`
		State  string  `json:"s"`
		Reason string  `json:"r"`
		Err    string  `json:"e"`
	}
	var v lite
	err := testenv.Poll(ctx, firstFrameLimit, testenv.Until(func() bool {
		var err error
		v, err = evalJS[lite](br, `(() => { const t = window.__tb || {}, s = window.peerStats || {};
			return {f: t.firstFrameAt || 0, s: s.state || "", r: s.reason || "", e: s.lastError || ""}; })()`)
		return err == nil && (v.First > 0 || v.State == "disconnected")
	}))
	if err != nil || v.First == 0 {
		return oi, fmt.Errorf("noVNC drew no frame within %s (state %q %s %s); %s log:\n%s", firstFrameLimit, v.State, v.Reason, v.Err,
			s.p.name, tailFile(filepath.Join(outDir, "screen-"+s.p.name+".log"), 2048))
	}
	oi.FirstFrameMS = round1(v.First - epochMS(t0))
	return oi, nil
}

// close leaves the page and waits until both connections are gone, so the
// next measurement starts without a client.
func (s *peerSys) close(ctx context.Context) error {
	if err := s.e.br.do("leave noVNC", 30*time.Second, chromedp.Navigate("about:blank")); err != nil {
		return err
	}
	err := testenv.Poll(ctx, 15*time.Second, testenv.Until(func() bool {
		a, err1 := tcpPort(s.p.wsPort)
		b, err2 := tcpPort(s.p.rfbPort)
		return err1 == nil && err2 == nil && a.Conns == 0 && b.Conns == 0
	}))
	if err != nil {
		return errors.New("the noVNC connection did not close within 15s")
	}
	return nil
}

// serving is x11vnc: the process that captures and encodes.
func (s *peerSys) serving() []string { return []string{s.p.name} }

func (s *peerSys) peakPIDs() map[string][]int {
	all := listProcs()
	return map[string][]int{
		s.p.name:     descendants(all, s.p.vnc.Pid()),
		"websockify": descendants(all, s.p.websockify.Pid()),
	}
}

// wire is the viewer's hop, websockify → browser, as the loopback device
// counts it (from the kernel's counters of that TCP connection); x11vnc
// → websockify is a second hop on loopback that Tether does not have.
func (s *peerSys) wire() (wireCount, error) {
	ws, err := tcpPort(s.p.wsPort)
	if err != nil {
		return wireCount{}, err
	}
	rfb, err := tcpPort(s.p.rfbPort)
	if err != nil {
		return wireCount{}, err
	}
	lo, _, err := loopbackBytes()
	return wireCount{Viewer: ws.Wire(), Loopback: lo, Hop: rfb.Wire()}, err
}

// alive reports a peer process that has exited.
func (s *peerSys) alive() error {
	for _, p := range []*testenv.Proc{s.p.vnc, s.p.websockify} {
		if p.Exited() {
			return fmt.Errorf("%s exited (%v)", p.Name, p.State())
		}
	}
	return nil
}
