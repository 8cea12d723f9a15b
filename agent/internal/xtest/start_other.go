//go:build !unix

package xtest

// Start reports Xvfb missing: there is none off Unix.
func Start(Options) (*Server, error) { return nil, ErrNoXvfb }
