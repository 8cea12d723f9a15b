package testenv

import (
	"os"
	"os/user"
	"strconv"
)

// DesktopUser is whom a test's desktop (a compositor and its session)
// runs as: the test's own user, or nobody where the test runs as root,
// because compositors refuse root (sway) and D-Bus lets no uid without an
// account in.
func DesktopUser() (uid, gid int) {
	if os.Geteuid() != 0 {
		return os.Geteuid(), os.Getegid()
	}
	if u, err := user.Lookup("nobody"); err == nil {
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 == nil && err2 == nil && uid > 0 {
			return uid, gid
		}
	}
	return 64100, 64100
}
