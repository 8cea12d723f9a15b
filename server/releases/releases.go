// Package releases keeps the agent builds the server hands out: in
// installers built on download, and (later) as self-updates. A release is
// a folder <dir>/<version>/ with the files and a manifest.json that lists
// each file with its SHA-256, size and signature.
package releases

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetherdesk/tether/shared/release"
)

// ErrNone: there is no release with what was asked for.
var ErrNone = errors.New("no such agent release")

// Release is one version's manifest.
type Release struct {
	Version string         `json:"version"`
	Added   time.Time      `json:"added"`
	Files   []release.File `json:"files"`
}

// Find returns the file of the given platform and kind.
func (r Release) Find(goos, arch, kind string) (release.File, bool) {
	for _, f := range r.Files {
		if f.OS == goos && f.Arch == arch && f.Kind == kind {
			return f, true
		}
	}
	return release.File{}, false
}

// Store is the folder of releases.
type Store struct {
	dir string
	// read caches the manifests read: a release never changes once
	// added, and the poll path asks for the target's on every poll.
	read sync.Map // version -> Release
}

// Open returns the store in dir (created when a release is added).
func Open(dir string) *Store { return &Store{dir: dir} }

// versionRE is what a version may be: it names a folder.
var versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)

// Input is one file to add.
type Input struct {
	OS, Arch, Kind string
	Path           string
}

// Add copies the files into a new release, signing each with key. A
// version that exists is refused: a release never changes once out.
func (s *Store) Add(version string, in []Input, key ed25519.PrivateKey, now time.Time) (Release, error) {
	if !versionRE.MatchString(version) {
		return Release{}, fmt.Errorf("release version %q: letters, digits and . _ + - only", version)
	}
	if len(in) == 0 {
		return Release{}, errors.New("a release needs at least one file")
	}
	if len(key) != ed25519.PrivateKeySize {
		return Release{}, errors.New("a release needs the release signing key")
	}
	final := filepath.Join(s.dir, version)
	if _, err := os.Stat(final); err == nil {
		return Release{}, fmt.Errorf("release %s exists; releases do not change (add a new version)", version)
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return Release{}, err
	}
	tmp, err := os.MkdirTemp(s.dir, ".adding-")
	if err != nil {
		return Release{}, err
	}
	defer os.RemoveAll(tmp)
	r := Release{Version: version, Added: now.UTC()}
	for _, f := range in {
		if !slices.Contains([]string{release.KindBinary, release.KindMSI}, f.Kind) {
			return Release{}, fmt.Errorf("unknown kind %q", f.Kind)
		}
		if f.OS == "" || f.Arch == "" || strings.ContainsAny(f.OS+f.Arch, `/\.`) {
			return Release{}, fmt.Errorf("file %s: give its platform as os/arch", f.Path)
		}
		if _, dup := r.Find(f.OS, f.Arch, f.Kind); dup {
			return Release{}, fmt.Errorf("two %s files for %s/%s", f.Kind, f.OS, f.Arch)
		}
		name := fileName(f.OS, f.Arch, f.Kind)
		sum, size, err := copyFile(f.Path, filepath.Join(tmp, name))
		if err != nil {
			return Release{}, fmt.Errorf("adding %s: %w", f.Path, err)
		}
		rf := release.File{OS: f.OS, Arch: f.Arch, Kind: f.Kind, Name: name, SHA256: sum, Size: size}
		release.Sign(key, version, &rf)
		r.Files = append(r.Files, rf)
	}
	body, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return Release{}, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "manifest.json"), body, 0o644); err != nil {
		return Release{}, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Release{}, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return Release{}, fmt.Errorf("release %s: %w", version, err)
	}
	return r, nil
}

// fileName is a file's name in its release folder.
func fileName(goos, arch, kind string) string {
	switch {
	case kind == release.KindMSI:
		return "tether-agent-" + goos + "-" + arch + ".msi"
	case goos == "windows":
		return "tether-agent-" + goos + "-" + arch + ".exe"
	}
	return "tether-agent-" + goos + "-" + arch
}

func copyFile(from, to string) (string, int64, error) {
	in, err := os.Open(from)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", 0, err
	}
	sum, size, err := release.Digest(io.TeeReader(in, out))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return sum, size, err
}

// List returns every release, newest first.
func (s *Store) List() ([]Release, error) {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Release
	for _, e := range ents {
		if !e.IsDir() || !versionRE.MatchString(e.Name()) {
			continue
		}
		r, err := s.Get(e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Release) int { return b.Added.Compare(a.Added) })
	return out, nil
}

// Get reads one release's manifest.
func (s *Store) Get(version string) (Release, error) {
	if !versionRE.MatchString(version) {
		return Release{}, fmt.Errorf("%w: %q", ErrNone, version)
	}
	if r, ok := s.read.Load(version); ok {
		return r.(Release), nil
	}
	body, err := os.ReadFile(filepath.Join(s.dir, version, "manifest.json"))
	if errors.Is(err, os.ErrNotExist) {
		return Release{}, fmt.Errorf("%w: %s", ErrNone, version)
	}
	if err != nil {
		return Release{}, err
	}
	var r Release
	if err := json.Unmarshal(body, &r); err != nil {
		return Release{}, fmt.Errorf("release %s: manifest: %w", version, err)
	}
	s.read.Store(version, r)
	return r, nil
}

// Latest is the newest release that has a file of the platform and kind.
func (s *Store) Latest(goos, arch, kind string) (Release, release.File, error) {
	all, err := s.List()
	if err != nil {
		return Release{}, release.File{}, err
	}
	for _, r := range all {
		if f, ok := r.Find(goos, arch, kind); ok {
			return r, f, nil
		}
	}
	return Release{}, release.File{}, fmt.Errorf("%w for %s/%s (%s): add one with tether-server release add", ErrNone, goos, arch, kind)
}

// OpenFile opens a release's file after checking that it is still the file the
// manifest lists (size and SHA-256): a file changed on disk is refused.
func (s *Store) OpenFile(version string, f release.File) (*os.File, error) {
	path := filepath.Join(s.dir, version, filepath.Base(f.Name))
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	sum, size, err := release.Digest(file)
	if err == nil && (sum != f.SHA256 || size != f.Size) {
		err = fmt.Errorf("release %s: %s differs from its manifest", version, f.Name)
	}
	if err == nil {
		_, err = file.Seek(0, io.SeekStart)
	}
	if err != nil {
		file.Close()
		return nil, err
	}
	return file, nil
}
