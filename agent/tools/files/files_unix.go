//go:build !windows

package files

import (
	"os"
	"syscall"
)

// nameOK: any name the rules above let through is a file name here.
func nameOK(string) bool { return true }

// ownPart reports whether a partial upload file is the service's own and
// has no other name: one a local user made, or linked to another file,
// is not written to.
func ownPart(_ *os.File, fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid() && st.Nlink == 1
}
