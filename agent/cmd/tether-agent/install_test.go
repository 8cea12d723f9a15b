package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPurgeStateRemovesOnlyAgentFiles(t *testing.T) {
	tests := []struct {
		name     string
		files    []string
		wantKept bool
		wantLeft []string
	}{
		{"only agent files", []string{"identity.json", "status.json", "policy.json", "actions/x.json", "notifications/outbox.json", ".identity.json.tmp-123"}, false, nil},
		{"foreign file kept", []string{"identity.json", "notes.txt"}, true, []string{"notes.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			for _, f := range tt.files {
				p := filepath.Join(dir, f)
				os.MkdirAll(filepath.Dir(p), 0o700)
				if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			kept, err := purgeState(dir)
			if err != nil || kept != tt.wantKept {
				t.Fatalf("purgeState = %v, %v; want kept %v", kept, err, tt.wantKept)
			}
			var left []string
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				left = append(left, e.Name())
			}
			if len(left) != len(tt.wantLeft) || (len(left) > 0 && left[0] != tt.wantLeft[0]) {
				t.Errorf("left = %v, want %v", left, tt.wantLeft)
			}
			if _, err := os.Stat(dir); tt.wantKept == os.IsNotExist(err) {
				t.Errorf("directory present = %v, want %v", err == nil, tt.wantKept)
			}
		})
	}
	if kept, err := purgeState(filepath.Join(t.TempDir(), "missing")); err != nil || kept {
		t.Errorf("purgeState(missing) = %v, %v", kept, err)
	}
}

// TestInstallConfigOnly: the MSI's custom action writes the config with
// the properties it was given and touches no service (the MSI registers
// it); a missing token on a machine not enrolled is refused.
func TestInstallConfigOnly(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "agent.yaml")
	var out, errw strings.Builder
	err := cmdInstall([]string{"--config-only", "--config", conf, "--server", "https://tether.example:8443",
		"--token", "tok-1", "--fingerprint", "", "--state", filepath.Join(dir, "state")}, &out, &errw)
	if err != nil {
		t.Fatalf("install --config-only: %v (%s)", err, errw.String())
	}
	body, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`server: "https://tether.example:8443"`, `token: "tok-1"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("config lacks %s:\n%s", want, body)
		}
	}
	if fi, err := os.Stat(conf); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v (%v), want 0600", fi.Mode(), err)
	}
	err = cmdInstall([]string{"--config-only", "--config", filepath.Join(dir, "b.yaml"), "--server", "https://tether.example:8443",
		"--state", filepath.Join(dir, "state2")}, &out, &errw)
	if err == nil || !strings.Contains(err.Error(), "--token") {
		t.Errorf("install without a token on a machine not enrolled: %v", err)
	}
}
