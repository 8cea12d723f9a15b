package api_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/installer"
	"github.com/tetherdesk/tether/installer/installertest"
	"github.com/tetherdesk/tether/server/app"
	"github.com/tetherdesk/tether/server/releases"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
	"github.com/tetherdesk/tether/shared/release"
)

const testPublicURL = "https://tether.example:8443"

// withInstallers gives the service a public URL and a release store with a
// Linux agent (a stub: the packages do not look inside it) and a Windows
// MSI built by wixl around a stub .exe.
func withInstallers(t *testing.T) envOpt {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "tether-agent")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho agent\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "tether-agent.exe")
	if err := os.WriteFile(exe, []byte("MZ stub"), 0o644); err != nil {
		t.Fatal(err)
	}
	msi := filepath.Join(dir, "tether-agent.msi")
	if err := (installer.MSI{Version: "v1.2.0", Binary: exe}).Build(context.Background(), msi); err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	rs := releases.Open(filepath.Join(dir, "releases"))
	_, err := rs.Add("v1.2.0", []releases.Input{
		{OS: "linux", Arch: "amd64", Kind: release.KindBinary, Path: bin},
		{OS: "windows", Arch: "amd64", Kind: release.KindMSI, Path: msi},
	}, key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return func(c *app.Config) {
		c.PublicURL = testPublicURL
		c.Fingerprint = "ab:cd:ef"
		c.Releases = rs
	}
}

// TestInstallerDownload downloads each format as the console's button
// does and reads the package back: the server, the token and the
// fingerprint are in it, and the download is audited.
func TestInstallerDownload(t *testing.T) {
	e := newEnv(t, withInstallers(t))
	admin := e.user("root", perm.RoleAdministrator)
	var tok protocol.EnrollmentToken
	mustDo(t, admin, "POST", "/api/v1/enrollment-tokens", protocol.CreateTokenRequest{}, &tok, 201)
	if !strings.Contains(tok.PowerShellCommand, "ENROLL_TOKEN='"+tok.Token+"'") {
		t.Errorf("PowerShell command %q", tok.PowerShellCommand)
	}
	path := "/api/v1/enrollment-tokens/" + tok.ID + "/installer"

	t.Run("deb", func(t *testing.T) {
		deb := fetchInstaller(t, admin, path, protocol.InstallerDeb, tok.Token, filepath.Join(t.TempDir(), "agent.deb"))
		root := t.TempDir()
		if out, err := exec.Command("dpkg-deb", "-x", deb, root).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb: %v %s", err, out)
		}
		conf, err := os.ReadFile(filepath.Join(root, "etc/tether/agent.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`server: "` + testPublicURL + `"`, `token: "` + tok.Token + `"`, `fingerprint: "ab:cd:ef"`} {
			if !strings.Contains(string(conf), want) {
				t.Errorf("agent.yaml lacks %s:\n%s", want, conf)
			}
		}
	})
	t.Run("rpm", func(t *testing.T) {
		rpm := fetchInstaller(t, admin, path, protocol.InstallerRPM, tok.Token, filepath.Join(t.TempDir(), "agent.rpm"))
		out, err := exec.Command("rpm", "-qp", "--queryformat", "%{NAME} %{VERSION}", rpm).CombinedOutput()
		if err != nil || string(out) != "tether-agent 1.2.0" {
			t.Errorf("rpm -qp: %q %v", out, err)
		}
	})
	t.Run("msi", func(t *testing.T) {
		msi := fetchInstaller(t, admin, path, protocol.InstallerMSI, tok.Token, filepath.Join(t.TempDir(), "agent.msi"))
		out, err := exec.Command("msiinfo", "export", msi, "Property").CombinedOutput()
		if err != nil {
			t.Fatalf("msiinfo: %v %s", err, out)
		}
		if out, _ := exec.Command("msiinfo", "streams", msi).CombinedOutput(); strings.Contains(string(out), "DigitalSignature") {
			t.Errorf("an unsigned server's MSI carries a signature: %s", out)
		}
		for _, want := range []string{"SERVER_URL\t" + testPublicURL, "ENROLL_TOKEN\t" + tok.Token, "FINGERPRINT\tab:cd:ef"} {
			if !strings.Contains(string(out), want+"\n") && !strings.Contains(string(out), want+"\r\n") {
				t.Errorf("Property table lacks %q:\n%s", want, out)
			}
		}
	})

	var list struct{ Records []protocol.AuditRecord }
	mustDo(t, admin, "GET", "/api/v1/audit?type=installer.downloaded", nil, &list, 200)
	recs := list.Records
	if len(recs) != 3 {
		t.Fatalf("%d installer.downloaded records, want 3: %+v", len(recs), recs)
	}
	for _, r := range recs {
		if r.Actor != "root" || !strings.Contains(string(r.Details), tok.ID) || !strings.Contains(string(r.Details), "v1.2.0") || strings.Contains(string(r.Details), tok.Token) {
			t.Errorf("audit record %+v: want the actor, token id and version, never the token", r)
		}
	}
}

// TestInstallerRefusals: bad input gets a clear error and builds nothing.
func TestInstallerRefusals(t *testing.T) {
	e := newEnv(t, withInstallers(t))
	admin := e.user("root", perm.RoleAdministrator)
	var tok, other protocol.EnrollmentToken
	mustDo(t, admin, "POST", "/api/v1/enrollment-tokens", protocol.CreateTokenRequest{}, &tok, 201)
	mustDo(t, admin, "POST", "/api/v1/enrollment-tokens", protocol.CreateTokenRequest{}, &other, 201)
	path := "/api/v1/enrollment-tokens/" + tok.ID + "/installer"
	tests := []struct {
		name   string
		path   string
		body   any
		status int
		want   string
	}{
		{"another token's secret", path, protocol.InstallerRequest{Format: "deb", Token: other.Token}, 400, "is not the enrollment token"},
		{"no token", path, protocol.InstallerRequest{Format: "deb"}, 400, "is not the enrollment token"},
		{"unknown format", path, protocol.InstallerRequest{Format: "apk", Token: tok.Token}, 400, "format must be deb, rpm or msi"},
		{"unknown id", "/api/v1/enrollment-tokens/nope/installer", protocol.InstallerRequest{Format: "deb", Token: tok.Token}, 404, "not found"},
		{"malformed body", path, `{"format":`, 400, "malformed JSON"},
		{"unknown field", path, `{"format":"deb","token":"x","extra":1}`, 400, "unknown field"},
	}
	for _, tc := range tests {
		if st := admin.do("POST", tc.path, tc.body, nil); st != tc.status || !strings.Contains(admin.apiError().Error, tc.want) {
			t.Errorf("%s: %d %s, want %d saying %q", tc.name, st, admin.last, tc.status, tc.want)
		}
	}
	mustDo(t, admin, "POST", "/api/v1/enrollment-tokens/"+tok.ID+"/revoke", nil, nil, 200)
	if st := admin.do("POST", path, protocol.InstallerRequest{Format: "deb", Token: tok.Token}, nil); st != 400 || !strings.Contains(admin.apiError().Error, "revoked") {
		t.Errorf("revoked token: %d %s", st, admin.last)
	}

	// A server with no Windows release says so.
	e2 := newEnv(t, withInstallers(t), func(c *app.Config) {
		c.Releases = releases.Open(t.TempDir())
	})
	admin2 := e2.user("root", perm.RoleAdministrator)
	var tok2 protocol.EnrollmentToken
	mustDo(t, admin2, "POST", "/api/v1/enrollment-tokens", protocol.CreateTokenRequest{}, &tok2, 201)
	if st := admin2.do("POST", "/api/v1/enrollment-tokens/"+tok2.ID+"/installer", protocol.InstallerRequest{Format: "msi", Token: tok2.Token}, nil); st != 404 || !strings.Contains(admin2.apiError().Error, "release add") {
		t.Errorf("no release: %d %s", st, admin2.last)
	}
	var list struct{ Records []protocol.AuditRecord }
	mustDo(t, admin, "GET", "/api/v1/audit?type=installer.downloaded", nil, &list, 200)
	recs := list.Records
	if len(recs) != 0 {
		t.Errorf("refused downloads were audited as downloads: %+v", recs)
	}
}

// TestInstallerDownloadSigned: with signing keys configured, the .rpm the
// console downloads verifies with rpm against the public key, and the
// stamped .msi verifies with osslsigncode; without keys they carry no
// signature (TestInstallerDownload's packages).
func TestInstallerDownloadSigned(t *testing.T) {
	gpgKey, gpgPub, _ := installertest.GPGKey(t)
	cert, key := installertest.CodeSigningCert(t)
	e := newEnv(t, withInstallers(t), func(c *app.Config) {
		c.Signing = installer.Signing{GPGKey: gpgKey, Authenticode: &installer.Authenticode{Cert: cert, Key: key}}
	})
	admin := e.user("root", perm.RoleAdministrator)
	var tok protocol.EnrollmentToken
	mustDo(t, admin, "POST", "/api/v1/enrollment-tokens", protocol.CreateTokenRequest{}, &tok, 201)
	path := "/api/v1/enrollment-tokens/" + tok.ID + "/installer"
	dir := t.TempDir()

	rpm := fetchInstaller(t, admin, path, protocol.InstallerRPM, tok.Token, filepath.Join(dir, "agent.rpm"))
	db := t.TempDir()
	if out, err := exec.Command("rpm", "--dbpath", db, "--import", gpgPub).CombinedOutput(); err != nil {
		t.Fatalf("rpm --import: %v %s", err, out)
	}
	if out, err := exec.Command("rpm", "--dbpath", db, "-K", rpm).CombinedOutput(); err != nil || !strings.Contains(string(out), "digests signatures OK") {
		t.Errorf("rpm -K: %v %s", err, out)
	}

	msi := fetchInstaller(t, admin, path, protocol.InstallerMSI, tok.Token, filepath.Join(dir, "agent.msi"))
	if out, err := exec.Command("osslsigncode", "verify", "-CAfile", cert, "-in", msi).CombinedOutput(); err != nil || !strings.Contains(string(out), "Signature verification: ok") {
		t.Errorf("osslsigncode verify: %v %s", err, out)
	}
}

// fetchInstaller downloads an installer as the console's button does and
// saves it at to.
func fetchInstaller(t *testing.T, c *client, path, format, token, to string) string {
	t.Helper()
	if st := c.do("POST", path, protocol.InstallerRequest{Format: format, Token: token}, nil); st != 200 {
		t.Fatalf("%s: status %d: %s", format, st, c.last)
	}
	if err := os.WriteFile(to, c.last, 0o644); err != nil {
		t.Fatal(err)
	}
	return to
}
