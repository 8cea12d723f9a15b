package config

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// DefaultConfigFile is the config file read when none is chosen.
func DefaultConfigFile() string { return filepath.Join(programData(), "Tether", "agent.yaml") }

// DefaultStateDir is the default of state_dir.
func DefaultStateDir() string { return filepath.Join(programData(), "Tether", "state") }

// programData asks the shell for the ProgramData folder rather than the
// environment, which need not name it: the service and the administrator
// who runs `tether-agent install` must agree on where the state lives (Wine
// gives services ProgramData=C:\users\Public).
func programData() string {
	if p, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0); err == nil && p != "" {
		return p
	}
	if p := os.Getenv("ProgramData"); p != "" {
		return p
	}
	return `C:\ProgramData`
}
