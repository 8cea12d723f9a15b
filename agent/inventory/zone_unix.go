//go:build unix

package inventory

import (
	"os"
	"strings"
	"time"
)

// localZoneName reads the system's zone from the /etc/localtime link
// (…/zoneinfo/Europe/Berlin), else /etc/timezone (Debian's).
func localZoneName() string {
	if target, err := os.Readlink("/etc/localtime"); err == nil {
		if _, name, ok := strings.Cut(target, "zoneinfo/"); ok {
			if _, err := time.LoadLocation(name); err == nil {
				return name
			}
		}
	}
	if b, err := os.ReadFile("/etc/timezone"); err == nil {
		name := strings.TrimSpace(string(b))
		if _, err := time.LoadLocation(name); err == nil && name != "" {
			return name
		}
	}
	return ""
}
