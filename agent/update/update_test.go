//go:build unix

package update

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/protocol"
	"github.com/tetherdesk/tether/shared/release"
)

type env struct {
	dir, exe string
	key      ed25519.PrivateKey
	u        *Updater
}

func newEnv(t *testing.T, pub ed25519.PublicKey) *env {
	t.Helper()
	dir := t.TempDir()
	exe := filepath.Join(dir, "tether-agent")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\necho old\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	if pub == nil {
		pub = key.Public().(ed25519.PublicKey)
	}
	u, err := New(Config{Exe: exe, StateDir: dir, Version: "vA", OS: "linux", Arch: "amd64", PublicKey: pub, ConfirmTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &env{dir: dir, exe: exe, key: key, u: u}
}

// offer signs body as release version and returns the offer and a
// download that serves served (body, unless the test swaps it).
func (e *env) offer(version string, body, served []byte) (protocol.AgentUpdate, func(context.Context, string, io.Writer, int64) error) {
	sum, size, _ := release.Digest(bytes.NewReader(body))
	f := release.File{OS: "linux", Arch: "amd64", Kind: release.KindBinary, SHA256: sum, Size: size}
	release.Sign(e.key, version, &f)
	o := protocol.AgentUpdate{Version: version, URL: "/r/" + version, SHA256: sum, Size: size, Signature: f.Signature}
	return o, func(_ context.Context, _ string, w io.Writer, _ int64) error {
		_, err := w.Write(served)
		return err
	}
}

func (e *env) waitReport(t *testing.T, phase protocol.UpdatePhase) protocol.UpdateReport {
	t.Helper()
	var got protocol.UpdateReport
	testenv.Eventually(t, 10*time.Second, "a "+string(phase)+" report", func() (bool, error) {
		for _, r := range e.u.onDisk().Reports {
			if r.Phase == phase {
				got = r
				return true, nil
			}
		}
		return false, fmt.Errorf("state %+v", e.u.onDisk())
	})
	return got
}

// TestRefusesTampered: a flipped byte in the download, a signature by
// another key, or an agent with no key: refused with a clear report, the
// binary untouched, and the version not tried again.
func TestRefusesTampered(t *testing.T) {
	body := []byte("#!/bin/sh\necho new\n")
	flipped := bytes.Clone(body)
	flipped[3] ^= 1
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name   string
		pub    ed25519.PublicKey
		served []byte
		want   string
	}{
		{"flipped byte", nil, flipped, "does not match its signed digest"},
		{"wrong key", other.Public().(ed25519.PublicKey), body, "does not verify with the release key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.pub)
			o, dl := e.offer("vB", body, tc.served)
			e.u.Offer(o, dl)
			r := e.waitReport(t, protocol.UpdateFailed)
			if !strings.Contains(r.Error, tc.want) || r.To != "vB" {
				t.Errorf("report %+v, want an error saying %q", r, tc.want)
			}
			if b, _ := os.ReadFile(e.exe); string(b) != "#!/bin/sh\necho old\n" {
				t.Errorf("the binary changed: %q", b)
			}
			if _, err := os.Stat(e.exe + ".new"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the refused download is left: %v", err)
			}
			select {
			case <-e.u.Ready():
				t.Fatal("a refused release became ready")
			default:
			}
			// Offered again, it is not downloaded again (Offer decides at once).
			e.u.Offer(o, dl)
			e.u.mu.Lock()
			busy := e.u.busy
			e.u.mu.Unlock()
			if busy {
				t.Error("a refused version is being downloaded again")
			}
		})
	}
	// No release key compiled in.
	e := newEnv(t, nil)
	e.u.cfg.PublicKey = nil
	o, dl := e.offer("vB", body, body)
	e.u.Offer(o, dl)
	if r := e.waitReport(t, protocol.UpdateFailed); !strings.Contains(r.Error, "no release key") {
		t.Errorf("report %+v", r)
	}
}

// TestTrial: a new binary that confirms is kept; one that exits at once
// is rolled back, with the old binary back in place and reports of every
// step.
func TestTrial(t *testing.T) {
	// The stand-in for a new agent confirms as the real one does after its
	// first answered poll: by writing the state.
	good := []byte("#!/bin/sh\nprintf '{\"phase\":\"confirmed\",\"from\":\"vA\",\"to\":\"vB\"}' > \"$STATE/update.json\"\nexec sleep 30\n")
	bad := []byte("#!/bin/sh\nexit 1\n")
	for _, tc := range []struct {
		name string
		body []byte
		want Outcome
	}{{"confirms", good, Confirmed}, {"exits at once", bad, RolledBack}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			t.Setenv("STATE", e.dir)
			o, dl := e.offer("vB", tc.body, tc.body)
			e.u.Offer(o, dl)
			var r Ready
			select {
			case r = <-e.u.Ready():
			case <-time.After(10 * time.Second):
				t.Fatalf("not ready; state %+v", e.u.onDisk())
			}
			got := e.u.Trial(context.Background(), r, nil, io.Discard)
			if got != tc.want {
				t.Fatalf("outcome %v, want %v; state %+v", got, tc.want, e.u.onDisk())
			}
			b, _ := os.ReadFile(e.exe)
			switch tc.want {
			case Confirmed:
				if !bytes.Equal(b, tc.body) {
					t.Errorf("the new binary is not in place: %q", b)
				}
				// The next start (the exec) reports it done and tidies.
				u2, err := New(Config{Exe: e.exe, StateDir: e.dir, Version: "vB"})
				if err != nil {
					t.Fatal(err)
				}
				if r := u2.Report(); r == nil {
					t.Error("no report after the confirmed restart")
				}
				if st := u2.onDisk(); st.Phase != phaseNone || st.Reports[len(st.Reports)-1].Phase != protocol.UpdateConfirmed {
					t.Errorf("state after the restart %+v", st)
				}
				if _, err := os.Stat(e.exe + ".prev"); !errors.Is(err, os.ErrNotExist) {
					t.Error("the previous binary is left after the confirmation")
				}
			case RolledBack:
				if string(b) != "#!/bin/sh\necho old\n" {
					t.Errorf("the old binary is not back: %q", b)
				}
				r := e.waitReport(t, protocol.UpdateRolledBack)
				if !strings.Contains(r.Error, "exited") {
					t.Errorf("rollback report %+v", r)
				}
				var phases []protocol.UpdatePhase
				for _, r := range e.u.onDisk().Reports {
					phases = append(phases, r.Phase)
				}
				if want := []protocol.UpdatePhase{protocol.UpdateDownloaded, protocol.UpdateInstalled, protocol.UpdateRolledBack}; !slices.Equal(phases, want) {
					t.Errorf("reports %v, want %v", phases, want)
				}
			}
		})
	}
}

// TestReportsSentOnce: Sent drops the report the server received; the
// queue survives a restart.
func TestReportsSentOnce(t *testing.T) {
	e := newEnv(t, nil)
	e.u.mu.Lock()
	e.u.report(protocol.UpdateReport{Phase: protocol.UpdateDownloaded, From: "vA", To: "vB"})
	e.u.report(protocol.UpdateReport{Phase: protocol.UpdateInstalled, From: "vA", To: "vB"})
	e.u.mu.Unlock()
	u2, err := New(Config{Exe: e.exe, StateDir: e.dir, Version: "vA"})
	if err != nil {
		t.Fatal(err)
	}
	r := u2.Report()
	if r == nil || r.Phase != protocol.UpdateDownloaded {
		t.Fatalf("first report %+v", r)
	}
	u2.Sent(*r)
	if r := u2.Report(); r == nil || r.Phase != protocol.UpdateInstalled {
		t.Fatalf("second report %+v", r)
	}
}
