package app

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tetherdesk/tether/installer"
	"github.com/tetherdesk/tether/server/auth"
	"github.com/tetherdesk/tether/server/releases"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
	"github.com/tetherdesk/tether/shared/release"
)

// Installer is a package built for one download: the caller sends File
// and then closes it, which removes it.
type Installer struct {
	Name        string // file name for Content-Disposition
	ContentType string
	Version     string // the agent release inside
	File        *os.File
	Size        int64
}

// Close removes the package.
func (i Installer) Close() error {
	err := i.File.Close()
	os.Remove(i.File.Name())
	return err
}

// BuildInstaller builds an agent installer that carries the server's URL,
// its certificate fingerprint and the enrollment token id, so that
// `dpkg -i`, `rpm -i` or `msiexec /qn` with no argument installs and
// enrolls. The server keeps only the token's hash: the request brings the
// token, which must be the one with that id. It needs tokens.manage over
// the token's group; a token out of scope is not found.
func (s *Service) BuildInstaller(ctx context.Context, id string, req protocol.InstallerRequest) (Installer, error) {
	p, err := require(ctx, perm.TokensManage)
	if err != nil {
		return Installer{}, err
	}
	tok, err := s.tokenInScope(ctx, p, id)
	if err != nil {
		return Installer{}, err
	}
	if subtle.ConstantTimeCompare([]byte(auth.HashToken(req.Token)), []byte(tok.Hash)) != 1 {
		return Installer{}, badRequest("token is not the enrollment token " + id + " (the console has it from when the token was made)")
	}
	now := s.now()
	switch {
	case tok.Revoked != nil:
		return Installer{}, badRequest("enrollment token " + id + " is revoked")
	case tok.Expires != nil && !now.Before(*tok.Expires):
		return Installer{}, badRequest("enrollment token " + id + " has expired")
	}
	if s.cfg.PublicURL == "" {
		return Installer{}, fmt.Errorf("%w: the server does not know the URL agents reach it at; set public_url", ErrUnavailable)
	}
	if s.cfg.Releases == nil {
		return Installer{}, fmt.Errorf("%w: this server holds no agent releases", ErrUnavailable)
	}
	var out Installer
	switch req.Format {
	case protocol.InstallerDeb, protocol.InstallerRPM:
		out, err = s.linuxInstaller(req.Format, req.Token)
	case protocol.InstallerMSI:
		out, err = s.windowsInstaller(ctx, req.Token)
	default:
		return Installer{}, badRequest("format must be deb, rpm or msi")
	}
	if errors.Is(err, releases.ErrNone) {
		return Installer{}, fmt.Errorf("%w: %v", store.ErrNotFound, err)
	}
	if err != nil {
		return Installer{}, err
	}
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditInstallerBuilt,
		Details: details("token_id", id, "group", s.GroupName(ctx, tok.GroupID), "format", req.Format, "version", out.Version)}, func() error { return nil })
	if err != nil {
		out.Close()
		return Installer{}, err
	}
	return out, nil
}

// latestFile opens the newest release's file for goos (amd64) of kind,
// checked against its manifest.
func (s *Service) latestFile(goos, kind string) (string, *os.File, error) {
	r, f, err := s.cfg.Releases.Latest(goos, "amd64", kind)
	if err != nil {
		return "", nil, err
	}
	file, err := s.cfg.Releases.OpenFile(r.Version, f)
	return r.Version, file, err
}

func (s *Service) serverURL() string { return strings.TrimSuffix(s.cfg.PublicURL, "/") }

func (s *Service) linuxInstaller(format, token string) (Installer, error) {
	version, bin, err := s.latestFile("linux", release.KindBinary)
	if err != nil {
		return Installer{}, err
	}
	bin.Close() // checked against its manifest; nfpm reads it by path
	cfg, err := installer.AgentConfig(s.serverURL(), token, s.cfg.Fingerprint)
	if err != nil {
		return Installer{}, err
	}
	pkg := installer.Linux{Component: installer.Agent, Version: version, Arch: "amd64", Binary: bin.Name(), Config: cfg,
		GPGKey: s.cfg.Signing.GPGKey, GPGPassphrase: s.cfg.Signing.GPGPassphrase}
	tmp, err := os.CreateTemp("", "tether-installer-*."+format)
	if err != nil {
		return Installer{}, err
	}
	out := Installer{Name: pkg.FileName(format), Version: version, File: tmp, ContentType: "application/vnd.debian.binary-package"}
	if format == protocol.InstallerRPM {
		out.ContentType = "application/x-rpm"
	}
	if err := pkg.Build(format, tmp); err != nil {
		out.Close()
		return Installer{}, err
	}
	return out.rewind()
}

func (s *Service) windowsInstaller(ctx context.Context, token string) (Installer, error) {
	version, src, err := s.latestFile("windows", release.KindMSI)
	if err != nil {
		return Installer{}, err
	}
	defer src.Close()
	tmp, err := os.CreateTemp("", "tether-installer-*.msi")
	if err != nil {
		return Installer{}, err
	}
	m := installer.MSI{Version: version}
	out := Installer{Name: m.FileName(), Version: version, File: tmp, ContentType: "application/x-msi"}
	if _, err := io.Copy(tmp, src); err != nil {
		out.Close()
		return Installer{}, err
	}
	props := map[string]string{installer.PropServer: s.serverURL(), installer.PropToken: token}
	if s.cfg.Fingerprint != "" {
		props[installer.PropFingerprint] = s.cfg.Fingerprint
	}
	if err := installer.Stamp(ctx, tmp.Name(), props, s.cfg.Signing.Authenticode); err != nil {
		out.Close()
		return Installer{}, err
	}
	return out.rewind()
}

// rewind reopens the package from its start and sizes it (Stamp rewrote
// the file behind the handle).
func (i Installer) rewind() (Installer, error) {
	f, err := os.Open(i.File.Name())
	i.File.Close()
	if err != nil {
		os.Remove(i.File.Name())
		return Installer{}, err
	}
	i.File = f
	fi, err := f.Stat()
	if err != nil {
		i.Close()
		return Installer{}, err
	}
	i.Size = fi.Size()
	return i, nil
}
