//go:build linux

package e2e

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/tetherdesk/tether/internal/testenv"
)

// TestInstallerFromConsole is the IT person's path: the agent's release is
// added to the server with `tether-server release add`, a technician
// creates an enrollment token in the console and clicks "Debian / Ubuntu
// (.deb)"; the package the browser saves is installed with dpkg into a
// throw-away root, carries the server and the token, and the agent it
// installed enrolls and shows online; dpkg --purge then leaves nothing.
//
// The root is a dpkg database of its own (dpkg --root), not a whole
// Debian: the package's maintainer scripts run without chroot and honour
// DPKG_ROOT, and its library dependencies are forced, as the root has
// none of them.
func TestInstallerFromConsole(t *testing.T) {
	s := startServer(t)
	keys := t.TempDir()
	runServerCmd(t, "release", "keygen", "--out", keys)
	runServerCmd(t, "release", "add", "--data", s.data, "--version", "v0.9.0-e2e", "--key", filepath.Join(keys, "release.key"),
		"--file", "linux/amd64="+bins.agent)

	tb := startBrowser(t).firstTab()
	tb.signIn(s.url, "admin", adminPassword(t, s))
	downloads := t.TempDir()
	tb.do("allow downloads", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
		return err
	}))
	tb.goTo(s.url, "settings/tokens", "settings")
	tb.waitJS(startTimeout, "the tokens tab", `document.getElementById("token-group") && document.getElementById("token-group").options.length > 0`)
	tb.do("create an enrollment token", chromedp.Click(chromedp.CSS(`#token-form button[type="submit"]`)))
	tb.waitJS(startTimeout, "the download buttons", `document.getElementById("download-deb")`)
	if ps := tb.text("#powershell-command"); !strings.HasPrefix(ps, "msiexec.exe /i tether-agent.msi /qn SERVER_URL='"+s.url+"' ENROLL_TOKEN='tet_") {
		t.Errorf("PowerShell command %q", ps)
	}
	tb.do("download the .deb", chromedp.Click(chromedp.ID("download-deb")))
	tb.waitJS(startTimeout, "the download to finish", `document.getElementById("installer-status").textContent.startsWith("Downloaded ")`)
	tb.screenshot("console-installer-download.png")
	var deb string
	testenv.Eventually(t, startTimeout, "the .deb in the download folder", func() (bool, error) {
		m, _ := filepath.Glob(filepath.Join(downloads, "tether-agent_*_amd64.deb"))
		if len(m) == 1 {
			deb = m[0]
		}
		return deb != "", nil
	})

	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dpkg(t, root, "--force-depends", "-i", deb)

	conf := filepath.Join(root, "etc/tether/agent.yaml")
	body, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`server: "` + s.url + `"`, `token: "tet_`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the installed agent.yaml lacks %s:\n%s", want, body)
		}
	}
	if fi, err := os.Stat(conf); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("agent.yaml mode %v (%v), want 0600: it holds the token", fi.Mode(), err)
	}

	// The agent as installed, with the config as installed.
	state := filepath.Join(root, "var/lib/tether-agent")
	cmd := exec.Command(filepath.Join(root, "usr/bin/tether-agent"), "run", "--config", conf, "--state", state, "--log-format", "json")
	a := startCmd(t, "tether-agent (installed)", cmd)
	waitEndpoint(t, s.api, hostname(t))
	a.stop(t)

	dpkg(t, root, "--purge", "tether-agent")
	var left []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		if strings.HasPrefix(rel, filepath.Join("var", "lib", "dpkg")) {
			return nil // dpkg's own database
		}
		if !d.IsDir() {
			left = append(left, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("dpkg --purge left %v", left)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("the agent's state is still there after purge: %v", err)
	}
}

// dpkg runs dpkg on the throw-away root, maintainer scripts without chroot.
func dpkg(t *testing.T, root string, args ...string) {
	t.Helper()
	all := append([]string{"--root=" + root, "--force-script-chrootless", "--force-not-root", "--log=/dev/null"}, args...)
	if out, err := exec.Command("dpkg", all...).CombinedOutput(); err != nil {
		t.Fatalf("dpkg %s: %v\n%s", strings.Join(all, " "), err, out)
	}
}

// runServerCmd runs one of tether-server's offline commands.
func runServerCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(bins.server, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tether-server %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
