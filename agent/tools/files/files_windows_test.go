package files

import (
	"errors"
	"testing"
)

// TestWindowsCleanRefusesShares: only the endpoint's own drives are
// opened; shares and device paths are refused.
func TestWindowsCleanRefusesShares(t *testing.T) {
	for _, p := range []string{`\\attacker\share\x`, `\\?\C:\Windows`, `\\.\PhysicalDrive0`} {
		if _, err := Clean(p); !errors.Is(err, ErrNotAbsolute) {
			t.Errorf("Clean(%q) = %v, want refused", p, err)
		}
	}
	if got, err := Clean(`C:\Users\Public\..x`); err != nil || got != `C:\Users\Public\..x` {
		t.Errorf("a drive path: %q, %v", got, err)
	}
	if _, err := Clean(`C:\Users\..\Windows`); !errors.Is(err, ErrDotDot) {
		t.Errorf("a .. on a drive: %v", err)
	}
}
