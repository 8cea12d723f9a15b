//go:build !windows

package supervisor

import "errors"

// sendSAS: only Windows has a secure attention sequence raised by a
// service; elsewhere the helper injects the keys itself.
func sendSAS() error { return errors.New("Ctrl+Alt+Del through the service is Windows only") }
