package groups

import (
	"testing"

	"github.com/tetherdesk/tether/shared/policy"
)

// TestWeakerConsent: what counts as weakening consent.
func TestWeakerConsent(t *testing.T) {
	strict := policy.Default()
	for _, tc := range []struct {
		name string
		edit func(*policy.ScreenShare)
		want int
	}{
		{"same", func(*policy.ScreenShare) {}, 0},
		{"acceptance off", func(p *policy.ScreenShare) { p.AcceptanceRequired = false }, 1},
		{"unattended on", func(p *policy.ScreenShare) { p.UnattendedAllowed = true }, 1},
		{"user may not end", func(p *policy.ScreenShare) { p.UserMayEnd = false }, 1},
		{"longer prompt is not weaker", func(p *policy.ScreenShare) { p.AcceptanceTimeoutS = 120 }, 0},
		{"two at once", func(p *policy.ScreenShare) { p.AcceptanceRequired, p.UnattendedAllowed = false, true }, 2},
	} {
		after := strict
		tc.edit(&after)
		if got := weakerConsent(strict, after); len(got) != tc.want {
			t.Errorf("%s: %v, want %d", tc.name, got, tc.want)
		}
	}
	open := policy.Default()
	open.ClipboardSync, open.FileTransfer = false, false
	if got := weakerConsent(open, policy.Default()); len(got) != 2 {
		t.Errorf("clipboard and files switched on: %v, want both", got)
	}
}
