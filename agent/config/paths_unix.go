//go:build !windows && !darwin

package config

// DefaultConfigFile is the config file read when none is chosen.
func DefaultConfigFile() string { return "/etc/tether/agent.yaml" }

// DefaultStateDir is the default of state_dir.
func DefaultStateDir() string { return "/var/lib/tether-agent" }
