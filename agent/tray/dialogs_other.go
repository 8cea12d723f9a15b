//go:build !windows

package tray

// NewDialogs are the tray's dialogs: zenity's.
func NewDialogs() Dialogs { return ZenityDialogs{} }
