package files

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// roots are the drives.
func roots() []string {
	mask, err := windows.GetLogicalDrives()
	if err != nil {
		return []string{`C:\`}
	}
	var out []string
	for i := 0; i < 26; i++ {
		if mask&(1<<i) != 0 {
			out = append(out, string(rune('A'+i))+`:\`)
		}
	}
	return out
}

// openNoFollow opens p; the links on the way were refused by noLinks
// (FILE_FLAG_OPEN_REPARSE_POINT would open the link itself).
func openNoFollow(p string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(p, flag, perm)
}

// removeIn removes name in dir by path: the folders on the way were
// checked for reparse points (noLinks).
func removeIn(dir, name string) error { return os.Remove(filepath.Join(dir, name)) }

// renameIn renames from to to within dir, failing if to exists (MoveFileEx
// without MOVEFILE_REPLACE_EXISTING).
func renameIn(dir, from, to string) error {
	f, err := windows.UTF16PtrFromString(filepath.Join(dir, from))
	if err != nil {
		return err
	}
	t, err := windows.UTF16PtrFromString(filepath.Join(dir, to))
	if err != nil {
		return err
	}
	if err := windows.MoveFileEx(f, t, 0); err != nil {
		if err == windows.ERROR_ALREADY_EXISTS || err == windows.ERROR_FILE_EXISTS {
			return ErrExists
		}
		return err
	}
	return nil
}

// ownPart: Windows gives no owner in FileInfo; the folder was checked for
// reparse points, and the file was opened as a regular file.
func ownPart(os.FileInfo) bool { return true }
