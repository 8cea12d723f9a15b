package inventory

import (
	"context"
	"fmt"
	"os/exec"
	"time"
)

// macOS keeps logins in utmpx, whose layout and API differ from Linux utmp;
// `who` reads it for us and needs no cgo. sw_vers likewise avoids parsing
// SystemVersion.plist.

const commandTimeout = 5 * time.Second

func osVersion(ctx context.Context) (string, error) {
	out, err := runCommand(ctx, "/usr/bin/sw_vers")
	if err != nil {
		return "", err
	}
	return parseSwVers(out), nil
}

func loggedInUsers(ctx context.Context) ([]string, error) {
	out, err := runCommand(ctx, "/usr/bin/who")
	if err != nil {
		return nil, err
	}
	return parseWho(out), nil
}

func runCommand(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return "", fmt.Errorf("running %s: %w", name, err)
	}
	return string(out), nil
}
