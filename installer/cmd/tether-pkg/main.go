// Command tether-pkg builds Tether's installers from the binaries of
// `make build`: `make installers` runs it.
//
//	tether-pkg -bin bin -out dist -version "$(git describe --tags --always --dirty)"
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tetherdesk/tether/installer"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tether-pkg:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("tether-pkg", flag.ContinueOnError)
	bin := fs.String("bin", "bin", "folder with the binaries of make build")
	out := fs.String("out", "dist", "folder to write the packages to")
	version := fs.String("version", "", "the build's version, as git describe --tags --always --dirty prints it")
	arch := fs.String("arch", "amd64", "Go architecture of the binaries")
	gpgKey := fs.String("gpg-key", "", "OpenPGP private key that signs the .deb and .rpm (passphrase in $TETHER_GPG_PASSPHRASE); none: unsigned")
	cert := fs.String("sign-cert", "", "code-signing certificate (PEM) for Authenticode on the .exe and .msi; none: unsigned")
	key := fs.String("sign-key", "", "the -sign-cert certificate's private key (PEM)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version == "" {
		return errors.New("-version is required")
	}
	if (*cert == "") != (*key == "") {
		return errors.New("-sign-cert and -sign-key go together")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	var built []string
	for _, c := range []installer.Component{installer.Agent, installer.Server} {
		p := installer.Linux{Component: c, Version: *version, Arch: *arch, Binary: filepath.Join(*bin, string(c)),
			GPGKey: *gpgKey, GPGPassphrase: os.Getenv("TETHER_GPG_PASSPHRASE")}
		for _, format := range []string{installer.Deb, installer.RPM} {
			name := p.FileName(format)
			if err := writeFile(filepath.Join(*out, name), func(w io.Writer) error { return p.Build(format, w) }); err != nil {
				return err
			}
			built = append(built, name)
			fmt.Fprintf(stdout, "built %s\n", filepath.Join(*out, name))
		}
	}
	if err := macPayload(*out, *version, stdout); err != nil {
		return err
	}
	exe := filepath.Join(*bin, "tether-agent.exe")
	if _, err := os.Stat(exe); err != nil {
		fmt.Fprintf(stdout, "no %s: the .msi is not built (make build cross-compiles it)\n", exe)
		return writeSums(*out, built)
	}
	var signer *installer.Authenticode
	if *cert != "" {
		signer = &installer.Authenticode{Cert: *cert, Key: *key}
	}
	name, err := buildMSI(context.Background(), *version, exe, *out, signer)
	if err != nil {
		return err
	}
	built = append(built, name)
	fmt.Fprintf(stdout, "built %s\n", filepath.Join(*out, name))
	return writeSums(*out, built)
}

// macPayload writes the macOS .pkg's inputs to dist/macos with how to
// build it on a Mac: pkgbuild and the macOS SDK are not here.
func macPayload(out, version string, stdout io.Writer) error {
	dir := filepath.Join(out, "macos")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	cmd, err := installer.MacPayload(dir, "", version, nil)
	if err != nil {
		return err
	}
	howto := "The macOS agent package is built on a Mac (pkgbuild and the macOS SDK are not on Linux).\n" +
		"Copy " + dir + " there; then, in a clone of the repository:\n\n" +
		"  go build -trimpath -o " + filepath.Join(dir, "root/usr/local/bin/tether-agent") + " ./agent/cmd/tether-agent\n" +
		"  cd " + dir + "\n" +
		"  " + cmd + "\n\n" +
		"Sign it for distribution with: productsign --sign \"Developer ID Installer: …\" in.pkg out.pkg\n"
	if err := os.WriteFile(filepath.Join(dir, "BUILD.txt"), []byte(howto), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (the macOS .pkg's payload and scripts; BUILD.txt says how to build it on a Mac)\n", dir)
	return nil
}

// buildMSI builds the agent's MSI into dir; with a signer, the .exe inside
// and the .msi itself are Authenticode-signed.
func buildMSI(ctx context.Context, version, exe, dir string, signer *installer.Authenticode) (string, error) {
	if signer != nil {
		signed := filepath.Join(dir, ".tmp-tether-agent.exe")
		defer os.Remove(signed)
		b, err := os.ReadFile(exe)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(signed, b, 0o644); err != nil {
			return "", err
		}
		if err := signer.Sign(ctx, signed); err != nil {
			return "", err
		}
		exe = signed
	}
	m := installer.MSI{Version: version, Binary: exe}
	name := m.FileName()
	tmp := filepath.Join(dir, ".tmp-"+name)
	defer os.Remove(tmp)
	if err := m.Build(ctx, tmp); err != nil {
		return "", err
	}
	if signer != nil {
		if err := signer.Sign(ctx, tmp); err != nil {
			return "", err
		}
	}
	return name, os.Rename(tmp, filepath.Join(dir, name))
}

// writeFile writes through a temporary file, so that a failed build leaves
// no half package behind.
func writeFile(path string, build func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := build(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// writeSums writes SHA256SUMS for the packages, as sha256sum -c reads it.
func writeSums(dir string, names []string) error {
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), n)
	}
	return os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(b.String()), 0o644)
}
