//go:build !linux && !darwin && !windows

package terminal

// defaultShell names a shell where no terminal is written yet.
const defaultShell = "/bin/sh"

func startPTY(Config) (pty, error) { return nil, ErrUnsupported }

func loginShell() string { return "" }
