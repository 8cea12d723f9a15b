package files

import (
	"os"

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

// renameNoReplace renames, failing if to exists (MoveFileEx without
// MOVEFILE_REPLACE_EXISTING).
func renameNoReplace(from, to string) error {
	f, err := windows.UTF16PtrFromString(from)
	if err != nil {
		return err
	}
	t, err := windows.UTF16PtrFromString(to)
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
