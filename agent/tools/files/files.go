// Package files is the file browser tool: listing, renaming and deleting
// on the endpoint's file systems, and opening files to send or creating
// them to receive, with the system's rights.
//
// Paths are taken as they are written: absolute, without "." or ".."
// elements, and never through a symbolic link. A link is listed with its
// target, and the technician goes to that target by its own path; a path
// that runs through a link is refused rather than followed. A technician
// therefore acts exactly on the path shown and audited, and a file a
// local user swaps for a link (under /tmp, say) is never written through.
package files

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tetherdesk/tether/shared/protocol"
)

// Errors of the path rules.
var (
	ErrNotAbsolute = errors.New("the path must be absolute")
	ErrDotDot      = errors.New(`the path may not hold "." or ".." elements`)
	ErrLink        = errors.New("the path runs through a symbolic link: open the link's target by its own path")
	ErrBadName     = errors.New("a name may not be empty, \".\" or \"..\", or hold a path separator or a control character")
	ErrExists      = errors.New("something of that name is there already")
)

// MaxEntries bounds a listing.
const MaxEntries = 5000

// Clean checks a requested path and returns it in its canonical form:
// absolute (a drive or a UNC share on Windows), no "." or ".." elements,
// separators made the system's, no trailing separator but on a root.
func Clean(p string) (string, error) {
	if p == "" || strings.ContainsRune(p, 0) || !utf8.ValidString(p) {
		return "", fmt.Errorf("%w: %q", ErrNotAbsolute, p)
	}
	p = filepath.FromSlash(p)
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("%w: %q", ErrNotAbsolute, p)
	}
	vol := filepath.VolumeName(p)
	if vol != "" && (len(vol) != 2 || vol[1] != ':') {
		// A share (\\host\share) would have the machine sign in to
		// that host; device paths (\\?\, \\.\) skip the checks.
		return "", fmt.Errorf("%w: only paths on the endpoint's own drives are opened (%q)", ErrNotAbsolute, p)
	}
	for _, el := range strings.Split(p[len(vol):], string(filepath.Separator)) {
		if el == "." || el == ".." {
			return "", fmt.Errorf("%w: %q", ErrDotDot, p)
		}
	}
	return filepath.Clean(p), nil
}

// CheckName checks a file name for rename and upload.
func CheckName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > protocol.MaxFileName || !utf8.ValidString(name) ||
		strings.ContainsAny(name, `/\`) || strings.IndexFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 || !nameOK(name) {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	return nil
}

// noLinks reports ErrLink when any element of the clean path p, itself
// included, is a symbolic link; a missing element is fs.ErrNotExist.
func noLinks(p string) error {
	vol := filepath.VolumeName(p)
	cur := vol + string(filepath.Separator)
	rest := strings.Trim(p[len(vol):], string(filepath.Separator))
	if rest == "" {
		return nil
	}
	for _, el := range strings.Split(rest, string(filepath.Separator)) {
		cur = filepath.Join(cur, el)
		fi, err := os.Lstat(cur)
		if err != nil {
			return err
		}
		// Windows junctions and mount points are "irregular" to Lstat:
		// they redirect as a link does.
		if fi.Mode()&(fs.ModeSymlink|fs.ModeIrregular) != 0 {
			return fmt.Errorf("%w (%s)", ErrLink, cur)
		}
	}
	return nil
}

// Roots are where browsing starts: / or the drives.
func Roots() []string { return roots() }

// List lists directory dir, directories first, then by name; at most
// MaxEntries (cut says so).
func List(dir string) (clean string, entries []protocol.FileEntry, cut bool, err error) {
	if dir, err = Clean(dir); err != nil {
		return "", nil, false, err
	}
	if err := noLinks(dir); err != nil {
		return "", nil, false, err
	}
	// Listed from the folder opened without following links: one
	// swapped for a link after the check lists nothing of elsewhere.
	d, err := openNoFollow(dir, os.O_RDONLY|dirFlag, 0)
	if err != nil {
		return "", nil, false, fmt.Errorf("listing %s: %w", dir, err)
	}
	defer d.Close()
	des, err := d.ReadDir(-1)
	if err != nil && len(des) == 0 {
		return "", nil, false, fmt.Errorf("listing %s: %w", dir, err)
	}
	entries = make([]protocol.FileEntry, 0, len(des))
	for _, de := range des {
		e, err := entryAt(d, dir, de.Name())
		if err != nil {
			continue // gone meanwhile
		}
		if e.Dir {
			e.Size = 0
		}
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b protocol.FileEntry) int {
		if a.Dir != b.Dir {
			if a.Dir {
				return -1
			}
			return 1
		}
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	if len(entries) > MaxEntries {
		entries, cut = entries[:MaxEntries], true
	}
	return dir, entries, cut, nil
}

// Open opens a regular file to send, by a path without links.
func Open(p string) (*os.File, fs.FileInfo, error) {
	p, err := Clean(p)
	if err != nil {
		return nil, nil, err
	}
	if err := noLinks(p); err != nil {
		return nil, nil, err
	}
	f, err := openNoFollow(p, os.O_RDONLY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening %s: %w", p, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", p)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// Dir checks that p is a directory reached without links, for uploads.
func Dir(p string) (string, error) {
	p, err := Clean(p)
	if err != nil {
		return "", err
	}
	if err := noLinks(p); err != nil {
		return "", err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s is not a directory", p)
	}
	return p, nil
}

// Delete removes a file, a link (not its target) or an empty directory.
func Delete(p string) error {
	p, err := Clean(p)
	if err != nil {
		return err
	}
	if filepath.Dir(p) == p {
		return errors.New("a root is not deleted")
	}
	if err := noLinks(filepath.Dir(p)); err != nil {
		return err
	}
	if err := removeIn(filepath.Dir(p), filepath.Base(p)); err != nil {
		return fmt.Errorf("deleting %s: %w", p, err)
	}
	return nil
}

// Rename gives p a new name in its directory; nothing of that name may be
// there. It returns the new path.
func Rename(p, name string) (string, error) {
	p, err := Clean(p)
	if err != nil {
		return "", err
	}
	if err := CheckName(name); err != nil {
		return "", err
	}
	dir := filepath.Dir(p)
	if dir == p {
		return "", errors.New("a root is not renamed")
	}
	if err := noLinks(dir); err != nil {
		return "", err
	}
	to := filepath.Join(dir, name)
	if err := renameIn(dir, filepath.Base(p), name); err != nil {
		return "", fmt.Errorf("renaming %s to %s: %w", p, name, err)
	}
	return to, nil
}
