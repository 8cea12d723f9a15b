//go:build unix && !linux && !darwin

package ipc

import "errors"

func peerUID(int) (uint32, error) {
	return 0, errors.New("peer credentials are not supported on this platform")
}
