//go:build !linux && !windows

package services

import "context"

func open(context.Context) (Manager, error) { return nil, ErrUnsupported }
