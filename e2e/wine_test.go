//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/tetherdesk/tether/installer"
	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// The Windows agent, cross-compiled once for the tests that need it.
var winBins struct {
	once sync.Once
	dir  string
	err  error
}

// windowsBinaries builds the Windows agent once per test binary and
// returns the directory that holds tether-agent.exe.
func windowsBinaries(t testing.TB) string {
	t.Helper()
	winBins.once.Do(func() {
		winBins.dir = filepath.Join(filepath.Dir(bins.agent), "windows")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		winBins.err = testenv.BuildBinariesEnv(ctx, winBins.dir, testenv.WindowsBuildEnv, "./agent/cmd/tether-agent", "./e2e/testdata/win32window", "./e2e/testdata/winpeek")
	})
	if winBins.err != nil {
		t.Fatalf("building the Windows binaries: %v", winBins.err)
	}
	return winBins.dir
}

// startWine gives the test a private Wine prefix on its own Xvfb.
func startWine(t testing.TB) *testenv.Wine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return testenv.StartWine(t, ctx)
}

// wineRun runs a Windows command to its end and returns its output; a
// failure fails the test.
func wineRun(t testing.TB, w *testenv.Wine, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := w.Command(ctx, args...).CombinedOutput()
	if err := testenv.IgnoreWaitDelay(err); err != nil {
		t.Fatalf("wine %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// regQuery is `reg query key`'s output and whether the key exists.
func regQuery(t testing.TB, w *testenv.Wine, key string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := w.Command(ctx, "reg", "query", key).CombinedOutput()
	err = testenv.IgnoreWaitDelay(err)
	return string(out), err == nil
}

// TestMSIUnderWine installs the agent's MSI silently with Wine's msiexec,
// as IT would with `msiexec /i … /qn SERVER_URL=… ENROLL_TOKEN=…`: the
// files land in Program Files, the service is registered and started by
// the ServiceInstall and ServiceControl tables, the custom action writes
// the config, and the agent enrolls and shows online. Uninstalling removes
// the files and the service.
func TestMSIUnderWine(t *testing.T) {
	s := startServer(t)
	token := s.enrollmentToken()
	exe := filepath.Join(windowsBinaries(t), "tether-agent.exe")
	w := startWine(t)
	msi := w.Path(`C:\tether-agent.msi`)
	if err := (installer.MSI{Version: "v0.9.0-e2e", Binary: exe}).Build(t.Context(), msi); err != nil {
		t.Fatal(err)
	}

	msiOut := wineRun(t, w, "msiexec", "/i", `C:\tether-agent.msi`, "/qn", `/l*v`, `C:\install.log`, "SERVER_URL="+s.url, "ENROLL_TOKEN="+token)
	t.Logf("msiexec /i: %s", msiOut)
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(w.Path(`C:\install.log`))
			t.Logf("msiexec's log:\n%s", b)
		}
	}()
	installed := w.Path(`C:\Program Files\Tether\tether-agent.exe`)
	if _, err := os.Stat(installed); err != nil {
		t.Errorf("after msiexec /i: %v", err)
	}
	svc := `HKLM\System\CurrentControlSet\Services\tether-agent`
	out, ok := regQuery(t, w, svc)
	if !ok {
		t.Fatalf("the service is not in Wine's registry after msiexec /i:\n%s", out)
	}
	for _, want := range []string{`tether-agent.exe`, `service --config`, "Start", "0x2"} {
		if !strings.Contains(out, want) {
			t.Errorf("service key lacks %q:\n%s", want, out)
		}
	}
	conf := w.Path(`C:\ProgramData\Tether\agent.yaml`)
	testenv.Eventually(t, startTimeout, "the custom action's agent.yaml", func() (bool, error) {
		b, err := os.ReadFile(conf)
		if err != nil {
			return false, err
		}
		return strings.Contains(string(b), s.url) && strings.Contains(string(b), token), fmt.Errorf("agent.yaml:\n%s", b)
	})
	ep := waitEndpoint(t, s.api, windowsHostname(t))
	if ep.OS != "windows" {
		t.Errorf("the MSI's agent reports OS %q, want windows", ep.OS)
	}

	// By product code, as GPO and Intune remove it.
	code := msiProperty(t, msi, "ProductCode")
	msiOut = wineRun(t, w, "msiexec", "/x", code, "/qn", `/l*v`, `C:\uninstall.log`)
	t.Logf("msiexec /x: %s", msiOut)
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(w.Path(`C:\uninstall.log`))
			t.Logf("msiexec /x's log:\n%s", b)
		}
	}()
	if _, err := os.Stat(installed); !os.IsNotExist(err) {
		pending, _ := regQuery(t, w, `HKLM\System\CurrentControlSet\Control\Session Manager`)
		tasks := wineRun(t, w, "tasklist")
		t.Errorf("after msiexec /x the agent's exe: %v, want it gone\n%s\n%s", err, pending, tasks)
	}
	if out, ok := regQuery(t, w, svc); ok {
		t.Errorf("the service is still registered after msiexec /x:\n%s", out)
	}
}

// windowsHostname is the name a Windows agent under Wine reports: Wine's
// computer name is the Linux host name.
func windowsHostname(t testing.TB) string {
	return hostname(t)
}

// msiProperty reads one row of an MSI's Property table (msiinfo).
func msiProperty(t testing.TB, msi, name string) string {
	t.Helper()
	out, err := exec.Command("msiinfo", "export", msi, "Property").Output()
	if err != nil {
		t.Fatalf("msiinfo export %s Property: %v", msi, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(strings.TrimRight(line, "\r"), "\t"); ok && k == name {
			return v
		}
	}
	t.Fatalf("%s has no property %s", msi, name)
	return ""
}

// TestWindowsServiceUnderWine: `tether-agent.exe install` registers the
// service with Wine's service manager, which starts it; it enrolls, stops
// with `net stop` and comes back with `net start` as the same endpoint;
// `uninstall --purge` removes the service, its config and its state.
func TestWindowsServiceUnderWine(t *testing.T) {
	s := startServer(t)
	token := s.enrollmentToken()
	w := startWine(t)
	exe := w.Path(`C:\Program Files\Tether\tether-agent.exe`)
	if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(filepath.Join(windowsBinaries(t), "tether-agent.exe"), exe); err != nil {
		t.Fatal(err)
	}
	const winExe = `C:\Program Files\Tether\tether-agent.exe`
	out := wineRun(t, w, winExe, "install", "--server", s.url, "--token", token)
	if !strings.Contains(out, "installed and started service tether-agent") {
		t.Errorf("install said:\n%s", out)
	}
	svc := `HKLM\System\CurrentControlSet\Services\tether-agent`
	if out, ok := regQuery(t, w, svc); !ok || !strings.Contains(out, `service --config`) {
		t.Fatalf("the service is not registered after install (%v):\n%s", ok, out)
	}
	ep := waitEndpoint(t, s.api, windowsHostname(t))
	if ep.OS != "windows" {
		t.Errorf("the service's agent reports OS %q, want windows", ep.OS)
	}
	state := func() string { return serviceState(t, w) }
	if st := state(); st != "RUNNING" {
		t.Errorf("after install the service is %s, want RUNNING", st)
	}

	if pids := w.Processes("tether-agent.exe"); len(pids) == 0 {
		t.Error("no tether-agent.exe runs before net stop")
	}
	out = wineRun(t, w, "net", "stop", "tether-agent")
	t.Logf("net stop:\n%s", out)
	testenv.Eventually(t, exitTimeout, "the service STOPPED after net stop", func() (bool, error) {
		st := state()
		return st == "STOPPED", errors.New(st)
	})
	testenv.Eventually(t, exitTimeout, "no tether-agent.exe after net stop", func() (bool, error) {
		pids := w.Processes("tether-agent.exe")
		return len(pids) == 0, fmt.Errorf("still running: pids %v", pids)
	})

	wineRun(t, w, "net", "start", "tether-agent")
	if st := state(); st != "RUNNING" {
		t.Errorf("after net start the service is %s, want RUNNING", st)
	}
	// The same endpoint comes back: waitEndpoint fails on a second one,
	// which a lost identity would enroll.
	if again := waitEndpoint(t, s.api, windowsHostname(t)); again.ID != ep.ID {
		t.Errorf("after net start the endpoint is %s, was %s", again.ID, ep.ID)
	}

	conf := w.Path(`C:\ProgramData\Tether\agent.yaml`)
	stateDir := w.Path(`C:\ProgramData\Tether\state`)
	for _, p := range []string{conf, filepath.Join(stateDir, "identity.json")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("before uninstall: %v", err)
		}
	}
	out = wineRun(t, w, winExe, "uninstall", "--purge")
	t.Logf("uninstall --purge:\n%s", out)
	if out, ok := regQuery(t, w, svc); ok {
		t.Errorf("the service is still registered after uninstall --purge:\n%s", out)
	}
	for _, p := range []string{conf, stateDir} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("after uninstall --purge %s: %v, want it gone", p, err)
		}
	}
}

// serviceState is the STATE word of `sc query tether-agent` (RUNNING,
// STOPPED, …), or "not installed".
func serviceState(t testing.TB, w *testenv.Wine) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := w.Command(ctx, "sc", "query", "tether-agent").CombinedOutput()
	if err := testenv.IgnoreWaitDelay(err); err != nil {
		return fmt.Sprintf("not installed (%v: %s)", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "STATE" {
			if f := strings.Fields(v); len(f) >= 2 {
				return f[1]
			}
		}
	}
	return fmt.Sprintf("unknown (%s)", out)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// TestWindowsAgentUnderWine: the Windows agent (`tether-agent.exe run`)
// under Wine enrolls with the Linux server, runs an action once, and
// shares its screen with the real viewer in Chromium. A Win32 window
// painted one colour shows in the canvas, and a click and a key from the
// viewer reach it through SendInput. Wine has no desktop duplication, so
// the helper falls back to the portable capture and says so. Chat goes
// both ways with the Win32 chat window, and so does the clipboard with the
// Windows clipboard; the session bar shows End session; the session's end
// closes the chat window and the bar.
func TestWindowsAgentUnderWine(t *testing.T) {
	e := &shareEnv{}
	e.s = startServer(t)
	bin := windowsBinaries(t)
	w := startWine(t)
	agentCmd := w.Command(t.Context(), filepath.Join(bin, "tether-agent.exe"), "run",
		"--server", e.s.url, "--token", e.s.enrollmentToken(), "--state", `C:\tether-state`, "--log-level", "debug")
	a := startCmd(t, "tether-agent.exe under wine", agentCmd)
	e.ep = waitEndpoint(t, e.s.api, windowsHostname(t))
	if e.ep.OS != "windows" {
		t.Errorf("the agent reports OS %q, want windows", e.ep.OS)
	}
	st := e.s.api.queueEcho(t, e.ep.ID, "hello from the technician", 0)
	checkEchoDone(t, e.s.api.waitActionFinished(t, st.ID), "hello from the technician")

	win := startCmd(t, "win32window.exe", w.Command(t.Context(), filepath.Join(bin, "win32window.exe")))
	var x, y, ww, wh int
	testenv.Eventually(t, startTimeout, "the Win32 window to be shown", func() (bool, error) {
		for _, l := range win.stdout.Lines() {
			if n, _ := fmt.Sscanf(l, "ready %d %d %d %d", &x, &y, &ww, &wh); n == 4 {
				return true, nil
			}
		}
		return false, fmt.Errorf("stdout %q stderr %q", win.stdout.String(), win.stderr.String())
	})

	doc := map[string]any{"screenshare": map[string]any{"unattended_allowed": true, "acceptance_timeout_s": 30, "clipboard_sync": true}}
	if err := e.s.api.do(http.MethodPut, "/api/v1/policies/global", "", doc, nil); err != nil {
		t.Fatalf("PUT /api/v1/policies/global: %v", err)
	}
	if err := e.s.api.do(http.MethodPost, "/api/v1/users", "", protocol.CreateUserRequest{Name: tech1, Password: tech1Password,
		Roles: []string{perm.RoleAdministrator, perm.RoleScreenShareUnattended}}, nil); err != nil {
		t.Fatalf("create user %s: %v", tech1, err)
	}
	e.tech1 = e.s.userClient(tech1, tech1Password)
	e.br = startBrowser(t)
	tb := e.br.firstTab().on(t)
	tb.signIn(e.s.url, tech1, tech1Password)
	grantClipboard(t, tb, e.s.url)
	s := e.startSession(t, false)
	tb.openViewer(e.s.url, s.ID)
	vs := tb.waitLive(liveTimeout)
	cx, cy := x+ww/2, y+wh/2
	testenv.Eventually(t, startTimeout, "the Win32 window to paint", func() (bool, error) {
		return slices.Contains(win.stdout.Lines(), "painted"), fmt.Errorf("window said %q", win.stdout.String())
	})
	green := [3]int{0x20, 0xa0, 0x40}
	testenv.Eventually(t, paintTimeout, "the viewer to show the Win32 window's green", func() (bool, error) {
		got, err := tb.pixel(cx, cy)
		if err != nil {
			return false, err
		}
		// What the X server shows there tells a capture fault from a
		// window Wine has not put on the screen.
		return near(got, green, 40), fmt.Errorf("canvas pixel at %d,%d is #%02x%02x%02x; on the X display it is %s",
			cx, cy, got[0], got[1], got[2], xPixel(w.Display, cx, cy))
	})
	testenv.Eventually(t, paintTimeout, "the log to name the portable capture", func() (bool, error) {
		return strings.Contains(a.stderr.String(), "desktop duplication unavailable, using the portable path"), errors.New("not logged")
	})

	control(t, e.tech1, s.ID, protocol.ControlRequestOp, vs.ViewerID)
	waitHolder(t, vs.ViewerID, tb)
	r := tb.canvasRect()
	tb.mouse(r, chromedp.MouseMoved, cx, cy, input.MouseButtonNone, 0)
	tb.mouse(r, chromedp.MousePressed, cx, cy, input.MouseButtonLeft, 1)
	tb.mouse(r, chromedp.MouseReleased, cx, cy, input.MouseButtonLeft, 0)
	testenv.Eventually(t, inputTimeout, "the click to reach the Win32 window", func() (bool, error) {
		for _, l := range win.stdout.Lines() {
			var px, py int
			if n, _ := fmt.Sscanf(l, "click %d %d", &px, &py); n == 2 && abs(px-ww/2) <= 2 && abs(py-wh/2) <= 2 {
				return true, nil
			}
		}
		return false, fmt.Errorf("window said %q", win.stdout.String())
	})
	// The key goes to the window with the keyboard focus, which Wine gives
	// the clicked window only once it has handled the click: on a loaded
	// machine a key right after the click went to the desktop. So each try
	// clicks the window again and waits a little for the key.
	got := false
	for try := 0; try < 5 && !got; try++ {
		if try > 0 {
			tb.mouse(r, chromedp.MousePressed, cx, cy, input.MouseButtonLeft, 1)
			tb.mouse(r, chromedp.MouseReleased, cx, cy, input.MouseButtonLeft, 0)
		}
		tb.insertText("k")
		deadline := time.Now().Add(inputTimeout / 4)
		for !got && time.Now().Before(deadline) {
			got = slices.Contains(win.stdout.Lines(), "char k")
			if !got {
				time.Sleep(100 * time.Millisecond) // polling the window's output
			}
		}
	}
	if !got {
		t.Fatalf("the key never reached the Win32 window; it said %q", win.stdout.String())
	}

	// Chat both ways with the Win32 chat window, read and typed into from
	// another Windows program (winpeek) as the end user would.
	testenv.Eventually(t, liveTimeout, "the chat box to open", func() (bool, error) {
		dis, err := evalJS[bool](tb, `document.getElementById("chat-text").disabled`)
		return err == nil && !dis, err
	})
	tb.do("write to the user",
		chromedp.Click(chromedp.ID("chat-toggle")),
		chromedp.SendKeys(chromedp.ID("chat-text"), "Hello from the technician ✓"),
		chromedp.Click(chromedp.ID("chat-send")))
	peek := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		cmd := w.Command(ctx, append([]string{filepath.Join(bin, "winpeek.exe")}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err := testenv.IgnoreWaitDelay(err); err != nil {
			return "", fmt.Errorf("winpeek %s: %v: %s", strings.Join(args, " "), err, stderr.String())
		}
		return strings.TrimSpace(string(out)), nil
	}
	// Control ids of agent/desktop's chat window: 101 the transcript, 102
	// the input.
	testenv.Eventually(t, paintTimeout, "the technician's line in the Windows chat window", func() (bool, error) {
		out, err := peek("text", "TetherChat", "Tether chat", "101")
		if err != nil {
			return false, err
		}
		text, err := strconv.Unquote(out)
		return err == nil && strings.Contains(text, "Hello from the technician ✓"), fmt.Errorf("transcript %s", out)
	})
	if _, err := peek("type", "TetherChat", "Tether chat", "102", "Thanks, the printer is jammed"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, paintTimeout, "the end user's reply in the viewer", func() (bool, error) {
		n, err := evalJS[int](tb, `window.tetherStats.chat.filter((l) => l.role === "user" && l.text === "Thanks, the printer is jammed").length`)
		return err == nil && n == 1, fmt.Errorf("%d (%v)", n, err)
	})

	// The end user sees the session bar, with End session (control 302 of
	// agent/desktop's bar).
	testenv.Eventually(t, paintTimeout, "the session bar on the Windows desktop", func() (bool, error) {
		out, err := peek("text", "TetherSessionBar", "Tether session bar", "302")
		return err == nil && out == strconv.Quote("End session"), fmt.Errorf("winpeek: %q, %v", out, err)
	})

	// The clipboard both ways: the technician's text reaches the Windows
	// clipboard, and what a Windows program copies reaches the viewer.
	if _, err := evalJS[bool](tb, `navigator.clipboard.writeText("ticket 4711: reset the spooler ✓").then(() => true)`); err != nil {
		t.Fatalf("browser clipboard: %v", err)
	}
	if ok, err := evalJS[bool](tb, `window.tetherDebug.sendClipboard()`); err != nil || !ok {
		t.Fatalf("the viewer did not send its clipboard (%v)", err)
	}
	testenv.Eventually(t, inputTimeout, "the Windows clipboard to hold the technician's text", func() (bool, error) {
		out, err := peek("clip")
		return err == nil && out == strconv.Quote("ticket 4711: reset the spooler ✓"), fmt.Errorf("%s (%v)", out, err)
	})
	if _, err := peek("copy", `C:\temp\spool.log`); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, inputTimeout, "the viewer to get the Windows clipboard", func() (bool, error) {
		c, err := evalJS[string](tb, `window.tetherStats.clipboard`)
		held, perr := peek("clip")
		return err == nil && c == `C:\temp\spool.log`, fmt.Errorf("the viewer has %q (%v); the Windows clipboard holds %s (%v)", c, err, held, perr)
	})

	if err := e.tech1.do(http.MethodPost, "/api/v1/sessions/"+url.PathEscape(s.ID)+"/end", "", struct{}{}, nil); err != nil {
		t.Fatal(err)
	}
	e.waitEnded(t, s.ID, paintTimeout, protocol.EndedByTechnician)
	tb.waitViewerEnded(paintTimeout, protocol.EndedByTechnician)
	// The helper ends its side of the session and closes the session's
	// windows; the helper process itself stays, as it hosts the tray.
	testenv.Eventually(t, paintTimeout, "the helper to report the session ended", func() (bool, error) {
		for _, l := range strings.Split(a.stderr.String(), "\n") {
			if strings.Contains(l, `msg="helper session state"`) && strings.Contains(l, "session_id="+s.ID) && strings.Contains(l, "state=ended") {
				return true, nil
			}
		}
		return false, errors.New("not logged")
	})
	testenv.Eventually(t, paintTimeout, "the chat window to close with the session", func() (bool, error) {
		out, err := peek("text", "TetherChat", "Tether chat", "101")
		return err != nil && strings.Contains(err.Error(), "no window"), fmt.Errorf("winpeek: %q, %v", out, err)
	})
	testenv.Eventually(t, paintTimeout, "the session bar to go with the session", func() (bool, error) {
		out, err := peek("text", "TetherSessionBar", "Tether session bar", "302")
		return err != nil && strings.Contains(err.Error(), "no window"), fmt.Errorf("winpeek: %q, %v", out, err)
	})

	// An end-user notification reaches the Windows desktop as a Win32
	// window (control 201 its title, 210 its first button); the button's
	// press is in the report.
	if err := e.s.api.do(http.MethodPost, "/api/v1/users", "", protocol.CreateUserRequest{Name: "approver", Password: tech1Password,
		Roles: []string{perm.RoleNotifyApprover}}, nil); err != nil {
		t.Fatal(err)
	}
	var n protocol.NotificationInfo
	if err := e.s.api.do(http.MethodPost, "/api/v1/notifications", "", protocol.NotificationSpec{
		NotificationContent: protocol.NotificationContent{Title: "Patch Tuesday & <reboot>", Message: "Save your work.",
			Buttons: []protocol.NotificationButton{{Label: "Reboot now", Value: "now"}, {Label: "Later", Value: "later"}}},
		Schedule: protocol.NotificationSchedule{Expires: time.Now().Add(time.Hour)},
		Targets:  protocol.NotificationTargets{Groups: []string{"Default"}},
	}, &n); err == nil {
		// "<reboot>" is markup to the server: refused. Sent without it.
		t.Fatalf("markup accepted in a title: %+v", n)
	}
	if err := e.s.api.do(http.MethodPost, "/api/v1/notifications", "", protocol.NotificationSpec{
		NotificationContent: protocol.NotificationContent{Title: "Patch Tuesday & reboot", Message: "Save your work.\nQ&A: https://it.example",
			Buttons: []protocol.NotificationButton{{Label: "Reboot now", Value: "now"}, {Label: "Later", Value: "later"}}},
		Schedule: protocol.NotificationSchedule{Expires: time.Now().Add(time.Hour)},
		Targets:  protocol.NotificationTargets{Groups: []string{"Default"}},
	}, &n); err != nil {
		t.Fatalf("compose: %v", err)
	}
	if err := e.s.userClient("approver", tech1Password).do(http.MethodPost, "/api/v1/notifications/"+n.ID+"/approve", "",
		protocol.NotificationDecide{Version: 1}, nil); err != nil {
		t.Fatalf("approve: %v", err)
	}
	testenv.Eventually(t, liveTimeout, "the notification window on the Windows desktop", func() (bool, error) {
		out, err := peek("text", "TetherNotification", "*", "201")
		return err == nil && out == strconv.Quote("Patch Tuesday & reboot"), fmt.Errorf("winpeek: %q, %v", out, err)
	})
	if out, err := peek("text", "TetherNotification", "*", "202"); err != nil || out != strconv.Quote("Save your work.\r\nQ&A: https://it.example") {
		t.Errorf("message %s (%v)", out, err)
	}
	if _, err := peek("click", "TetherNotification", "*", "210"); err != nil {
		t.Fatal(err)
	}
	reportRow(t, e.s.api, n.ID, e.ep.ID, "the Windows answer in the report", func(r protocol.NotificationEndpoint) bool {
		return r.Status == "responded" && r.Response == "now" && r.Shown != nil
	})
	testenv.Eventually(t, paintTimeout, "the notification window to go", func() (bool, error) {
		out, err := peek("text", "TetherNotification", "*", "201")
		return err != nil && strings.Contains(err.Error(), "no window"), fmt.Errorf("winpeek: %q, %v", out, err)
	})
}

// xPixel is the colour the X display shows at x, y, or why it is unknown.
func xPixel(display string, x, y int) string {
	c, err := xgb.NewConnDisplay(display)
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	root := xproto.Setup(c).DefaultScreen(c).Root
	img, err := xproto.GetImage(c, xproto.ImageFormatZPixmap, xproto.Drawable(root), int16(x), int16(y), 1, 1, 0xffffffff).Reply()
	if err != nil {
		return err.Error()
	}
	if len(img.Data) < 3 {
		return fmt.Sprintf("%d bytes", len(img.Data))
	}
	return fmt.Sprintf("#%02x%02x%02x", img.Data[2], img.Data[1], img.Data[0])
}
