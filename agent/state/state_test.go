package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/shared/protocol"
)

func TestIdentityRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadIdentity(); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("LoadIdentity on empty dir = %v, want ErrNoIdentity", err)
	}
	want := Identity{Server: "https://tether.example", AgentID: "a1", Secret: "s3cr3t"}
	if err := s.SaveIdentity(want); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadIdentity()
	if err != nil || got != want {
		t.Fatalf("LoadIdentity = %+v, %v; want %+v", got, err, want)
	}
	if runtime.GOOS != "windows" {
		for path, mode := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, filepath.Join(dir, IdentityFile): 0o600} {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode() & (os.ModePerm | os.ModeDir); got != mode {
				t.Errorf("%s mode = %v, want %v", path, got, mode)
			}
		}
	}
	// No temporary files left behind.
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if strings.Contains(de.Name(), ".tmp-") {
			t.Errorf("leftover temp file %s", de.Name())
		}
	}
}

func TestOpenTightensLooseDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix modes")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("mode = %v, want 0700", fi.Mode().Perm())
	}
}

func TestIncompleteIdentityIsAnError(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, IdentityFile), []byte(`{"server":"x","agent_id":"a"}`), 0o600)
	s, _ := Open(dir, nil)
	if _, err := s.LoadIdentity(); err == nil || errors.Is(err, ErrNoIdentity) {
		t.Fatalf("LoadIdentity = %v, want an incomplete-identity error", err)
	}
}

func TestJournalLifecycle(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, nil)
	j, err := s.OpenJournal(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Start("a/../../etc", "echo"); err != nil {
		t.Fatal(err)
	}
	if err := j.Start("a/../../etc", "echo"); err == nil {
		t.Error("second Start of the same id succeeded")
	}
	if err := j.Start("b", "echo"); err != nil {
		t.Fatal(err)
	}
	res := protocol.ActionResult{ID: "b", OK: true}
	if err := j.Finish("b", res); err != nil {
		t.Fatal(err)
	}
	if err := j.Finish("nope", res); err == nil {
		t.Error("Finish of an unknown id succeeded")
	}

	// Reopen: the journal is on disk.
	j, err = s.OpenJournal(0)
	if err != nil {
		t.Fatal(err)
	}
	if u := j.Unfinished(); len(u) != 1 || u[0].ID != "a/../../etc" {
		t.Errorf("Unfinished = %+v", u)
	}
	if u := j.Unreported(); len(u) != 1 || u[0].ID != "b" || !u[0].Result.OK {
		t.Errorf("Unreported = %+v", u)
	}
	if err := j.MarkReported("b", "unknown"); err != nil {
		t.Fatal(err)
	}
	j, _ = s.OpenJournal(0)
	if e, ok := j.Get("b"); !ok || !e.Reported || !e.Done() {
		t.Errorf("entry b = %+v, %v", e, ok)
	}
	if u := j.Unreported(); len(u) != 0 {
		t.Errorf("Unreported after MarkReported = %+v", u)
	}
	// Ids never become paths.
	entries, _ := os.ReadDir(filepath.Join(dir, ActionsDir))
	for _, e := range entries {
		if strings.Contains(e.Name(), "etc") {
			t.Errorf("id leaked into file name %q", e.Name())
		}
	}
}

func TestJournalPrunesOnlyReported(t *testing.T) {
	s, _ := Open(t.TempDir(), nil)
	j, err := s.OpenJournal(3)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	j.now = func() time.Time { n++; return base.Add(time.Duration(n) * time.Second) }
	// Two old unreported entries and three reported ones.
	for _, id := range []string{"u1", "u2"} {
		j.Start(id, "echo")
	}
	for i := range 3 {
		id := fmt.Sprintf("r%d", i)
		j.Start(id, "echo")
		j.Finish(id, protocol.ActionResult{ID: id, OK: true})
		j.MarkReported(id)
	}
	j.Start("new", "echo") // 6 entries, max 3: drop the three reported ones
	if got := j.Len(); got != 3 {
		t.Errorf("Len = %d, want 3", got)
	}
	for _, id := range []string{"u1", "u2", "new"} {
		if _, ok := j.Get(id); !ok {
			t.Errorf("%s pruned", id)
		}
	}
	j2, _ := s.OpenJournal(3)
	if got := j2.Len(); got != 3 {
		t.Errorf("Len after reopen = %d, want 3", got)
	}
}

func TestJournalSkipsCorruptEntries(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, nil)
	j, _ := s.OpenJournal(0)
	j.Start("good", "echo")
	os.WriteFile(filepath.Join(dir, ActionsDir, "0123.json"), []byte("{not json"), 0o600)
	j, err := s.OpenJournal(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := j.Get("good"); !ok || j.Len() != 1 {
		t.Errorf("journal after corrupt entry: len %d", j.Len())
	}
}

func TestStatusRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, nil)
	now := time.Now().UTC().Truncate(time.Second)
	want := Status{AgentID: "a1", Server: "https://x", LastPollOK: now, Updated: now}
	if err := s.WriteStatus(want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadStatus(dir)
	if err != nil || got != want {
		t.Errorf("ReadStatus = %+v, %v", got, err)
	}
}
