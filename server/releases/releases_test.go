package releases

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/shared/release"
)

func writeTemp(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAddListOpen(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	pub := key.Public().(ed25519.PublicKey)
	s := Open(t.TempDir())
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	linux := writeTemp(t, "tether-agent", "linux build A")
	exe := writeTemp(t, "tether-agent.exe", "windows build A")
	r, err := s.Add("v1.0.0", []Input{{"linux", "amd64", release.KindBinary, linux}, {"windows", "amd64", release.KindBinary, exe}}, key, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Files {
		if err := release.Verify(pub, "v1.0.0", f); err != nil {
			t.Errorf("%s: %v", f.Name, err)
		}
	}
	if _, err := s.Add("v1.1.0", []Input{{"linux", "amd64", release.KindBinary, writeTemp(t, "tether-agent", "linux build B")}}, key, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The newest with a Linux binary is v1.1.0; with a Windows one, v1.0.0.
	if got, _, err := s.Latest("linux", "amd64", release.KindBinary); err != nil || got.Version != "v1.1.0" {
		t.Errorf("latest linux: %s %v", got.Version, err)
	}
	got, f, err := s.Latest("windows", "amd64", release.KindBinary)
	if err != nil || got.Version != "v1.0.0" {
		t.Fatalf("latest windows: %s %v", got.Version, err)
	}
	file, err := s.OpenFile(got.Version, f)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(file)
	file.Close()
	if string(body) != "windows build A" {
		t.Errorf("file body %q", body)
	}
	if _, _, err := s.Latest("darwin", "arm64", release.KindBinary); !errors.Is(err, ErrNone) {
		t.Errorf("no darwin release: %v", err)
	}
	all, err := s.List()
	if err != nil || len(all) != 2 || all[0].Version != "v1.1.0" {
		t.Errorf("list: %+v %v", all, err)
	}

	// A file changed on disk after it was added is refused.
	if err := os.WriteFile(filepath.Join(s.dir, "v1.0.0", f.Name), []byte("windows build X"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenFile("v1.0.0", f); err == nil || !strings.Contains(err.Error(), "differs from its manifest") {
		t.Errorf("changed file opened: %v", err)
	}
}

func TestAddRefuses(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	s := Open(t.TempDir())
	bin := writeTemp(t, "tether-agent", "x")
	if _, err := s.Add("v1", []Input{{"linux", "amd64", release.KindBinary, bin}}, key, time.Now()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, version string
		in            []Input
		key           ed25519.PrivateKey
		want          string
	}{
		{"existing version", "v1", []Input{{"linux", "amd64", release.KindBinary, bin}}, key, "exists"},
		{"path in version", "../x", []Input{{"linux", "amd64", release.KindBinary, bin}}, key, "letters, digits"},
		{"no files", "v2", nil, key, "at least one file"},
		{"no key", "v2", []Input{{"linux", "amd64", release.KindBinary, bin}}, nil, "signing key"},
		{"bad kind", "v2", []Input{{"linux", "amd64", "zip", bin}}, key, "unknown kind"},
		{"bad platform", "v2", []Input{{"../linux", "amd64", release.KindBinary, bin}}, key, "os/arch"},
		{"twice", "v2", []Input{{"linux", "amd64", release.KindBinary, bin}, {"linux", "amd64", release.KindBinary, bin}}, key, "two binary"},
		{"missing file", "v2", []Input{{"linux", "amd64", release.KindBinary, filepath.Join(t.TempDir(), "none")}}, key, "no such file"},
	}
	for _, tc := range tests {
		if _, err := s.Add(tc.version, tc.in, tc.key, time.Now()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// Nothing of the refused adds is left behind.
	ents, _ := os.ReadDir(s.dir)
	if len(ents) != 1 || ents[0].Name() != "v1" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("store holds %v", names)
	}
}
