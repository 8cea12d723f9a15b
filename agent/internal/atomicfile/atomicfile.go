// Package atomicfile writes files so that a reader (or the agent after a
// crash) sees either the old content or the new one, never a torn mix, and
// creates private directories for credentials.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data: it writes a temporary file in the same
// directory, restricts it to the owner (perm on Unix, a protected DACL on
// Windows) before any byte is written, fsyncs it, renames it over path and
// fsyncs the directory so that the rename itself survives a power cut.
func WriteFile(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating temporary file for %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// Restrict first: the content may be a secret.
	if err := restrictFile(f, tmp, perm); err != nil {
		return fmt.Errorf("restricting %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", tmp, path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// MkdirPrivate creates dir (and parents) accessible to its owner only (0700
// on Unix; SYSTEM, Administrators and the owner on Windows). An existing
// directory is tightened on Unix, but one that others may write to (say,
// /tmp given by mistake) is refused rather than re-permissioned: changing a
// shared directory would break other programs, and keeping secrets in it is
// unsafe. On Windows an existing directory keeps its ACL; the files written
// into it get private ACLs of their own.
func MkdirPrivate(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", dir, err)
		}
		if err := restrictDir(dir); err != nil {
			return fmt.Errorf("restricting %s: %w", dir, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("checking %s: %w", dir, err)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	if err := tightenExistingDir(dir, fi); err != nil {
		return fmt.Errorf("restricting %s: %w", dir, err)
	}
	return nil
}
