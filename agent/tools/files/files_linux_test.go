package files

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestChangesInTheOpenedFolder: listings, deletes and renames act on the
// folder opened without following links, so a folder swapped for a link after
// Delete's and Rename's checks redirects nothing: the link's target is
// left alone.
func TestChangesInTheOpenedFolder(t *testing.T) {
	root := t.TempDir()
	target := filepath.Join(root, "target")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(target, "shadow")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The folder a technician browsed, now a link to another.
	swapped := filepath.Join(root, "docs")
	if err := os.Symlink(target, swapped); err != nil {
		t.Fatal(err)
	}
	if err := removeIn(swapped, "shadow"); !errors.Is(err, ErrLink) {
		t.Errorf("removeIn through a link: %v, want ErrLink", err)
	}
	if err := renameIn(swapped, "shadow", "moved"); !errors.Is(err, ErrLink) {
		t.Errorf("renameIn through a link: %v, want ErrLink", err)
	}
	if d, err := openNoFollow(swapped, os.O_RDONLY|dirFlag, 0); !errors.Is(err, ErrLink) {
		if d != nil {
			d.Close()
		}
		t.Errorf("opening a link to list it: %v, want ErrLink", err)
	}
	if _, err := os.Stat(secret); err != nil {
		t.Fatalf("the link's target changed: %v", err)
	}
	// In a real folder both work, and a rename never replaces.
	if err := os.WriteFile(filepath.Join(target, "other"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := renameIn(target, "shadow", "other"); !errors.Is(err, ErrExists) {
		t.Errorf("renameIn onto an existing name: %v, want ErrExists", err)
	}
	if err := renameIn(target, "shadow", "moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(target, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"moved", "empty"} {
		if err := removeIn(target, name); err != nil {
			t.Errorf("removeIn %s: %v", name, err)
		}
	}
}

// TestOpenWalk: without openat2 (kernels before 5.6) paths are opened one
// element at a time; a link anywhere on the way is refused as openat2
// refuses it.
func TestOpenWalk(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "a", "b", "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "a"), filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "a", "b", "f"), filepath.Join(root, "a", "flink")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		flag int
		want error // nil: opens
	}{
		{"/", os.O_RDONLY | dirFlag, nil},
		{root + "/a/b/f", os.O_RDONLY, nil},
		{root + "/a/b", unix.O_PATH | dirFlag, nil},
		{root + "/link/b/f", os.O_RDONLY, unix.ELOOP},
		{root + "/a/flink", os.O_RDONLY, unix.ELOOP},
		{root + "/a/missing/f", os.O_RDONLY, unix.ENOENT},
	} {
		fd, err := openWalk(tc.path, tc.flag, 0)
		if err == nil {
			unix.Close(fd)
		}
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("openWalk(%s) = %v, want %v", tc.path, err, tc.want)
		}
	}
}

// TestEntryAt: a listing read through the folder's descriptor says what
// os.Lstat and os.Readlink say by path.
func TestEntryAt(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("12345"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o1755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	_, entries, _, err := List(dir)
	if err != nil || len(entries) != 3 {
		t.Fatalf("List: %+v, %v", entries, err)
	}
	for _, e := range entries {
		fi, err := os.Lstat(filepath.Join(dir, e.Name))
		if err != nil {
			t.Fatal(err)
		}
		want := fi.Size()
		if fi.IsDir() || fi.Mode()&os.ModeSymlink != 0 {
			want = 0
		}
		if e.Mode != fi.Mode().String() || e.Dir != fi.IsDir() || e.Size != want || e.Modified != fi.ModTime().UnixMilli() {
			t.Errorf("%s: %+v, want mode %s size %d", e.Name, e, fi.Mode(), want)
		}
	}
	if entries[2].Name != "l" || entries[2].Link != "/etc/passwd" {
		t.Errorf("the link: %+v", entries[2])
	}
}
