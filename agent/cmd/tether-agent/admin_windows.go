package main

import "golang.org/x/sys/windows"

// runsAsAdministrator: the service runs as LocalSystem (or an elevated
// administrator).
func runsAsAdministrator() bool { return windows.GetCurrentProcessToken().IsElevated() }
