package installer

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/tetherdesk/tether/installer/installertest"
	"github.com/tetherdesk/tether/internal/testenv"
)

// arMembers reads an ar archive (a .deb) into its members, in order.
func arMembers(t *testing.T, b []byte) (names []string, bodies map[string][]byte) {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("!<arch>\n")) {
		t.Fatal("not an ar archive")
	}
	bodies = map[string][]byte{}
	for off := 8; off+60 <= len(b); {
		h := b[off : off+60]
		name := strings.TrimRight(strings.TrimSpace(string(h[:16])), "/")
		size, err := strconv.Atoi(strings.TrimSpace(string(h[48:58])))
		if err != nil || off+60+size > len(b) {
			t.Fatalf("ar member %q: bad size", name)
		}
		names = append(names, name)
		bodies[name] = b[off+60 : off+60+size]
		off += 60 + size + size%2
	}
	return names, bodies
}

// TestPackagesSigned: with a GPG key the .rpm verifies with rpm itself
// against the imported public key, and the .deb's _gpgorigin signature
// verifies over its members; one flipped byte fails both. Without a key,
// neither carries a signature.
func TestPackagesSigned(t *testing.T) {
	private, public, keyring := installertest.GPGKey(t)
	p := Linux{Component: Agent, Version: "v1.0.0", Arch: "amd64", Binary: stubBinary(t, "tether-agent"), GPGKey: private}

	t.Run("rpm", func(t *testing.T) {
		rpm := buildPackage(t, p, RPM)
		db := t.TempDir()
		run(t, "rpm", "--dbpath", db, "--import", public)
		if out := run(t, "rpm", "--dbpath", db, "-K", rpm); !strings.Contains(out, "digests signatures OK") {
			t.Errorf("rpm -K: %s", out)
		}
		b, _ := os.ReadFile(rpm)
		b[len(b)-100] ^= 0xff
		bad := filepath.Join(t.TempDir(), "bad.rpm")
		os.WriteFile(bad, b, 0o644)
		if out, err := exec.Command("rpm", "--dbpath", db, "-K", bad).CombinedOutput(); err == nil {
			t.Errorf("a flipped byte passed rpm -K: %s", out)
		}
		unsigned := buildPackage(t, Linux{Component: Agent, Version: "v1.0.0", Arch: "amd64", Binary: p.Binary}, RPM)
		if out := run(t, "rpm", "--dbpath", db, "-K", unsigned); strings.Contains(out, "signatures") {
			t.Errorf("an unsigned rpm claims a signature: %s", out)
		}
	})
	t.Run("deb", func(t *testing.T) {
		deb := buildPackage(t, p, Deb)
		b, _ := os.ReadFile(deb)
		names, bodies := arMembers(t, b)
		if len(names) != 4 || names[3] != "_gpgorigin" {
			t.Fatalf("deb members %v, want debian-binary, control, data, _gpgorigin", names)
		}
		signed := bytes.Join([][]byte{bodies[names[0]], bodies[names[1]], bodies[names[2]]}, nil)
		if _, err := openpgp.CheckArmoredDetachedSignature(keyring, bytes.NewReader(signed), bytes.NewReader(bodies["_gpgorigin"]), nil); err != nil {
			t.Errorf("the deb's signature: %v", err)
		}
		signed[len(signed)/2] ^= 1
		if _, err := openpgp.CheckArmoredDetachedSignature(keyring, bytes.NewReader(signed), bytes.NewReader(bodies["_gpgorigin"]), nil); err == nil {
			t.Error("a flipped byte verified")
		}
		unsigned, _ := os.ReadFile(buildPackage(t, Linux{Component: Agent, Version: "v1.0.0", Arch: "amd64", Binary: p.Binary}, Deb))
		if names, _ := arMembers(t, unsigned); len(names) != 3 {
			t.Errorf("an unsigned deb has members %v", names)
		}
	})
}

// TestAuthenticode signs a Windows executable and an MSI with osslsigncode
// and verifies both against the certificate; a flipped byte fails.
func TestAuthenticode(t *testing.T) {
	cert, key := installertest.CodeSigningCert(t)
	a := Authenticode{Cert: cert, Key: key}
	dir := t.TempDir()
	exe := filepath.Join(dir, "tether-pkg.exe")
	build := exec.Command(testenv.GoTool(), "build", "-o", exe, "./cmd/tether-pkg")
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building a Windows executable: %v\n%s", err, out)
	}
	msi := filepath.Join(dir, "tether-agent.msi")
	if err := (MSI{Version: "v1.0.0", Binary: exe}).Build(t.Context(), msi); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{exe, msi} {
		if out, err := exec.Command("osslsigncode", "verify", "-CAfile", cert, "-in", f).CombinedOutput(); err == nil {
			t.Errorf("%s verified before it was signed:\n%s", filepath.Base(f), out)
		}
		if err := a.Sign(t.Context(), f); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("osslsigncode", "verify", "-CAfile", cert, "-in", f).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Signature verification: ok") {
			t.Errorf("%s: osslsigncode verify: %v\n%s", filepath.Base(f), err, out)
		}
		b, _ := os.ReadFile(f)
		b[len(b)/3] ^= 0xff
		bad := f + ".bad"
		os.WriteFile(bad, b, 0o644)
		if out, err := exec.Command("osslsigncode", "verify", "-CAfile", cert, "-in", bad).CombinedOutput(); err == nil {
			t.Errorf("%s with a flipped byte verified:\n%s", filepath.Base(f), out)
		}
	}
}

// TestStampResigns: stamping a signed MSI without a signer removes the
// signature that no longer matches; with one, the stamped MSI verifies.
func TestStampResigns(t *testing.T) {
	cert, key := installertest.CodeSigningCert(t)
	a := &Authenticode{Cert: cert, Key: key}
	msi := filepath.Join(t.TempDir(), "tether-agent.msi")
	if err := (MSI{Version: "v1.0.0", Binary: stubBinary(t, "tether-agent.exe")}).Build(t.Context(), msi); err != nil {
		t.Fatal(err)
	}
	if err := a.Sign(t.Context(), msi); err != nil {
		t.Fatal(err)
	}
	props := map[string]string{PropServer: "https://tether.example:8443"}
	verify := func() error {
		return exec.Command("osslsigncode", "verify", "-CAfile", cert, "-in", msi).Run()
	}
	if err := Stamp(t.Context(), msi, props, a); err != nil {
		t.Fatal(err)
	}
	if err := verify(); err != nil {
		t.Errorf("stamped and signed anew, it does not verify: %v", err)
	}
	if err := Stamp(t.Context(), msi, props, nil); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "msiinfo", "streams", msi); strings.Contains(out, "DigitalSignature") {
		t.Errorf("stamped without a signer, it still carries a signature: %s", out)
	}
}
