//go:build !linux && !darwin

package main

// systemSocketDir: none; Windows will use a named pipe (not implemented
// yet, see agent/ipc).
const systemSocketDir = ""
