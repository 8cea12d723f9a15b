package testenv

import (
	"bytes"
	"strings"
	"sync"
)

// Lines collects output line by line, safe for concurrent use.
type Lines struct {
	mu      sync.Mutex
	all     []string
	partial []byte
}

func (l *Lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.all = append(l.all, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

// Complete returns the complete (newline-terminated) lines so far.
func (l *Lines) Complete() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.all...)
}

// Lines returns the complete lines so far plus any unterminated tail.
func (l *Lines) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]string(nil), l.all...)
	if len(l.partial) > 0 {
		out = append(out, string(l.partial))
	}
	return out
}

func (l *Lines) String() string { return strings.Join(l.Lines(), "\n") }
