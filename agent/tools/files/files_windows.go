package files

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/tetherdesk/tether/shared/protocol"
)

// nameOK refuses what Windows' own path handling cannot open: a stream
// (name:stream), the characters <>"|?*, a trailing dot or space, and the
// device names (CON, NUL, COM1.txt...). Renames go below that handling
// and could make such names.
func nameOK(name string) bool {
	if strings.ContainsAny(name, `:<>"|?*`) || strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") {
		return false
	}
	base, _, _ := strings.Cut(strings.ToUpper(name), ".")
	base = strings.TrimRight(base, " ")
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return false
	}
	if d, ok := strings.CutPrefix(base, "COM"); ok && isPortDigit(d) {
		return false
	}
	if d, ok := strings.CutPrefix(base, "LPT"); ok && isPortDigit(d) {
		return false
	}
	return true
}

func isPortDigit(d string) bool {
	return len(d) == 1 && d[0] >= '0' && d[0] <= '9' || d == "¹" || d == "²" || d == "³"
}

// roots are the drives.
// dirFlag: CreateFile opens folders with FILE_FLAG_BACKUP_SEMANTICS,
// which openVerified always gives.
const dirFlag = 0

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

// openVerified opens p itself (FILE_FLAG_OPEN_REPARSE_POINT: a link or
// junction that p is, never its target; BACKUP_SEMANTICS: folders too)
// and checks by the handle that it is the file at p: a folder on the way
// swapped for a junction after noLinks shows in the handle's final path.
// access and disposition are CreateFile's.
func openVerified(p string, access, disposition uint32) (windows.Handle, error) {
	name, err := windows.UTF16PtrFromString(p)
	if err != nil {
		return 0, err
	}
	share := uint32(windows.FILE_SHARE_READ | windows.FILE_SHARE_WRITE | windows.FILE_SHARE_DELETE)
	if access&windows.GENERIC_WRITE != 0 {
		share &^= windows.FILE_SHARE_WRITE // what is written here, nobody else writes meanwhile
	}
	h, err := windows.CreateFile(name, access, share, nil,
		disposition, windows.FILE_FLAG_OPEN_REPARSE_POINT|windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: p, Err: err}
	}
	got, err := finalPath(h)
	if err == nil && !strings.EqualFold(strings.TrimPrefix(got, `\\?\`), p) {
		err = fmt.Errorf("%w (%s leads to %s)", ErrLink, p, got)
	}
	if err != nil {
		windows.CloseHandle(h)
		return 0, err
	}
	return h, nil
}

// finalPath is where handle h's file is, as a drive path (\\?\C:\...).
func finalPath(h windows.Handle) (string, error) {
	buf := make([]uint16, 512)
	for {
		n, err := windows.GetFinalPathNameByHandle(h, &buf[0], uint32(len(buf)), 0)
		if err != nil {
			return "", fmt.Errorf("the path of an open file: %w", err)
		}
		if int(n) < len(buf) {
			return windows.UTF16ToString(buf[:n]), nil
		}
		buf = make([]uint16, n+1)
	}
}

// openNoFollow opens the file at p for reading, or for reading and
// writing (created when missing) with os.O_RDWR|os.O_CREATE; perm has no
// meaning here.
func openNoFollow(p string, flag int, _ os.FileMode) (*os.File, error) {
	access, disposition := uint32(windows.GENERIC_READ), uint32(windows.OPEN_EXISTING)
	if flag&(os.O_RDWR|os.O_WRONLY) != 0 {
		access |= windows.GENERIC_WRITE
	}
	if flag&os.O_CREATE != 0 {
		disposition = windows.OPEN_ALWAYS
	}
	h, err := openVerified(p, access, disposition)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(h), p), nil
}

// removeIn removes the file, link or empty folder name in dir, by a
// handle checked to be that file (openVerified). A read-only file loses
// that attribute first, as os.Remove and Explorer do.
func removeIn(dir, name string) error {
	p := filepath.Join(dir, name)
	h, err := openVerified(p, windows.DELETE|windows.FILE_READ_ATTRIBUTES|windows.FILE_WRITE_ATTRIBUTES, windows.OPEN_EXISTING)
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		h, err = openVerified(p, windows.DELETE, windows.OPEN_EXISTING)
	}
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	del := byte(1) // FILE_DISPOSITION_INFO.DeleteFile
	err = windows.SetFileInformationByHandle(h, windows.FileDispositionInfo, &del, 1)
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		var basic fileBasicInfo
		if windows.GetFileInformationByHandleEx(h, windows.FileBasicInfo, (*byte)(unsafe.Pointer(&basic)), uint32(unsafe.Sizeof(basic))) == nil &&
			basic.FileAttributes&windows.FILE_ATTRIBUTE_READONLY != 0 {
			was := basic.FileAttributes
			basic.FileAttributes &^= windows.FILE_ATTRIBUTE_READONLY
			if basic.FileAttributes == 0 {
				basic.FileAttributes = windows.FILE_ATTRIBUTE_NORMAL
			}
			basic.CreationTime, basic.LastAccessTime, basic.LastWriteTime, basic.ChangeTime = 0, 0, 0, 0 // unchanged
			if windows.SetFileInformationByHandle(h, windows.FileBasicInfo, (*byte)(unsafe.Pointer(&basic)), uint32(unsafe.Sizeof(basic))) == nil {
				if err = windows.SetFileInformationByHandle(h, windows.FileDispositionInfo, &del, 1); err != nil {
					basic.FileAttributes = was
					windows.SetFileInformationByHandle(h, windows.FileBasicInfo, (*byte)(unsafe.Pointer(&basic)), uint32(unsafe.Sizeof(basic)))
				}
			}
		}
	}
	if err != nil {
		return &os.PathError{Op: "remove", Path: p, Err: err}
	}
	return nil
}

// fileBasicInfo is FILE_BASIC_INFO; a time of 0 is left as it is.
type fileBasicInfo struct {
	CreationTime, LastAccessTime, LastWriteTime, ChangeTime int64
	FileAttributes                                          uint32
	_                                                       uint32
}

// fileRenameInformation is FILE_RENAME_INFORMATION with room for a name.
type fileRenameInformation struct {
	Flags          uint32 // ReplaceIfExists: 0, never
	RootDirectory  windows.Handle
	FileNameLength uint32 // bytes
	FileName       [protocol.MaxFileName + 1]uint16
}

// renameIn renames from to to within dir, failing if to exists: the file
// by a handle checked to be it, the new name relative to the folder
// opened and checked the same way.
func renameIn(dir, from, to string) error {
	d, err := openVerified(dir, windows.GENERIC_READ, windows.OPEN_EXISTING)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(d)
	h, err := openVerified(filepath.Join(dir, from), windows.DELETE|windows.SYNCHRONIZE, windows.OPEN_EXISTING)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	name, err := windows.UTF16FromString(to)
	if err != nil || len(name)-1 > protocol.MaxFileName {
		return fmt.Errorf("%w: %q", ErrBadName, to)
	}
	info := fileRenameInformation{RootDirectory: d, FileNameLength: uint32(2 * (len(name) - 1))}
	copy(info.FileName[:], name)
	var iosb windows.IO_STATUS_BLOCK
	err = windows.NtSetInformationFile(h, &iosb, (*byte)(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)), windows.FileRenameInformation)
	if err == windows.STATUS_OBJECT_NAME_COLLISION {
		return ErrExists
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: filepath.Join(dir, from), New: filepath.Join(dir, to), Err: err}
	}
	return nil
}

// ownPart reports whether a partial upload file has no other name (a
// hard link a local user made to another file). Its owner is not
// checked here; while the service holds it open for writing nobody else
// may write to it (openNoFollow shares it for reading only).
func ownPart(f *os.File, _ os.FileInfo) bool {
	var info windows.ByHandleFileInformation
	return windows.GetFileInformationByHandle(windows.Handle(f.Fd()), &info) == nil && info.NumberOfLinks == 1
}
