//go:build !linux && !windows

package session

import "errors"

func defaultClipboard() (Clipboard, error) {
	return nil, errors.New("clipboard sync is not implemented on this platform yet")
}

func defaultOverlay() (Overlay, error) {
	return nil, errors.New("the guidance overlay is not implemented on this platform yet")
}
