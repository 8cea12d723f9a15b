//go:build !cgo || !(linux || windows || darwin)

package input

import "fmt"

// Without cgo there is no robotgo, hence no injection.
func newDriver(Config) (driver, error) {
	return nil, fmt.Errorf("%w (built without cgo)", ErrUnsupported)
}
