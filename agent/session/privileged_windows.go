package session

import "golang.org/x/sys/windows"

// RunningPrivileged reports whether this process runs as LocalSystem (a
// login screen's helper, on the Winlogon desktop): a helper that does
// sets HelperConfig.Privileged. When the token cannot be read, it says
// yes: the rule fails closed.
func RunningPrivileged() bool {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return true
	}
	return u.User.Sid.IsWellKnown(windows.WinLocalSystemSid)
}
