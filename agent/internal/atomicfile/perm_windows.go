//go:build windows

package atomicfile

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// Unix modes mean little on Windows and %ProgramData% is readable by all
// users, so private files and directories get a protected DACL instead:
// full control for SYSTEM, Administrators and the owner, nothing inherited.
const (
	privateDirSDDL  = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;OW)"
	privateFileSDDL = "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;OW)"
)

func restrictFile(_ *os.File, name string, perm os.FileMode) error {
	if perm&0o077 != 0 {
		// A deliberately shared file keeps the inherited ACL.
		return nil
	}
	return setDACL(name, privateFileSDDL)
}

func restrictDir(dir string) error {
	return setDACL(dir, privateDirSDDL)
}

func tightenExistingDir(string, os.FileInfo) error { return nil }

func setDACL(path, sddl string) error {
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return fmt.Errorf("parsing security descriptor: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("reading DACL: %w", err)
	}
	return windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION,
		nil, nil, dacl, nil)
}

// syncDir is a no-op: Windows cannot open a directory for FlushFileBuffers
// without backup semantics, and NTFS journals the rename itself.
func syncDir(string) error { return nil }
