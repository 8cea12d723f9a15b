package atomicfile

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestWriteFileReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	for _, content := range []string{"one", "two"} {
		if err := WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != content {
			t.Fatalf("content = %q, %v; want %q", got, err, content)
		}
	}
	if runtime.GOOS != "windows" {
		fi, _ := os.Stat(p)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
		}
	}
	des, _ := os.ReadDir(dir)
	if len(des) != 1 {
		t.Errorf("directory holds %d entries, want only the file", len(des))
	}
	if err := WriteFile(filepath.Join(dir, "missing", "f"), nil, 0o600); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
}

func TestMkdirPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix modes")
	}
	base := t.TempDir()
	tests := []struct {
		name    string
		mode    os.FileMode // 0: does not exist yet
		wantErr string
	}{
		{name: "new nested", mode: 0},
		{name: "existing loose", mode: 0o755},
		{name: "existing private", mode: 0o700},
		{name: "world-writable refused", mode: 0o777, wantErr: "writable by other users"},
		{name: "like /tmp refused", mode: os.ModeSticky | 0o777, wantErr: "writable by other users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(base, strings.ReplaceAll(tt.name, " ", "_"), "state")
			if tt.mode != 0 {
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(dir, tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			err := MkdirPrivate(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("MkdirPrivate = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := os.Stat(dir)
			if fi.Mode().Perm() != 0o700 {
				t.Errorf("mode = %v, want 0700", fi.Mode().Perm())
			}
		})
	}
}
