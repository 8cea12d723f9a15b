package filexfer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestSafeName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{"../../etc/passwd", "passwd"},
		{`..\..\Windows\System32\drivers\etc\hosts`, "hosts"},
		{"/etc/shadow", "shadow"},
		{"dir/", "file"},
		{"..", "file"},
		{".", "file"},
		{"", "file"},
		{".bashrc", "bashrc"},
		{"...hidden.txt", "hidden.txt"},
		{"a\x00b\nc\x7f.txt", "abc.txt"},
		{"bad<>:\"|?*.txt", "bad_______.txt"},
		{"CON.txt", "_CON.txt"},
		{"lpt1", "_lpt1"},
		{"name. . .", "name"},
		{"Tschüß ✓.odt", "Tschüß ✓.odt"},
		{"bad\xffutf8.txt", "bad_utf8.txt"},
		{"backup.tar.gz", "backup.tar.gz"},
		{"right-to-left\u202eexe.txt", "right-to-leftexe.txt"},
		{strings.Repeat("a", 300) + ".docx", strings.Repeat("a", maxSavedName-5) + ".docx"},
	} {
		if got := SafeName(tc.in); got != tc.want {
			t.Errorf("SafeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzSafeName(f *testing.F) {
	for _, s := range []string{"../../etc/passwd", `a\b`, "..", "x.tar.gz", "CON", "\x00", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := SafeName(in)
		if got == "" || got == "." || got == ".." || strings.HasPrefix(got, ".") || strings.ContainsAny(got, "/\\\x00") ||
			!utf8.ValidString(got) || len(got) > maxSavedName || filepath.Base(got) != got {
			t.Fatalf("SafeName(%q) = %q", in, got)
		}
		if SafeName(got) != got {
			t.Fatalf("SafeName is not stable on %q: %q", got, SafeName(got))
		}
	})
}

func TestSaveUnique(t *testing.T) {
	dir := t.TempDir()
	save := func(name, content string) string {
		t.Helper()
		src := filepath.Join(dir, ".part")
		if err := os.WriteFile(src, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := saveUnique(src, dir, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(src); !os.IsNotExist(err) {
			t.Errorf("the partial file is still there: %v", err)
		}
		return filepath.Base(p)
	}
	for i, want := range []string{"a.txt", "a (1).txt", "a (2).txt"} {
		if got := save("a.txt", want); got != want {
			t.Errorf("save %d: %q, want %q", i, got, want)
		}
	}
	if got := save("backup.tar.gz", "x"); got != "backup.tar.gz" {
		t.Errorf("got %q", got)
	}
	if got := save("backup.tar.gz", "y"); got != "backup (1).tar.gz" {
		t.Errorf("got %q, want the double extension kept", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.txt")); string(b) != "a.txt" {
		t.Errorf("the first file was overwritten: %q", b)
	}
}

func TestXDGUserDir(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "user-dirs.dirs")
	os.WriteFile(p, []byte("# comment\nXDG_DESKTOP_DIR=\"$HOME/Desktop\"\nXDG_DOWNLOAD_DIR=\"$HOME/Téléchargements\"\n"), 0o600)
	if got := xdgUserDir(p, "XDG_DOWNLOAD_DIR", "/home/ana"); got != "/home/ana/Téléchargements" {
		t.Errorf("got %q", got)
	}
	os.WriteFile(p, []byte("XDG_DOWNLOAD_DIR=\"$HOME/\"\n"), 0o600)
	if got := xdgUserDir(p, "XDG_DOWNLOAD_DIR", "/home/ana"); got != "" {
		t.Errorf("home itself: got %q, want the default", got)
	}
	if got := xdgUserDir(filepath.Join(dir, "none"), "XDG_DOWNLOAD_DIR", "/home/ana"); got != "" {
		t.Errorf("no file: got %q", got)
	}
}

func TestRemoveStalePartials(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, ".tether-0123456789abcdef-10.part")
	fresh := filepath.Join(dir, ".tether-fedcba9876543210-10.part")
	mine := filepath.Join(dir, "report.part")
	for _, p := range []string{old, fresh, mine} {
		os.WriteFile(p, []byte("x"), 0o600)
	}
	past := time.Now().Add(-2 * stalePartial)
	os.Chtimes(old, past, past)
	os.Chtimes(mine, past, past)
	removeStalePartials(dir, time.Now().Add(-stalePartial))
	for p, want := range map[string]bool{old: false, fresh: true, mine: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
}
