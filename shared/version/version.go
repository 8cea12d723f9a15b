// Package version reports the build's version, stamped by the linker:
// -ldflags "-X github.com/tetherdesk/tether/shared/version.Version=v1.2.3".
package version

// Version is the release this binary was built from.
var Version = "dev"
