//go:build !linux && !windows

package desktop

import (
	"errors"

	"github.com/tetherdesk/tether/agent/session"
)

func NewClipboard() (session.Clipboard, error) {
	return nil, errors.New("clipboard sync is not implemented on this platform yet")
}

func NewOverlay() (session.Overlay, error) {
	return nil, errors.New("the guidance overlay is not implemented on this platform yet")
}
