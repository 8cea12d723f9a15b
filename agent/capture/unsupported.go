//go:build s390x || ppc64le || !(linux || windows || freebsd || openbsd || netbsd || (darwin && cgo))

package capture

// Platforms github.com/kbinani/screenshot cannot capture on (macOS built
// without cgo, some architectures): no Source at all.
func newSource(Config) (Source, error) { return nil, ErrUnsupported }
