package main

import "golang.org/x/sys/unix"

// No transparent huge pages for the agent and what it starts: a huge page
// of the binary's text or of the heap is resident whole however little of
// it is used, and the agent sits on every endpoint. The helper's peak RSS
// during a screen share fell by about 8 MB (make bench-screen).
func init() { _ = unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0) }
