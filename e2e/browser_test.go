//go:build linux

package e2e

// Headless Chromium driven with chromedp: the technician's browser.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/tetherdesk/tether/internal/testenv"
)

// browser is one headless Chromium with a fresh profile.
type browser struct {
	t   testing.TB
	ctx context.Context // the first tab's context; tabs derive from it
}

// startBrowser starts Chromium; the test's cleanup stops it.
func startBrowser(t testing.TB) *browser {
	t.Helper()
	return startBrowserOpts(t)
}

// startBrowserOpts is startBrowser with more allocator options.
func startBrowserOpts(t testing.TB, more ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	if _, err := os.Stat(testenv.ChromiumPath); err != nil {
		t.Fatalf("chromium is not installed at %s (scripts/deps.sh installs it): %v", testenv.ChromiumPath, err)
	}
	opts := append(testenv.ChromiumAllocatorOptions(t.TempDir(), displayW, displayH), more...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx}
}

// consoleScripts opens a fresh server's sign-in page in a new browser, for
// tests that drive the console's scripts directly.
func consoleScripts(t *testing.T) *tab {
	s := startServer(t)
	tb := startBrowser(t).firstTab()
	tb.do("open the console", chromedp.Navigate(s.url+"/"), chromedp.WaitReady(chromedp.ID("signin")))
	return tb
}

// tab is one page of the browser.
type tab struct {
	t   testing.TB
	ctx context.Context
}

// firstTab is the browser's first page.
func (b *browser) firstTab() *tab { return &tab{t: b.t, ctx: b.ctx} }

// on returns the same page reporting failures to t (a subtest).
func (tb *tab) on(t testing.TB) *tab { return &tab{t: t, ctx: tb.ctx} }

// newProfileTab opens a page in a new browser context: its own cookies, so
// another technician can sign in.
func (b *browser) newProfileTab(t testing.TB) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(displayW, displayH), chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return &tab{t: t, ctx: ctx}
}

// do runs actions with a deadline.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, startTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("browser: %s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression into out.
func evalJS[T any](tb *tab, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, startTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// signIn signs in through the console's page.
func (tb *tab) signIn(url, name, password string) {
	tb.t.Helper()
	tb.do("sign in as "+name, testenv.SignIn(url, name, password)...)
}

// viewerStats mirrors window.tetherStats of view.js.
type viewerStats struct {
	Messages  int    `json:"messages"`
	Sizes     int    `json:"sizes"`
	Tiles     int    `json:"tiles"`
	Frames    int    `json:"frames"`
	Errors    int    `json:"errors"`
	Inputs    int    `json:"inputs"`
	State     string `json:"state"`
	Reason    string `json:"reason"`
	ViewerID  string `json:"viewerId"`
	Holder    string `json:"holder"`
	Monitors  int    `json:"monitors"`
	Candidate string `json:"candidate"` // local candidate type of the selected pair
	// Path is the network path the toolbar shows (view.js networkPath):
	// direct, relay-udp, relay-tcp, relay-tls, relay-remote, websocket.
	Path string `json:"path"`
	// Capture is how the endpoint captures its screen (the toolbar names
	// the desktop from it): x11shm, wlr, mutter, ...
	Capture string `json:"capture"`
	// Acks of drawn frames sent to the agent: all, those saying busy,
	// and the last one's frame, busy flag and whether a timer sent it.
	Acks      int    `json:"acks"`
	BusyAcks  int    `json:"busyAcks"`
	AckedSeq  uint32 `json:"ackedSeq"`
	AckedBusy bool   `json:"ackedBusy"`
	AckedLazy bool   `json:"ackedLazy"`
}

func (tb *tab) stats() (viewerStats, error) {
	return evalJS[viewerStats](tb, `window.tetherStats ? JSON.parse(JSON.stringify(window.tetherStats)) : {}`)
}

// openViewer navigates to the viewer page of session id.
func (tb *tab) openViewer(url, id string) {
	tb.t.Helper()
	tb.do("open the viewer", chromedp.Navigate(url+"/view/"+id), chromedp.WaitVisible(chromedp.ID("screen")))
}

// waitStats waits until cond holds over the viewer's stats.
func (tb *tab) waitStats(timeout time.Duration, what string, cond func(viewerStats) bool) viewerStats {
	tb.t.Helper()
	var st viewerStats
	testenv.Eventually(tb.t, timeout, what, func() (bool, error) {
		var err error
		st, err = tb.stats()
		if err != nil {
			return false, err
		}
		return cond(st), fmt.Errorf("viewer stats %+v", st)
	})
	return st
}

// waitLive waits until the viewer has drawn at least one frame.
func (tb *tab) waitLive(timeout time.Duration) viewerStats {
	tb.t.Helper()
	return tb.waitStats(timeout, "the viewer to draw a frame", func(s viewerStats) bool {
		if s.State == "ended" {
			tb.t.Fatalf("the session ended (%q) before the viewer drew a frame: %+v", s.Reason, s)
		}
		return s.State == "live" && s.Frames > 0
	})
}

// pixel reads the canvas pixel at monitor coordinates x, y.
func (tb *tab) pixel(x, y int) ([3]int, error) {
	v, err := evalJS[[]int](tb, fmt.Sprintf(`Array.from(document.getElementById("screen").getContext("2d").getImageData(%d, %d, 1, 1).data)`, x, y))
	if err != nil || len(v) < 3 {
		return [3]int{}, fmt.Errorf("reading pixel %d,%d: %v (%v)", x, y, err, v)
	}
	return [3]int{v[0], v[1], v[2]}, nil
}

// near reports whether two colours differ by at most tol per channel (JPEG
// tiles are lossy).
func near(a, b [3]int, tol int) bool {
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > float64(tol) {
			return false
		}
	}
	return true
}

// pixelWant is a colour the viewer's canvas should show at x, y.
type pixelWant struct {
	name string
	x, y int
	rgb  [3]int
}

// waitPixels is waitPixel for each of ps, in order.
func (tb *tab) waitPixels(timeout time.Duration, ps []pixelWant) {
	tb.t.Helper()
	for _, p := range ps {
		tb.waitPixel(timeout, p.name, p.x, p.y, p.rgb)
	}
}

// waitPixel waits until the canvas shows rgb at x, y.
func (tb *tab) waitPixel(timeout time.Duration, what string, x, y int, rgb [3]int) {
	tb.t.Helper()
	testenv.Eventually(tb.t, timeout, fmt.Sprintf("the viewer to show %s (#%02x%02x%02x) at %d,%d", what, rgb[0], rgb[1], rgb[2], x, y), func() (bool, error) {
		got, err := tb.pixel(x, y)
		if err != nil {
			return false, err
		}
		return near(got, rgb, 40), fmt.Errorf("pixel is #%02x%02x%02x", got[0], got[1], got[2])
	})
}

// canvasRect is the canvas's bounding box in CSS pixels of the viewport,
// with the monitor size it shows.
type canvasRect struct {
	Left, Top, Width, Height float64
	W, H                     int
}

func (tb *tab) canvasRect() canvasRect {
	tb.t.Helper()
	r, err := evalJS[canvasRect](tb, `(() => { const c = document.getElementById("screen"); const r = c.getBoundingClientRect();
		return {Left: r.left, Top: r.top, Width: r.width, Height: r.height, W: c.width, H: c.height}; })()`)
	if err != nil || r.W == 0 || r.Width == 0 {
		tb.t.Fatalf("canvas geometry %+v: %v", r, err)
	}
	return r
}

// client maps monitor pixel x, y to the viewport point at its centre.
func (r canvasRect) client(x, y int) (float64, float64) {
	return r.Left + (float64(x)+0.5)*r.Width/float64(r.W), r.Top + (float64(y)+0.5)*r.Height/float64(r.H)
}

// mouse dispatches one mouse event at monitor pixel x, y.
func (tb *tab) mouse(r canvasRect, typ input.DispatchMouseEventType, x, y int, button input.MouseButton, buttons int64) {
	tb.t.Helper()
	cx, cy := r.client(x, y)
	p := input.DispatchMouseEventParams{Type: typ, X: cx, Y: cy, Button: button, Buttons: buttons}
	if typ == chromedp.MousePressed || typ == chromedp.MouseReleased {
		p.ClickCount = 1
	}
	ctx, cancel := context.WithTimeout(tb.ctx, startTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, input.DispatchMouseEvent, p); err != nil {
		tb.t.Fatalf("dispatch %s at %d,%d: %v", typ, x, y, err)
	}
}

// wheel dispatches a wheel event of dy CSS pixels at monitor pixel x, y.
func (tb *tab) wheel(r canvasRect, x, y int, dy float64) {
	tb.t.Helper()
	cx, cy := r.client(x, y)
	ctx, cancel := context.WithTimeout(tb.ctx, startTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, input.DispatchMouseEvent, input.DispatchMouseEventParams{Type: chromedp.MouseWheel, X: cx, Y: cy,
		// The protocol requires deltaX, and cdproto omits a zero: a
		// negligible one (far below a notch) keeps it on the wire.
		DeltaX: 1e-6, DeltaY: dy}); err != nil {
		tb.t.Fatalf("dispatch wheel: %v", err)
	}
}

// insertText inserts text the way an IME commits it.
func (tb *tab) insertText(s string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, startTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: s}); err != nil {
		tb.t.Fatalf("insert text: %v", err)
	}
}

// inputDrained waits until everything the viewer sent on the input channel
// has left the browser, and returns how many input events it sent.
func (tb *tab) inputDrained() int {
	tb.t.Helper()
	var n int
	testenv.Eventually(tb.t, startTimeout, "the viewer's input channel to drain", func() (bool, error) {
		v, err := evalJS[[]int](tb, `[window.tetherStats.inputs, window.tetherDebug ? window.tetherDebug.inputBuffered() : -1]`)
		if err != nil {
			return false, err
		}
		n = v[0]
		return v[1] == 0, fmt.Errorf("buffered %d", v[1])
	})
	return n
}

// screenshot saves the page as PNG under e2e/out for reviewers.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, startTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.MkdirAll("out", 0o755); err != nil {
		tb.t.Errorf("screenshot: %v", err)
		return
	}
	path := filepath.Join("out", name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Errorf("screenshot: %v", err)
	}
	tb.t.Logf("screenshot: e2e/%s", path)
}

// jsonString quotes s for JavaScript.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
