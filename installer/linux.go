// Package installer builds Tether's packages: the agent's and the server's
// .deb and .rpm (with nfpm, in-process, so that the server can stamp a
// package with an enrollment token on download), their systemd units and
// maintainer scripts.
package installer

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager

	"github.com/tetherdesk/tether/agent/config"
)

//go:embed linux
var linuxFiles embed.FS

// Component is what a package installs.
type Component string

const (
	Agent  Component = "tether-agent"
	Server Component = "tether-server"
)

// Formats of the Linux packages.
const (
	Deb = "deb"
	RPM = "rpm"
)

// Linux describes one .deb or .rpm.
type Linux struct {
	Component Component
	// Version is what `git describe --tags` printed; PackageVersion turns
	// it into the package's version and release.
	Version string
	Arch    string // Go's name: amd64, arm64
	Binary  string // path of the binary to ship as /usr/bin/<component>
	// Config is the configuration file's content; nil ships the default
	// (an agent's names no server, so its service is not started).
	Config []byte
	// MTime stamps every file, so that a build is reproducible; zero is the
	// Unix epoch.
	MTime time.Time
	// GPGKey, when set, is an OpenPGP private key file (armored or binary)
	// that signs the package: the .deb with a debsign _gpgorigin member,
	// the .rpm with a header signature. Without it the package is unsigned.
	GPGKey        string
	GPGPassphrase string
}

// ConfigPath is where each component's configuration file is installed.
func ConfigPath(c Component) string {
	if c == Agent {
		return "/etc/tether/agent.yaml"
	}
	return "/etc/tether/server.yaml"
}

// FileName is the package's conventional file name.
func (p Linux) FileName(format string) string {
	v, r := PackageVersion(p.Version)
	if format == RPM {
		return fmt.Sprintf("%s-%s-%s.%s.rpm", p.Component, v, r, rpmArch(p.Arch))
	}
	return fmt.Sprintf("%s_%s-%s_%s.deb", p.Component, v, r, p.Arch)
}

// Build writes the package in format (Deb or RPM) to w.
func (p Linux) Build(format string, w io.Writer) error {
	if p.Component != Agent && p.Component != Server {
		return fmt.Errorf("installer: unknown component %q", p.Component)
	}
	if format != Deb && format != RPM {
		return fmt.Errorf("installer: unknown format %q (want deb or rpm)", format)
	}
	if _, err := os.Stat(p.Binary); err != nil {
		return fmt.Errorf("installer: the %s binary: %w", p.Component, err)
	}
	// nfpm reads every file from a path: lay ours out in a scratch folder.
	dir, err := os.MkdirTemp("", "tether-pkg-")
	if err != nil {
		return fmt.Errorf("installer: %w", err)
	}
	defer os.RemoveAll(dir)
	info, err := p.info(dir, format)
	if err != nil {
		return fmt.Errorf("installer: %w", err)
	}
	pkger, err := nfpm.Get(format)
	if err != nil {
		return fmt.Errorf("installer: %w", err)
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return fmt.Errorf("installer: %s %s: %w", p.Component, format, err)
	}
	if err := pkger.Package(info, w); err != nil {
		return fmt.Errorf("installer: building %s %s: %w", p.Component, format, err)
	}
	return nil
}

func (p Linux) info(dir, format string) (*nfpm.Info, error) {
	name := string(p.Component)
	short := strings.TrimPrefix(name, "tether-") // agent, server
	write := func(file string, body []byte) (string, error) {
		path := filepath.Join(dir, file)
		return path, os.WriteFile(path, body, 0o644)
	}
	embedded := func(file string) (string, error) {
		body, err := linuxFiles.ReadFile("linux/" + file)
		if err != nil {
			return "", err
		}
		return write(file, body)
	}
	cfg := p.Config
	if cfg == nil {
		if p.Component == Agent {
			cfg = []byte(defaultAgentConfig)
		} else {
			b, err := linuxFiles.ReadFile("linux/server.yaml")
			if err != nil {
				return nil, err
			}
			cfg = b
		}
	}
	cfgPath, err := write(short+".yaml", cfg)
	if err != nil {
		return nil, err
	}
	unit, err := embedded(name + ".service")
	if err != nil {
		return nil, err
	}
	var scripts nfpm.Scripts
	prerm, err := linuxFiles.ReadFile("linux/prerm.sh")
	if err != nil {
		return nil, err
	}
	if scripts.PreRemove, err = write("prerm.sh", bytes.ReplaceAll(prerm, []byte("SERVICE"), []byte(name))); err != nil {
		return nil, err
	}
	for _, s := range []struct {
		file string
		to   *string
	}{
		{short + "-preinst.sh", &scripts.PreInstall},
		{short + "-postinst.sh", &scripts.PostInstall},
		{short + "-postrm.sh", &scripts.PostRemove},
	} {
		if _, err := linuxFiles.Open("linux/" + s.file); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if *s.to, err = embedded(s.file); err != nil {
			return nil, err
		}
	}
	// The agent's config may carry an enrollment token: root only. The
	// server's is read by the tether group (postinst sets it).
	cfgMode := os.FileMode(0o600)
	if p.Component == Server {
		cfgMode = 0o640
	}
	mtime := p.MTime
	if mtime.IsZero() {
		mtime = time.Unix(0, 0).UTC()
	}
	contents := files.Contents{
		{Source: p.Binary, Destination: "/usr/bin/" + name, FileInfo: &files.ContentFileInfo{Mode: 0o755, MTime: mtime}},
		{Source: unit, Destination: "/usr/lib/systemd/system/" + name + ".service", FileInfo: &files.ContentFileInfo{Mode: 0o644, MTime: mtime}},
		{Source: cfgPath, Destination: ConfigPath(p.Component), Type: files.TypeConfigNoReplace, FileInfo: &files.ContentFileInfo{Mode: cfgMode, MTime: mtime}},
		{Destination: "/etc/tether", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o755, MTime: mtime}},
	}
	if p.Component == Agent {
		// Desktops with no tray icon: the code dialog from the menu.
		entry, err := embedded("tether-code.desktop")
		if err != nil {
			return nil, err
		}
		contents = append(contents, &files.Content{Source: entry, Destination: "/usr/share/applications/tether-code.desktop",
			FileInfo: &files.ContentFileInfo{Mode: 0o644, MTime: mtime}})
	}
	version, release := PackageVersion(p.Version)
	info := &nfpm.Info{
		Name:          name,
		Arch:          p.Arch,
		Platform:      "linux",
		Version:       version,
		Release:       release,
		VersionSchema: "none",
		Section:       "net",
		Priority:      "optional",
		Maintainer:    "Tether <packages@tether.invalid>",
		Vendor:        "Tether",
		Homepage:      "https://github.com/tetherdesk/tether",
		License:       "Proprietary",
		MTime:         mtime,
		Description:   description[p.Component],
		Overridables: nfpm.Overridables{
			Contents:   contents,
			Scripts:    scripts,
			Depends:    depends[format][p.Component],
			Recommends: recommends[format][p.Component],
			RPM: nfpm.RPM{Summary: summary[p.Component], Group: "Applications/Internet",
				Signature: nfpm.RPMSignature{PackageSignature: nfpm.PackageSignature{KeyFile: p.GPGKey, KeyPassphrase: p.GPGPassphrase}}},
			Deb: nfpm.Deb{Signature: nfpm.DebSignature{PackageSignature: nfpm.PackageSignature{KeyFile: p.GPGKey, KeyPassphrase: p.GPGPassphrase}}},
		},
	}
	return info, nil
}

var summary = map[Component]string{
	Agent:  "Tether remote-support agent",
	Server: "Tether remote-support server",
}

var description = map[Component]string{
	Agent: "Tether remote-support agent.\n" +
		"Runs as a system service: enrolls with a Tether server, polls it for actions\n" +
		"and policies, and starts the session helper that shares the screen over WebRTC.",
	Server: "Tether remote-support server.\n" +
		"The web console for technicians, the agents' API, session signalling and\n" +
		"the embedded TURN relay, on SQLite or PostgreSQL.",
}

// depends are the libraries the binaries load (the agent links X11 and
// XTest through cgo), by each format's package names.
var depends = map[string]map[Component][]string{
	Deb: {Agent: {"libx11-6", "libxtst6"}},
	RPM: {Agent: {"libX11", "libXtst"}},
}

// recommends are what the agent's helpers run to show dialogs (zenity),
// the chat, session bar and notification windows (tk's wish) and to open
// a notification's link (xdg-open), and libvpx, which the helper opens to
// send moving pictures as VP8 video (without it they go as JPEG tiles).
var recommends = map[string]map[Component][]string{
	Deb: {Agent: {"zenity", "tk", "xdg-utils", "libvpx7 | libvpx9 | libvpx8"}},
	RPM: {Agent: {"zenity", "tk", "xdg-utils", "libvpx"}},
}

// AgentConfig is the agent's configuration file naming the server, the
// enrollment token and, when set, the server certificate's fingerprint.
func AgentConfig(server, token, fingerprint string) ([]byte, error) {
	v := map[string]string{config.KeyServer: server, config.KeyToken: token}
	if fingerprint != "" {
		v[config.KeyFingerprint] = fingerprint
	}
	return config.Encode(v)
}

const defaultAgentConfig = "# Tether agent configuration. Set the server and an enrollment token:\n" +
	"#   tether-agent install --server https://SERVER:8443 --token TOKEN\n" +
	"# or download a package with both from the console (Settings > Enrollment tokens).\n"

var (
	describeRE = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)(?:-(\d+)-g([0-9a-f]+))?(-dirty)?$`)
	preRE      = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)-(.+)$`)
	countRE    = regexp.MustCompile(`-(\d+)-g[0-9a-f]+(?:-dirty)?$`)
	shaRE      = regexp.MustCompile(`(?:^|-g)([0-9a-f]{7,40})(-dirty)?$`)
	nonAlnum   = regexp.MustCompile(`[^A-Za-z0-9]+`)
)

// buildVersion is what `git describe --tags --always --dirty` says of a
// build; the package and MSI versions are made of it.
type buildVersion struct {
	version string // X.Y.Z of the tag; 0.0.0 without one
	number  int    // leads the release: 1 at the tag, +1 a commit; 0 before
	pre     string // a tag's own suffix (v1.2.3-rc1), sanitised
	sha     string
	dirty   bool
}

func parseDescribe(describe string) buildVersion {
	if m := describeRE.FindStringSubmatch(describe); m != nil {
		b := buildVersion{version: m[1] + "." + m[2] + "." + m[3], number: 1, sha: m[5], dirty: m[6] != ""}
		if m[4] != "" {
			n, _ := strconv.Atoi(m[4])
			b.number = n + 1
		}
		return b
	}
	if m := preRE.FindStringSubmatch(describe); m != nil {
		return buildVersion{version: m[1] + "." + m[2] + "." + m[3], pre: strings.Trim(nonAlnum.ReplaceAllString(m[4], "."), ".")}
	}
	b := buildVersion{version: "0.0.0"}
	if m := countRE.FindStringSubmatch(describe); m != nil {
		b.number, _ = strconv.Atoi(m[1])
	}
	if m := shaRE.FindStringSubmatch(describe); m != nil {
		b.sha, b.dirty = m[1], m[2] != ""
	}
	return b
}

// PackageVersion turns `git describe --tags --always --dirty` output into
// a package version and release that sort in commit order in both dpkg and
// rpm: v1.2.3 is 1.2.3-1; v1.2.3-4-gabc1234 (four commits later) is
// 1.2.3-5.gabc1234; v1.2.3-rc1 is 1.2.3-0.rc1; output without a version
// tag is 0.0.0 with the commit count it gives, and -dirty adds .dirty.
func PackageVersion(describe string) (version, release string) {
	b := parseDescribe(describe)
	release = strconv.Itoa(b.number)
	if b.pre != "" {
		return b.version, release + "." + b.pre
	}
	if b.sha != "" {
		release += ".g" + b.sha
	}
	if b.dirty {
		release += ".dirty"
	}
	return b.version, release
}

func rpmArch(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return goarch
}
