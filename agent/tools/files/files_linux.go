package files

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func roots() []string { return []string{"/"} }

// openNoFollow opens p refusing any symbolic link on the way, in one
// step (openat2 RESOLVE_NO_SYMLINKS): a link swapped in after the check
// is not followed either.
func openNoFollow(p string, flag int, perm os.FileMode) (*os.File, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, p, &unix.OpenHow{
		Flags: uint64(flag | unix.O_CLOEXEC | unix.O_NOFOLLOW), Mode: uint64(perm.Perm()),
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ENOSYS) {
		// A kernel older than 5.6: the last element at least.
		fd, err = unix.Open(p, flag|unix.O_CLOEXEC|unix.O_NOFOLLOW, uint32(perm.Perm()))
	}
	if errors.Is(err, unix.ELOOP) {
		return nil, ErrLink
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

// renameNoReplace renames, failing if to exists (renameat2 NOREPLACE).
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EEXIST) {
		return ErrExists
	}
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// A file system without it: check, then rename.
		if _, err := os.Lstat(to); err == nil {
			return ErrExists
		}
		return os.Rename(from, to)
	}
	return err
}

// ownPart reports whether a partial upload file is the service's own and
// has no other name: one a local user made, or linked to another file,
// is not written to.
func ownPart(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid() && st.Nlink == 1
}
