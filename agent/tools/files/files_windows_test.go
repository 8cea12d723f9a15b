package files

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tetherdesk/tether/internal/wineskip"
)

// TestWindowsCleanRefusesShares: only the endpoint's own drives are
// opened; shares and device paths are refused, and so are names Windows
// could not open.
func TestWindowsCleanRefusesShares(t *testing.T) {
	for _, p := range []string{`\\attacker\share\x`, `\\?\C:\Windows`, `\\.\PhysicalDrive0`} {
		if _, err := Clean(p); !errors.Is(err, ErrNotAbsolute) {
			t.Errorf("Clean(%q) = %v, want refused", p, err)
		}
	}
	if got, err := Clean(`C:\Users\Public\..x`); err != nil || got != `C:\Users\Public\..x` {
		t.Errorf("a drive path: %q, %v", got, err)
	}
	if _, err := Clean(`C:\Users\..\Windows`); !errors.Is(err, ErrDotDot) {
		t.Errorf("a .. on a drive: %v", err)
	}
	// Names Windows' own path handling could not open again.
	for _, n := range []string{"x:stream", "a?b", "trailing.", "trailing ", "CON", "nul.txt", "Com1", "LPT9.log", "com¹"} {
		if err := CheckName(n); !errors.Is(err, ErrBadName) {
			t.Errorf("CheckName(%q) = %v, want refused", n, err)
		}
	}
	for _, n := range []string{"report.txt", "CONSOLE.log", "COM10", ".profile", "a.b.c"} {
		if err := CheckName(n); err != nil {
			t.Errorf("CheckName(%q) = %v, want allowed", n, err)
		}
	}
}

// tempDir is a new folder for one test. Not t.TempDir: Wine 8 fails
// os.RemoveAll of folders in folders ("Invalid function"); what is left
// is in the test's Wine prefix.
func tempDir(t *testing.T) string {
	root, err := os.MkdirTemp("", "tether-files-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	return root
}

// TestWindowsFileOpsByHandle: in a plain folder, listing, renames (never
// onto an existing name), creating a file and deleting files (a
// read-only one too) and an empty folder work on handles checked to be
// the files asked for.
func TestWindowsFileOpsByHandle(t *testing.T) { checkOps(t, tempDir(t)) }

// TestWindowsLinksRefused: through a link swapped in for a folder,
// deletes, renames and opens are refused and its target is left alone;
// deleting the link itself leaves the target.
func TestWindowsLinksRefused(t *testing.T) {
	root := tempDir(t)
	target := filepath.Join(root, "target")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(target, "secret.txt")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	swapped := filepath.Join(root, "docs")
	if err := os.Symlink(target, swapped); err != nil {
		t.Skipf("a directory link needs the symbolic link privilege or developer mode here: %v", err)
	}
	if _, err := os.Stat(filepath.Join(swapped, "secret.txt")); err != nil {
		wineskip.If(t, "CreateSymbolicLink of a directory, then opening a path through it",
			"Wine 8 makes the link but does not follow it ("+err.Error()+")")
	}
	if err := removeIn(swapped, "secret.txt"); !errors.Is(err, ErrLink) {
		t.Errorf("removeIn through a link: %v, want ErrLink", err)
	}
	if err := renameIn(swapped, "secret.txt", "moved.txt"); !errors.Is(err, ErrLink) {
		t.Errorf("renameIn through a link: %v, want ErrLink", err)
	}
	if f, err := openNoFollow(filepath.Join(swapped, "secret.txt"), os.O_RDONLY, 0); !errors.Is(err, ErrLink) {
		if f != nil {
			f.Close()
		}
		t.Errorf("openNoFollow through a link: %v, want ErrLink", err)
	}
	if _, err := os.Stat(secret); err != nil {
		t.Fatalf("the link's target changed: %v", err)
	}

	if err := removeIn(root, "docs"); err != nil {
		t.Errorf("removeIn the link itself: %v", err)
	}
	if _, err := os.Stat(target); err != nil {
		t.Errorf("deleting the link took its target: %v", err)
	}
}

func checkOps(t *testing.T, dir string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other.txt"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, entries, _, err := List(dir); err != nil || len(entries) != 2 || entries[0].Name != "other.txt" || entries[1].Size != 1 {
		t.Errorf("listing by the folder's handle: %+v, %v", entries, err)
	}
	if err := renameIn(dir, "secret.txt", "other.txt"); !errors.Is(err, ErrExists) {
		t.Errorf("renameIn onto an existing name: %v, want ErrExists", err)
	}
	if err := renameIn(dir, "secret.txt", "moved.txt"); err != nil {
		t.Fatalf("renameIn: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "moved.txt"))
	if err != nil || string(b) != "x" {
		t.Fatalf("the renamed file: %q, %v", b, err)
	}
	f, err := openNoFollow(filepath.Join(dir, "new.part"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := f.Write([]byte("part")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A read-only file goes too.
	if err := os.Chmod(filepath.Join(dir, "other.txt"), 0o444); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"moved.txt", "new.part", "empty", "other.txt"} {
		if err := removeIn(dir, name); err != nil {
			t.Errorf("removeIn %s: %v", name, err)
		}
	}
}
