//go:build !linux && !darwin

package terminal

// defaultShell is what Windows would run once ConPTY is in.
const defaultShell = "cmd.exe"

func startPTY(Config) (pty, error) { return nil, ErrUnsupported }

func loginShell() string { return "" }
