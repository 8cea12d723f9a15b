//go:build !windows

package wineskip

// Version is "": only Windows programs run under Wine.
func Version() string { return "" }
