//go:build linux

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// toolPage is where a test works a support tool: the viewer page of its
// session, or the tool's tab on the endpoint page, where the pane's
// element ids carry the tool's prefix and the hooks are
// window.tetherTools[tool].
type toolPage struct {
	*tab
	id     string // the session's
	prefix string // of the pane's element ids
	hooks  string // JS: the page's test hooks (terminalText, adminRequest...)
	stats  string // JS: its counters (downloads)
	status string // JS: the tool's status line
}

// el is the pane's element id for the viewer page's id.
func (p *toolPage) el(id string) string { return p.prefix + id }

// openTool opens a support tool on the endpoint as tech1 and the viewer
// page of its session in tb.
func (e *shareEnv) openTool(t *testing.T, tb *tab, tool string) *toolPage {
	t.Helper()
	var s protocol.Session
	if err := e.tech1.do(http.MethodPost, "/api/v1/endpoints/"+url.PathEscape(e.ep.ID)+"/tools", "", protocol.CreateToolSessionRequest{Tool: tool}, &s); err != nil {
		t.Fatalf("open %s: %v", tool, err)
	}
	e.endAtCleanup(t, s.ID)
	tb.do("open the tool's viewer", chromedp.Navigate(e.s.url+"/view/"+s.ID), chromedp.WaitVisible(chromedp.ID("tool")))
	return &toolPage{tab: tb, id: s.ID, hooks: "window.tetherDebug", stats: "window.tetherStats", status: `document.getElementById("tool-status").textContent`}
}

// openToolTab opens a support tool in its tab of the endpoint page, as
// a technician does: the tab, then Connect.
func (e *shareEnv) openToolTab(t *testing.T, tb *tab, tool string) *toolPage {
	t.Helper()
	slug := strings.ReplaceAll(tool, ".", "-")
	tb.goTo(e.s.url, "endpoints/"+e.ep.ID+"/"+slug, "endpoint")
	hooks := "window.tetherTools[" + jsonString(tool) + "]"
	if _, err := evalJS[bool](tb, `(delete (window.tetherTools || {})[`+jsonString(tool)+`], true)`); err != nil {
		t.Fatal(err)
	}
	tb.do("connect "+tool, chromedp.WaitVisible(chromedp.ID("epd-panel-"+slug)), chromedp.Click(chromedp.ID("epd-"+slug+"-connect")))
	var id string
	testenv.Eventually(t, startTimeout, "the tab's session", func() (bool, error) {
		var err error
		id, err = evalJS[string](tb, `(`+hooks+` || {}).sessionID || ""`)
		return id != "", err
	})
	e.endAtCleanup(t, id)
	return &toolPage{tab: tb, id: id, prefix: slug + "-", hooks: hooks, stats: hooks + ".stats",
		status: `document.querySelector("#epd-panel-` + slug + ` .tool-status").textContent`}
}

func (e *shareEnv) endAtCleanup(t *testing.T, id string) {
	t.Cleanup(func() {
		e.tech1.do(http.MethodPost, "/api/v1/sessions/"+url.PathEscape(id)+"/end", "", struct{}{}, nil)
	})
}

// typeLine types a line into the page's terminal: the text as a keyboard
// commits it (xterm.js takes it from the input event), then Enter as a
// key press.
func (p *toolPage) typeLine(text string) {
	p.t.Helper()
	p.do("focus the terminal", chromedp.Click(chromedp.ID(p.el("term"))))
	p.insertText(text)
	ctx, cancel := context.WithTimeout(p.ctx, startTimeout)
	defer cancel()
	for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeKeyDown, input.DispatchKeyEventTypeKeyUp} {
		if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, input.DispatchKeyEventParams{Type: typ, Key: "Enter", Code: "Enter",
			WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13}); err != nil {
			p.t.Fatalf("pressing Enter: %v", err)
		}
	}
}

// waitTerminal waits until the terminal's text holds every one of want.
func (p *toolPage) waitTerminal(timeout time.Duration, want ...string) string {
	p.t.Helper()
	var text string
	testenv.Eventually(p.t, timeout, fmt.Sprintf("the terminal to show %q", want), func() (bool, error) {
		var err error
		if text, err = evalJS[string](p.tab, p.hooks+`.terminalText()`); err != nil {
			return false, err
		}
		for _, w := range want {
			if !strings.Contains(text, w) {
				return false, fmt.Errorf("terminal text %q", text)
			}
		}
		return true, nil
	})
	return text
}

// desktopUserName is the name `id -un` prints for the desktop's user.
func desktopUserName(t *testing.T) string {
	uid, _ := desktopUser()
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return strconv.Itoa(uid) // no name: id -un prints the number
	}
	return u.Username
}

// TestSupportTools: support tools from the console with the real server,
// agent and headless Chromium.
func TestSupportTools(t *testing.T) {
	// systemd does not run here: the services tool speaks its D-Bus
	// interface to a fake manager on a private bus.
	bus, busAddr, err := testenv.StartSessionBus(t.TempDir(), startTimeout)
	if err != nil {
		t.Fatalf("a private D-Bus: %v", err)
	}
	t.Cleanup(func() { bus.Stop(time.Second) })
	sd, err := testenv.ServeFakeSystemd(busAddr, map[string]testenv.FakeUnit{
		"cups.service":   {Description: "CUPS Scheduler", Active: "active", Sub: "running", FileState: "enabled"},
		"backup.service": {Description: "Nightly backup", Active: "inactive", Sub: "dead", FileState: "static"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sd.Close() })
	display := startXvfb(t)
	e := startShareEnvOn(t, []string{"DISPLAY=" + display, "TETHER_SYSTEMD_BUS=" + busAddr})
	e.display = display
	tb := e.br.firstTab().on(t)

	// Acceptance 3: with the policy asking (the default), the end user's
	// prompt gates the tool; declined, nothing opens.
	t.Run("PromptGatesTheTerminal", func(t *testing.T) {
		tb := tb.on(t)
		waitNoPrompt(t, e.display)
		p := e.openTool(t, tb, protocol.ToolTerminal)
		win := waitPrompt(t, e.display, liveTimeout)
		answerPrompt(t, e.display, win, "Escape")
		e.waitEnded(t, p.id, paintTimeout, protocol.EndedDeclined)
		tb.waitViewerEnded(paintTimeout, protocol.EndedDeclined)
		if text, _ := evalJS[string](tb, `window.tetherDebug.terminalText()`); strings.TrimSpace(text) != "" {
			t.Errorf("a declined terminal showed %q", text)
		}
		waitNoPrompt(t, e.display)
	})

	// Acceptance 2 (terminal): the user's shell answers `id -un; tty`
	// from xterm.js's buffer; its transcript reaches the audit record.
	t.Run("UserTerminal", func(t *testing.T) {
		tb := tb.on(t)
		p := e.openTool(t, tb, protocol.ToolTerminal)
		answerPrompt(t, e.display, waitPrompt(t, e.display, liveTimeout), "Return")
		p.waitJSStatus(liveTimeout, "the shell to start", p.status+`.startsWith("Shell")`)
		p.typeLine("id -un; tty; echo done-$((6*7))")
		name := desktopUserName(t)
		text := p.waitTerminal(paintTimeout, "done-42", "/dev/pts/")
		if !strings.Contains(text, "\n"+name+"\n") {
			t.Errorf("the user's terminal does not show the user %q:\n%s", name, text)
		}
		tb.screenshot("terminal-user.png")
		// Acceptance 4: a 1 MB burst of output does not stall the
		// console: its end arrives, and the shell answers after it.
		p.typeLine("head -c 1000000 /dev/zero | tr '\\0' x; echo; echo burst-$((5*5))")
		p.waitTerminal(liveTimeout, "burst-25")
		p.typeLine("echo still-$((8*8))")
		p.waitTerminal(paintTimeout, "still-64")
		// Reconnection after a drop: the same shell goes on.
		p.typeLine("KEPT=kept-$((6*7)); echo set")
		p.waitTerminal(paintTimeout, "\nset\n")
		if _, err := evalJS[bool](tb, `(window.tetherDebug.dropConnection(), true)`); err != nil {
			t.Fatal(err)
		}
		p.waitTerminal(liveTimeout, "[connection back]")
		p.typeLine("echo got-$KEPT")
		p.waitTerminal(paintTimeout, "got-kept-42")
		if err := e.tech1.do(http.MethodPost, "/api/v1/sessions/"+url.PathEscape(p.id)+"/end", "", struct{}{}, nil); err != nil {
			t.Fatalf("end: %v", err)
		}
		e.waitEnded(t, p.id, paintTimeout, protocol.EndedByTechnician)
		// The transcript arrives as the session's helper ends.
		var got protocol.Session
		testenv.Eventually(t, paintTimeout, "the transcript to be stored", func() (bool, error) {
			var err error
			got, err = e.session(p.id)
			return err == nil && got.Transcript != nil, fmt.Errorf("session %+v, %v", got, err)
		})
		tr, err := evalJS[string](tb, `fetch("/api/v1/sessions/`+p.id+`/transcript").then((r) => r.text())`)
		if err != nil || !strings.Contains(tr, "done-42") || !strings.Contains(tr, "/dev/pts/") {
			t.Errorf("transcript %q, %v: want the shell's output", tr, err)
		}
	})

	// The root shell runs in the service; the desktop's user is asked
	// through the helper, and the shell is root's.
	t.Run("RootTerminal", func(t *testing.T) {
		if !asDesktopUser() {
			t.Skip("the agent service runs as root only when the tests do")
		}
		tb := tb.on(t)
		waitNoPrompt(t, e.display)
		p := e.openToolTab(t, tb, protocol.ToolTerminalSystem)
		answerPrompt(t, e.display, waitPrompt(t, e.display, liveTimeout), "Return")
		p.waitJSStatus(liveTimeout, "the root shell to start", p.status+`.startsWith("Shell")`)
		p.typeLine("id -un; tty; echo root-$((6*7))")
		text := p.waitTerminal(paintTimeout, "root-42", "/dev/pts/")
		if !strings.Contains(text, "\nroot\n") {
			t.Errorf("the root terminal does not show root:\n%s", text)
		}
		tb.screenshot("terminal-root.png")
		tb.do("disconnect", chromedp.Click(chromedp.ID("epd-terminal-system-disconnect")))
		e.waitEnded(t, p.id, paintTimeout, protocol.EndedByTechnician)
		testenv.Eventually(t, paintTimeout, "the root shell's transcript to be stored", func() (bool, error) {
			got, err := e.session(p.id)
			return err == nil && got.Transcript != nil, fmt.Errorf("session %+v, %v", got, err)
		})
	})

	// Acceptance 2 (processes): a sleep 600 is ended from the Processes
	// tab, with the page's confirmation, and is gone; the end is audited.
	t.Run("Processes", func(t *testing.T) {
		if !asDesktopUser() {
			t.Skip("the processes tool runs in the agent service, as root only when the tests do")
		}
		tb := tb.on(t)
		cmd := exec.Command("sleep", "600")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		gone := make(chan struct{})
		go func() { cmd.Wait(); close(gone) }()
		t.Cleanup(func() { cmd.Process.Kill() })
		pid := strconv.Itoa(cmd.Process.Pid)
		waitNoPrompt(t, e.display)
		p := e.openToolTab(t, tb, protocol.ToolProcesses)
		answerPrompt(t, e.display, waitPrompt(t, e.display, liveTimeout), "Return")
		row := `#` + p.el("admin") + ` tr[data-pid="` + pid + `"]`
		tb.waitJS(liveTimeout, "sleep 600 in the list", `document.querySelector('`+row+`')`)
		tb.do("filter", chromedp.SendKeys(chromedp.ID(p.el("admin-filter")), "sleep 600"))
		tb.waitJS(paintTimeout, "the filter to keep sleep", `document.querySelectorAll("#`+p.el("admin")+` tbody tr").length >= 1 && document.querySelector('`+row+`')`)
		tb.screenshot("tools-processes.png")
		tb.do("end it", chromedp.Click(chromedp.CSS(row+` button.end`)), chromedp.WaitVisible(chromedp.ID("confirm-ok")), chromedp.Click(chromedp.ID("confirm-ok")))
		select {
		case <-gone:
		case <-time.After(paintTimeout):
			t.Fatal("sleep 600 still runs after End")
		}
		p.waitJSStatus(paintTimeout, "the row to go", `!document.querySelector('`+row+`')`)
		e.waitAudit(t, "tool.action", p.id, pid)
		// Closing the console ends the tab's session.
		tb.do("leave the console", chromedp.Navigate("about:blank"))
		e.waitEnded(t, p.id, paintTimeout, protocol.EndedByTechnician)
	})

	// Acceptance 2 (services): a unit is stopped and started from the
	// Services tab, through systemd's D-Bus interface.
	t.Run("Services", func(t *testing.T) {
		if !asDesktopUser() {
			t.Skip("the services tool runs in the agent service, as root only when the tests do")
		}
		tb := tb.on(t)
		waitNoPrompt(t, e.display)
		p := e.openTool(t, tb, protocol.ToolServices)
		answerPrompt(t, e.display, waitPrompt(t, e.display, liveTimeout), "Return")
		row := `#admin tr[data-service="cups.service"]`
		tb.waitJS(liveTimeout, "cups in the list", `(document.querySelector('`+row+`') || {}).textContent?.includes("active / running")`)
		tb.do("stop cups", chromedp.Click(chromedp.CSS(row+` button.svc-stop`)), chromedp.WaitVisible(chromedp.ID("confirm-ok")), chromedp.Click(chromedp.ID("confirm-ok")))
		p.waitJSStatus(paintTimeout, "cups stopped", `document.querySelector('`+row+`').textContent.includes("inactive / dead")`)
		tb.screenshot("tools-services.png")
		tb.do("start cups", chromedp.Click(chromedp.CSS(row+` button.svc-start`)), chromedp.WaitVisible(chromedp.ID("confirm-ok")), chromedp.Click(chromedp.ID("confirm-ok")))
		p.waitJSStatus(paintTimeout, "cups running", `document.querySelector('`+row+`').textContent.includes("active / running")`)
		if got := strings.Join(sd.Calls(), ", "); got != "StopUnit cups.service, StartUnit cups.service" {
			t.Errorf("systemd was asked: %s", got)
		}
	})

	// Acceptance 2 (files): a 20 MB file downloaded from the Files tab
	// has the file's SHA-256; one uploaded lands as sent; ../ and link
	// escapes are refused. The files tool acts as the desktop's user:
	// a file only root reads is refused to it.
	t.Run("Files", func(t *testing.T) {
		tb := tb.on(t)
		dir := userDir(t)
		big := make([]byte, 20<<20)
		if _, err := rand.Read(big); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/etc", filepath.Join(dir, "etc-link")); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(big)
		waitNoPrompt(t, e.display)
		p := e.openToolTab(t, tb, protocol.ToolFiles)
		answerPrompt(t, e.display, waitPrompt(t, e.display, liveTimeout), "Return")
		p.waitJSStatus(liveTimeout, "the roots listed", `document.querySelector("#`+p.el("files-table")+` tbody")`)
		tb.do("open the test's folder", chromedp.SetValue(chromedp.ID(p.el("files-path")), dir), chromedp.Click(chromedp.ID(p.el("files-go"))))
		row := `#` + p.el("files-table") + ` tr[data-name="big.bin"]`
		p.waitJSStatus(paintTimeout, "big.bin listed", `document.querySelector('`+row+`')`)
		tb.screenshot("tools-files.png")
		tb.do("download big.bin", chromedp.Click(chromedp.CSS(row+` button.download`)))
		p.waitJSStatus(liveTimeout, "the download", p.stats+`.downloads && `+p.stats+`.downloads.length === 1`)
		got, err := evalJS[string](tb, p.hooks+`.downloadSHA256(0)`)
		if err != nil || got != hex.EncodeToString(sum[:]) {
			t.Errorf("downloaded SHA-256 %q (%v), want %x", got, err, sum)
		}

		up := filepath.Join(t.TempDir(), "from-the-technician.txt")
		upData := []byte("uploaded from the console\n")
		if err := os.WriteFile(up, upData, 0o644); err != nil {
			t.Fatal(err)
		}
		tb.do("upload", chromedp.SetUploadFiles(chromedp.ID(p.el("files-upload")), []string{up}))
		testenv.Eventually(t, paintTimeout, "the upload on the endpoint", func() (bool, error) {
			b, err := os.ReadFile(filepath.Join(dir, "from-the-technician.txt"))
			return err == nil && bytes.Equal(b, upData), fmt.Errorf("%q, %v", b, err)
		})
		e.waitAudit(t, "tool.action", "", filepath.Join(dir, "from-the-technician.txt"))

		bad := []struct{ path, want string }{
			{dir + "/../", `".."`},
			{dir + "/etc-link/", "symbolic link"},
			{dir + "/etc-link/passwd", "symbolic link"},
		}
		if asDesktopUser() {
			// The helper's user reads what that user may, no more.
			if err := os.WriteFile(filepath.Join(dir, "root-only"), []byte("secret"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(dir, "root-only-dir"), 0o700); err != nil {
				t.Fatal(err)
			}
			bad = append(bad, struct{ path, want string }{dir + "/root-only", "permission denied"},
				struct{ path, want string }{dir + "/root-only-dir", "permission denied"})
		}
		for _, bad := range bad {
			for _, op := range []string{"files.list", "files.download"} {
				if strings.HasSuffix(bad.path, "/root-only") && op == "files.list" {
					continue // a file: not a folder to list
				}
				msg, err := evalJS[string](tb, p.hooks+`.adminRequest(`+jsonString(op)+`, {path: `+jsonString(bad.path)+`}).then((r) => r.error || "")`)
				if err != nil || !strings.Contains(msg, bad.want) {
					t.Errorf("%s %s: %q, %v: want refused (%s)", op, bad.path, msg, err, bad.want)
				}
			}
		}
		// Leaving the endpoint page ends the tab's session.
		tb.goTo(e.s.url, "endpoints", "endpoints")
		e.waitEnded(t, p.id, paintTimeout, protocol.EndedByTechnician)
	})

	// Files as the system (root) read what only root may.
	t.Run("RootFiles", func(t *testing.T) {
		if !asDesktopUser() {
			t.Skip("the root files tool runs in the agent service, as root only when the tests do")
		}
		tb := tb.on(t)
		dir := t.TempDir()
		secret := []byte("only root reads this\n")
		if err := os.WriteFile(filepath.Join(dir, "root-only"), secret, 0o600); err != nil {
			t.Fatal(err)
		}
		waitNoPrompt(t, e.display)
		p := e.openTool(t, tb, protocol.ToolFilesSystem)
		answerPrompt(t, e.display, waitPrompt(t, e.display, liveTimeout), "Return")
		p.waitJSStatus(liveTimeout, "the roots listed", `document.querySelector("#files-table tbody")`)
		tb.do("open the test's folder", chromedp.SetValue(chromedp.ID("files-path"), dir), chromedp.Click(chromedp.ID("files-go")))
		row := `#files-table tr[data-name="root-only"]`
		p.waitJSStatus(paintTimeout, "root-only listed", `document.querySelector('`+row+`')`)
		tb.do("download root-only", chromedp.Click(chromedp.CSS(row+` button.download`)))
		p.waitJSStatus(liveTimeout, "the download", `window.tetherStats.downloads && window.tetherStats.downloads.length === 1`)
		sum := sha256.Sum256(secret)
		if got, err := evalJS[string](tb, `window.tetherDebug.downloadSHA256(0)`); err != nil || got != hex.EncodeToString(sum[:]) {
			t.Errorf("downloaded SHA-256 %q (%v), want %x", got, err, sum)
		}
	})

	// Acceptance 1 in the browser's terms: a Screen Sharing Agent is
	// refused every tool by the server and shown no tool buttons.
	t.Run("AgentRoleRefused", func(t *testing.T) {
		if err := e.s.api.do(http.MethodPost, "/api/v1/users", "", protocol.CreateUserRequest{Name: "sam-tools", Password: "sam-tools password",
			Roles: []string{perm.RoleScreenShareAgent}}, nil); err != nil {
			t.Fatalf("create user: %v", err)
		}
		sam := e.s.userClient("sam-tools", "sam-tools password")
		for _, tool := range protocol.Tools {
			err := sam.do(http.MethodPost, "/api/v1/endpoints/"+url.PathEscape(e.ep.ID)+"/tools", "", protocol.CreateToolSessionRequest{Tool: tool}, nil)
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
				t.Errorf("a Screen Sharing Agent opening %s: %v, want 403", tool, err)
			}
		}
		other := e.br.newProfileTab(t)
		other.signIn(e.s.url, "sam-tools", "sam-tools password")
		other.goTo(e.s.url, "endpoints/"+e.ep.ID, "endpoint")
		other.waitJS(startTimeout, "the endpoint page", `document.querySelector("#endpoint .actions-bar")`)
		if other.present("button.tool") {
			t.Error("the endpoint page shows tool buttons to a Screen Sharing Agent")
		}
		tb.goTo(e.s.url, "endpoints/"+e.ep.ID, "endpoint")
		tb.waitJS(startTimeout, "the terminal buttons for an administrator", `document.getElementById("epd-tool-terminal") && document.getElementById("epd-tool-terminal-system")`)
	})
}

// waitAudit waits for an audit record of typ about session id whose
// details mention want.
func (e *shareEnv) waitAudit(t *testing.T, typ, id, want string) {
	t.Helper()
	testenv.Eventually(t, paintTimeout, typ+" audited", func() (bool, error) {
		var out struct{ Records []protocol.AuditRecord }
		if err := e.s.api.do(http.MethodGet, "/api/v1/audit?type="+url.QueryEscape(typ), "", nil, &out); err != nil {
			return false, err
		}
		for _, r := range out.Records {
			if (id == "" || r.SessionID == id) && strings.Contains(string(r.Details), want) {
				return true, nil
			}
		}
		return false, fmt.Errorf("%d %s records, none of session %s with %q", len(out.Records), typ, id, want)
	})
}

// waitJSStatus is waitJS that says, when it times out, what the tool's
// status line said.
func (p *toolPage) waitJSStatus(timeout time.Duration, what, expr string) {
	p.t.Helper()
	testenv.Eventually(p.t, timeout, what, func() (bool, error) {
		ok, err := evalJS[bool](p.tab, "!!("+expr+")")
		if err != nil || ok {
			return ok, err
		}
		status, _ := evalJS[string](p.tab, p.status)
		return false, fmt.Errorf("the tool says %q", status)
	})
}
