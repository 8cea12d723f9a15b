//go:build !windows

package main

import "log/slog"

// systemd sends stderr to the journal and launchd to a log file.
const useSystemLog = false

// serviceDependencies are systemd unit lines (launchd ignores them): start
// once the network is up so that the first poll does not fail.
func serviceDependencies() []string {
	return []string{"After=network-online.target", "Wants=network-online.target"}
}

// runUnderSCM is for Windows only.
func runUnderSCM(*program) (bool, error) { return false, nil }

// dpiAware is for Windows only.
func dpiAware(*slog.Logger) {}
