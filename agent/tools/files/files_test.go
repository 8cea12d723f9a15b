package files

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestPathRules: paths are absolute and literal; "." and ".." elements
// and links anywhere on the way are refused, not cleaned away or
// followed.
func TestPathRules(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix paths")
	}
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "home", "docs"), 0o755))
	must(os.WriteFile(filepath.Join(root, "home", "docs", "report.txt"), []byte("report"), 0o644))
	must(os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(os.WriteFile(filepath.Join(root, "etc", "shadow"), []byte("secret"), 0o600))
	must(os.Symlink(filepath.Join(root, "etc"), filepath.Join(root, "home", "linkdir")))
	must(os.Symlink(filepath.Join(root, "etc", "shadow"), filepath.Join(root, "home", "linkfile")))

	for _, tc := range []struct {
		path string
		want error
	}{
		{"relative/path", ErrNotAbsolute},
		{root + "/home/../etc/shadow", ErrDotDot},
		{root + "/home/./docs/report.txt", ErrDotDot},
		{root + "/home/linkdir/shadow", ErrLink},
		{root + "/home/linkfile", ErrLink},
		{root + "/home/docs/report.txt", nil},
	} {
		f, _, err := Open(tc.path)
		if f != nil {
			f.Close()
		}
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("Open(%s) = %v, want %v", tc.path, err, tc.want)
		}
	}
	if _, _, _, err := List(root + "/home/linkdir"); !errors.Is(err, ErrLink) {
		t.Errorf("List through a link: %v", err)
	}
	p, entries, _, err := List(root + "/home/")
	if err != nil || p != root+"/home" {
		t.Fatalf("List = %q, %v", p, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
		if e.Name == "linkfile" && e.Link != filepath.Join(root, "etc", "shadow") {
			t.Errorf("a link's target: %+v", e)
		}
	}
	if len(names) != 3 || names[0] != "docs" {
		t.Errorf("entries %v: want docs first, then the links", names)
	}
	if _, err := Dir(root + "/home/linkdir"); !errors.Is(err, ErrLink) {
		t.Errorf("uploading into a link: %v", err)
	}

	// Rename never replaces; names have no separators.
	must(os.WriteFile(filepath.Join(root, "home", "docs", "other.txt"), []byte("other"), 0o644))
	if _, err := Rename(root+"/home/docs/report.txt", "other.txt"); !errors.Is(err, ErrExists) {
		t.Errorf("rename onto a file: %v", err)
	}
	for _, bad := range []string{"../x", "a/b", "..", ""} {
		if _, err := Rename(root+"/home/docs/report.txt", bad); !errors.Is(err, ErrBadName) {
			t.Errorf("rename to %q: %v", bad, err)
		}
	}
	to, err := Rename(root+"/home/docs/report.txt", "final.txt")
	if err != nil || to != root+"/home/docs/final.txt" {
		t.Fatalf("rename: %q, %v", to, err)
	}
	// Delete removes a link, not its target; a full directory stays.
	must(Delete(root + "/home/linkfile"))
	if _, err := os.Stat(filepath.Join(root, "etc", "shadow")); err != nil {
		t.Fatal("deleting a link removed its target")
	}
	if err := Delete(root + "/home/docs"); err == nil {
		t.Error("a full directory was deleted")
	}
	if err := Delete(root + "/home/linkdir/shadow"); !errors.Is(err, ErrLink) {
		t.Errorf("delete through a link: %v", err)
	}
}
