//go:build !cgo

package capture

import (
	"fmt"

	"github.com/tetherdesk/tether/agent/remotedesktop"
)

// newRD: reading PipeWire streams needs cgo.
func newRD(*remotedesktop.Shared) (Source, error) {
	return nil, fmt.Errorf("%w: PipeWire capture (built without cgo)", ErrUnknownMethod)
}
