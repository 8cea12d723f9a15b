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
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version == "" {
		return errors.New("-version is required")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	var built []string
	for _, c := range []installer.Component{installer.Agent, installer.Server} {
		p := installer.Linux{Component: c, Version: *version, Arch: *arch, Binary: filepath.Join(*bin, string(c))}
		for _, format := range []string{installer.Deb, installer.RPM} {
			name := p.FileName(format)
			if err := writeFile(filepath.Join(*out, name), func(w io.Writer) error { return p.Build(format, w) }); err != nil {
				return err
			}
			built = append(built, name)
			fmt.Fprintf(stdout, "built %s\n", filepath.Join(*out, name))
		}
	}
	exe := filepath.Join(*bin, "tether-agent.exe")
	if _, err := os.Stat(exe); err == nil {
		m := installer.MSI{Version: *version, Binary: exe}
		name := m.FileName()
		tmp := filepath.Join(*out, ".tmp-"+name)
		if err := m.Build(context.Background(), tmp); err != nil {
			os.Remove(tmp)
			return err
		}
		if err := os.Rename(tmp, filepath.Join(*out, name)); err != nil {
			return err
		}
		built = append(built, name)
		fmt.Fprintf(stdout, "built %s\n", filepath.Join(*out, name))
	} else {
		fmt.Fprintf(stdout, "no %s: the .msi is not built (make build cross-compiles it)\n", exe)
	}
	return writeSums(*out, built)
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
