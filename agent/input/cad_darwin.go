//go:build cgo

package input

import "fmt"

// macOS has no Ctrl+Alt+Del.
var errCtrlAltDel = fmt.Errorf("%w: ctrl-alt-del on macOS", ErrUnsupported)
