//go:build !linux

package supervisor

// prepareHelper: only Linux login screens need anything (greeterauth_linux.go).
func prepareHelper(Desktop) (env []string, cleanup func(), err error) { return nil, func() {}, nil }
