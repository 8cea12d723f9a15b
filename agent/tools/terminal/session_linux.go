package terminal

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// sessionMembers lists the processes of session sid (the shell leads
// one of its own), from /proc.
func sessionMembers(sid int) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var pids []int
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp session …; comm may hold spaces
		// and parentheses, so count from the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		if len(f) < 4 {
			continue
		}
		if s, err := strconv.Atoi(string(f[3])); err == nil && s == sid {
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(d))); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}
