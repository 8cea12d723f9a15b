// Package wineskip lets a Windows test that cannot pass under Wine skip
// there, and only there, saying which Windows API Wine lacks and why
// (a Wine bug number or a note). The Wine test runner (internal/wintest)
// refuses skips that do not come from here.
package wineskip

import "testing"

// Marker starts every skip message If writes; internal/wintest looks for it.
const Marker = "under Wine"

// If skips t when this process runs under Wine, naming the missing Windows
// api and a note (or Wine bug number). On Windows itself it does nothing.
func If(t testing.TB, api, note string) {
	t.Helper()
	if v := Version(); v != "" {
		t.Skipf("%s %s: %s: %s", Marker, v, api, note)
	}
}
