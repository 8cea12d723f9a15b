package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/tetherdesk/tether/server/releases"
	"github.com/tetherdesk/tether/shared/release"
)

// ReleasesDir is where, under the data directory, the agent releases are.
const ReleasesDir = "releases"

// releaseCmd runs `tether-server release keygen|add|list`.
func releaseCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "keygen":
		return releaseKeygen(args[1:], stdout, stderr)
	case "add":
		return releaseAdd(args[1:], stdout, stderr)
	case "list":
		return releaseList(args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, usage)
	return errUsage
}

func parseFlags(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return errReported
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s takes no arguments (got %q)\n", fs.Name(), fs.Args())
		return errUsage
	}
	return nil
}

// releaseKeygen makes the release signing key pair. The private key signs
// releases and belongs on the machine that builds them; the public key is
// compiled into the agent (make installers RELEASE_PUB=…).
func releaseKeygen(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("release keygen", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", ".", "folder to write release.key and release.pub to")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	priv, pub := release.KeyFiles(key)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	privPath := filepath.Join(*out, "release.key")
	f, err := os.OpenFile(privPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("%w (a key is never overwritten)", err)
	}
	if _, err := f.WriteString(priv); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "release.pub"), []byte(pub), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (keep it secret) and %s\npublic key: %s", privPath, filepath.Join(*out, "release.pub"), pub)
	return nil
}

// releaseAdd adds an agent release to the data directory's store, signed
// with the release key.
func releaseAdd(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("release add", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./tether-data", "the server's data directory")
	version := fs.String("version", "", "the release's version, as the agent reports it (git describe)")
	keyPath := fs.String("key", "", "the release signing key (release keygen)")
	bins := fs.StringArray("file", nil, "an agent binary as os/arch=PATH, e.g. linux/amd64=bin/tether-agent (repeatable)")
	msis := fs.StringArray("msi", nil, "a Windows installer as os/arch=PATH, e.g. windows/amd64=dist/tether-agent.msi (repeatable)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *version == "" || *keyPath == "" {
		fmt.Fprintln(stderr, "release add needs --version and --key")
		return errUsage
	}
	keyText, err := os.ReadFile(*keyPath)
	if err != nil {
		return err
	}
	key, err := release.ParsePrivateKey(string(keyText))
	if err != nil {
		return fmt.Errorf("%s: %w", *keyPath, err)
	}
	var in []releases.Input
	for kind, list := range map[string][]string{release.KindBinary: *bins, release.KindMSI: *msis} {
		for _, spec := range list {
			platform, path, ok := strings.Cut(spec, "=")
			goos, arch, ok2 := strings.Cut(platform, "/")
			if !ok || !ok2 || path == "" {
				fmt.Fprintf(stderr, "--file and --msi take os/arch=PATH, got %q\n", spec)
				return errUsage
			}
			in = append(in, releases.Input{OS: goos, Arch: arch, Kind: kind, Path: path})
		}
	}
	r, err := releases.Open(filepath.Join(*data, ReleasesDir)).Add(*version, in, key, time.Now())
	if err != nil {
		return err
	}
	for _, f := range r.Files {
		fmt.Fprintf(stdout, "added %s %s/%s %s (%d bytes, sha256 %s)\n", r.Version, f.OS, f.Arch, f.Kind, f.Size, f.SHA256)
	}
	return nil
}

func releaseList(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("release list", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./tether-data", "the server's data directory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	all, err := releases.Open(filepath.Join(*data, ReleasesDir)).List()
	if err != nil {
		return err
	}
	for _, r := range all {
		var files []string
		for _, f := range r.Files {
			files = append(files, f.OS+"/"+f.Arch+" "+f.Kind)
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s\n", r.Version, r.Added.Format(time.RFC3339), strings.Join(files, ", "))
	}
	return nil
}
