//go:build !linux && !windows && !darwin

package inventory

import (
	"context"
	"errors"
)

// errUnsupported is reported (at debug level) on systems without a port.
var errUnsupported = errors.New("not implemented on this OS")

func osVersion(context.Context) (string, error) { return "", errUnsupported }

func loggedInUsers(context.Context) ([]string, error) { return nil, errUnsupported }
