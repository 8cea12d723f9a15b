package files

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tetherdesk/tether/shared/protocol"
)

// dirFlag opens a folder, and only a folder.
const dirFlag = unix.O_DIRECTORY

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
		fd, err = openWalk(p, flag, perm) // a kernel older than 5.6
	}
	if errors.Is(err, unix.ENOTDIR) && flag&unix.O_DIRECTORY != 0 {
		// O_NOFOLLOW with O_DIRECTORY says a last element that is a
		// link is no folder: name it a link.
		if fi, lerr := os.Lstat(p); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			err = unix.ELOOP
		}
	}
	if errors.Is(err, unix.ELOOP) {
		return nil, ErrLink
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

// openWalk is openNoFollow without openat2: it opens p one element at a
// time, each relative to the folder before and none through a link
// (O_NOFOLLOW), so a link swapped in anywhere is refused as well.
func openWalk(p string, flag int, perm os.FileMode) (int, error) {
	els := strings.Split(strings.Trim(p, "/"), "/")
	if len(els) == 1 && els[0] == "" {
		return unix.Open("/", flag|unix.O_CLOEXEC, uint32(perm.Perm()))
	}
	dir, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	for _, el := range els[:len(els)-1] {
		next, err := unix.Openat(dir, el, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOTDIR) {
			var st unix.Stat_t
			if unix.Fstatat(dir, el, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				err = unix.ELOOP
			}
		}
		unix.Close(dir)
		if err != nil {
			return -1, err
		}
		dir = next
	}
	defer unix.Close(dir)
	return unix.Openat(dir, els[len(els)-1], flag|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
}

// entryAt describes name in the folder open as d, by that folder's
// descriptor (fstatat, readlinkat): one swapped for a link after it was
// opened describes nothing of elsewhere.
func entryAt(d *os.File, _, name string) (protocol.FileEntry, error) {
	fd := int(d.Fd())
	var st unix.Stat_t
	if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return protocol.FileEntry{}, err
	}
	mode := fileMode(st.Mode)
	e := protocol.FileEntry{Name: name, Dir: mode.IsDir(), Size: st.Size, Mode: mode.String(), Modified: time.Unix(st.Mtim.Unix()).UnixMilli()}
	if mode&fs.ModeSymlink != 0 {
		buf := make([]byte, unix.PathMax)
		if n, err := unix.Readlinkat(fd, name, buf); err == nil {
			e.Link = string(buf[:n])
		}
		e.Size = 0
	}
	return e, nil
}

// fileMode is a stat mode as Go's file mode (as os.Lstat makes it).
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// inDir runs f on folder dir opened without following any link on the
// way (openat2 RESOLVE_NO_SYMLINKS): a folder on the path swapped for a
// link after the checks does not redirect the change elsewhere.
func inDir(dir string, f func(fd int) error) error {
	d, err := openNoFollow(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	return f(int(d.Fd()))
}

// removeIn removes the file, link or empty folder name in dir.
func removeIn(dir, name string) error {
	return inDir(dir, func(fd int) error {
		err := unix.Unlinkat(fd, name, 0)
		if errors.Is(err, unix.EISDIR) {
			err = unix.Unlinkat(fd, name, unix.AT_REMOVEDIR)
		}
		if err != nil {
			return &os.PathError{Op: "remove", Path: filepath.Join(dir, name), Err: err}
		}
		return nil
	})
}

// renameIn renames from to to within dir, failing if to exists
// (renameat2 NOREPLACE).
func renameIn(dir, from, to string) error {
	return inDir(dir, func(fd int) error {
		err := unix.Renameat2(fd, from, fd, to, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			// A file system without it: check, then rename.
			var st unix.Stat_t
			if unix.Fstatat(fd, to, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
				return ErrExists
			}
			err = unix.Renameat(fd, from, fd, to)
		}
		if errors.Is(err, unix.EEXIST) {
			return ErrExists
		}
		if err != nil {
			return &os.LinkError{Op: "rename", Old: filepath.Join(dir, from), New: filepath.Join(dir, to), Err: err}
		}
		return nil
	})
}
