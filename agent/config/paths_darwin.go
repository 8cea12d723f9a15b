package config

// DefaultConfigFile is the config file read when none is chosen.
func DefaultConfigFile() string { return "/Library/Application Support/Tether/agent.yaml" }

// DefaultStateDir is the default of state_dir.
func DefaultStateDir() string { return "/Library/Application Support/Tether/state" }
