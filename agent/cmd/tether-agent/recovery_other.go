//go:build !windows

package main

import "log/slog"

// ensureRecovery: systemd and launchd restart the agent from their unit and
// plist.
func ensureRecovery(*slog.Logger) {}

// setDelayedStart: systemd orders the unit after the network instead.
func setDelayedStart() error { return nil }
