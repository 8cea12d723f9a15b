package installer

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed macos
var macFiles embed.FS

// MacIdentifier is the .pkg's package identifier.
const MacIdentifier = "com.tetherdesk.tether-agent"

type payloadFile struct {
	path string
	body []byte
	mode os.FileMode
}

// MacPayload lays out what pkgbuild makes the agent's .pkg of, in dir:
// root/ (the payload: the binary, the LaunchDaemon, the configuration the
// package carries) and scripts/ (preinstall, postinstall). pkgbuild is a
// macOS tool: it returns the command that builds the .pkg there. With
// binary "" the payload lacks /usr/local/bin/tether-agent, which is then
// built on the Mac (cgo against the macOS SDK) and copied in first.
func MacPayload(dir, binary, version string, config []byte) (string, error) {
	root, scripts := filepath.Join(dir, "root"), filepath.Join(dir, "scripts")
	put := func(path string, body []byte, mode os.FileMode) error {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return os.WriteFile(path, body, mode)
	}
	plist, err := macFiles.ReadFile("macos/tether-agent.plist")
	if err != nil {
		return "", err
	}
	if config == nil {
		config = []byte(defaultAgentConfig)
	}
	files := []payloadFile{
		{filepath.Join(root, "Library/LaunchDaemons/tether-agent.plist"), plist, 0o644},
		// postinstall moves it into place only where there is no config yet.
		{filepath.Join(root, "Library/Application Support/Tether/agent.yaml.default"), config, 0o600},
	}
	for _, s := range []string{"preinstall", "postinstall"} {
		b, err := fs.ReadFile(macFiles, "macos/"+s)
		if err != nil {
			return "", err
		}
		files = append(files, payloadFile{filepath.Join(scripts, s), b, 0o755})
	}
	if binary != "" {
		b, err := os.ReadFile(binary)
		if err != nil {
			return "", fmt.Errorf("installer: the macOS agent: %w", err)
		}
		files = append(files, payloadFile{filepath.Join(root, "usr/local/bin/tether-agent"), b, 0o755})
	}
	for _, f := range files {
		if err := put(f.path, f.body, f.mode); err != nil {
			return "", fmt.Errorf("installer: %w", err)
		}
	}
	v, _ := PackageVersion(version)
	return fmt.Sprintf("pkgbuild --root root --scripts scripts --identifier %s --version %s --install-location / tether-agent-%s.pkg", MacIdentifier, v, v), nil
}
