//go:build !linux

package auth

// memoryAvailable is unknown here: DefaultConcurrency falls back to the CPUs.
func memoryAvailable() uint64 { return 0 }
