package config

import (
	"os"
	"path/filepath"
)

// DefaultConfigFile is the config file read when none is chosen.
func DefaultConfigFile() string { return filepath.Join(programData(), "Tether", "agent.yaml") }

// DefaultStateDir is the default of state_dir.
func DefaultStateDir() string { return filepath.Join(programData(), "Tether", "state") }

func programData() string {
	if p := os.Getenv("ProgramData"); p != "" {
		return p
	}
	return `C:\ProgramData`
}
