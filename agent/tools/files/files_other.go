//go:build !linux && !windows

package files

import (
	"os"
	"syscall"
)

func roots() []string { return []string{"/"} }

func openNoFollow(p string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(p, flag|syscall.O_NOFOLLOW, perm)
}

func renameNoReplace(from, to string) error {
	if _, err := os.Lstat(to); err == nil {
		return ErrExists
	}
	return os.Rename(from, to)
}

// ownPart: see files_linux.go.
func ownPart(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid() && st.Nlink == 1
}
