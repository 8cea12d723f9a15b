//go:build !linux && !windows

package files

import (
	"os"
	"path/filepath"
	"syscall"
)

// dirFlag opens a folder, and only a folder.
const dirFlag = syscall.O_DIRECTORY

func roots() []string { return []string{"/"} }

func openNoFollow(p string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(p, flag|syscall.O_NOFOLLOW, perm)
}

// removeIn and renameIn act by path here: the folders on the way were
// checked for links (files_linux.go acts on the folder opened instead).
func removeIn(dir, name string) error { return os.Remove(filepath.Join(dir, name)) }

func renameIn(dir, from, to string) error {
	if _, err := os.Lstat(filepath.Join(dir, to)); err == nil {
		return ErrExists
	}
	return os.Rename(filepath.Join(dir, from), filepath.Join(dir, to))
}
