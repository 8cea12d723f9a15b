package inventory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// utmpPath is where glibc keeps the current logins. Systems that dropped
// utmp (some systemd-only setups) simply report no users.
const utmpPath = "/var/run/utmp"

func osVersion(context.Context) (string, error) {
	var firstErr error
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		data, err := os.ReadFile(p)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		return parseOSRelease(string(data)), nil
	}
	return "", fmt.Errorf("reading os-release: %w", firstErr)
}

func loggedInUsers(context.Context) ([]string, error) {
	f, err := os.Open(utmpPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening utmp: %w", err)
	}
	defer f.Close()
	// A few thousand sessions fit in 1 MiB; the cap only guards against a
	// corrupted file.
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading utmp: %w", err)
	}
	return parseUtmp(data), nil
}
