package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPurgeStateRemovesOnlyAgentFiles(t *testing.T) {
	tests := []struct {
		name     string
		files    []string
		wantKept bool
		wantLeft []string
	}{
		{"only agent files", []string{"identity.json", "status.json", "policy.json", "actions/x.json", ".identity.json.tmp-123"}, false, nil},
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
