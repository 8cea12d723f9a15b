package tlsutil

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadOrCreateKeepsCertificate(t *testing.T) {
	dir := t.TempDir()
	c1, err := LoadOrCreate(dir, []string{"tether.example", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := LoadOrCreate(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if Fingerprint(c1) != Fingerprint(c2) || len(Fingerprint(c1)) != 64 {
		t.Fatalf("fingerprint changed or malformed: %q vs %q", Fingerprint(c1), Fingerprint(c2))
	}
	leaf, err := x509.ParseCertificate(c1.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("tether.example"); err != nil {
		t.Errorf("extra DNS name missing: %v", err)
	}
	if err := leaf.VerifyHostname("192.0.2.7"); err != nil {
		t.Errorf("extra IP missing: %v", err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode = %v, want 0600", st.Mode().Perm())
	}
}

func TestPretty(t *testing.T) {
	if got := Pretty("ab01ff"); got != "AB:01:FF" {
		t.Fatalf("Pretty = %q", got)
	}
}
