package installer

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// Signing is what signs the packages built; the zero value signs nothing.
type Signing struct {
	GPGKey, GPGPassphrase string        // the .deb and .rpm
	Authenticode          *Authenticode // the .exe and .msi
}

// Authenticode is a code-signing certificate and its key, PEM files, for
// signing Windows executables and installers with osslsigncode.
type Authenticode struct {
	Cert, Key string
}

// Sign signs the .exe or .msi at path in place. There is no timestamp
// (this machine reaches no timestamp authority): the signature is valid
// while the certificate is.
func (a Authenticode) Sign(ctx context.Context, path string) error {
	tmp := path + ".signing"
	defer os.Remove(tmp)
	cmd := exec.CommandContext(ctx, "osslsigncode", "sign", "-certs", a.Cert, "-key", a.Key,
		"-n", "Tether Agent", "-i", "https://github.com/tetherdesk/tether", "-h", "sha256", "-in", path, "-out", tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("installer: osslsigncode sign %s: %w\n%s", path, err, out)
	}
	return os.Rename(tmp, path)
}

// Unsign removes an MSI's Authenticode signature, if it has one: a
// stamped MSI no longer matches the signature it was built with, and an
// installer must not carry a signature that fails.
func Unsign(ctx context.Context, path string) error {
	out, err := exec.CommandContext(ctx, "msiinfo", "streams", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("installer: msiinfo streams %s: %w\n%s", path, err, out)
	}
	// The stream's name starts with a control character (\x05).
	if !slices.ContainsFunc(strings.Fields(string(out)), func(f string) bool { return strings.HasSuffix(f, "DigitalSignature") }) {
		return nil
	}
	tmp := path + ".unsigning"
	defer os.Remove(tmp)
	if out, err := exec.CommandContext(ctx, "osslsigncode", "remove-signature", "-in", path, "-out", tmp).CombinedOutput(); err != nil {
		return fmt.Errorf("installer: osslsigncode remove-signature %s: %w\n%s", path, err, out)
	}
	return os.Rename(tmp, path)
}
