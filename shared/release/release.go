// Package release signs and checks agent builds: the server holds each
// build with an ed25519 signature by the release key, and an agent takes
// an update only when the signature verifies with the public key compiled
// into it.
package release

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// PublicKey is the release key this build trusts for self-updates, base64
// (release keygen's release.pub), set when the agent is built:
// -ldflags "-X github.com/tetherdesk/tether/shared/release.PublicKey=…".
// Empty: the agent takes no updates.
var PublicKey string

// Kinds of file in a release.
const (
	KindBinary = "binary" // the agent's executable
	KindMSI    = "msi"    // the Windows installer
)

// File is one file of a release and what its signature covers.
type File struct {
	OS     string `json:"os"`   // GOOS
	Arch   string `json:"arch"` // GOARCH
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	SHA256 string `json:"sha256"` // hex
	Size   int64  `json:"size"`
	// Signature is base64 ed25519 over Statement.
	Signature string `json:"signature,omitempty"`
}

// Statement is what a signature covers: the version and every property of
// the file but its name. A signature thus cannot be moved to another
// version, platform or file.
func Statement(version string, f File) []byte {
	return []byte(strings.Join([]string{"tether-release-v1", version, f.OS, f.Arch, f.Kind,
		strings.ToLower(f.SHA256), strconv.FormatInt(f.Size, 10)}, "\n") + "\n")
}

// Sign sets f.Signature.
func Sign(key ed25519.PrivateKey, version string, f *File) {
	f.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, Statement(version, *f)))
}

// ErrBadSignature: the signature does not verify with the key.
var ErrBadSignature = errors.New("release signature does not verify with the release key")

// Verify checks f's signature with pub.
func Verify(pub ed25519.PublicKey, version string, f File) error {
	if len(pub) != ed25519.PublicKeySize {
		return errors.New("no release key")
	}
	sig, err := base64.StdEncoding.DecodeString(f.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: malformed signature", ErrBadSignature)
	}
	if !ed25519.Verify(pub, Statement(version, f), sig) {
		return ErrBadSignature
	}
	return nil
}

// Digest reads r to its end and returns its SHA-256 (hex) and size.
func Digest(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// ParsePublicKey reads a public key as KeyFile writes it: base64 of the
// 32 bytes, on one line.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("release public key: want base64 of 32 bytes")
	}
	return ed25519.PublicKey(b), nil
}

// ParsePrivateKey reads a private key as KeyFile writes it: base64 of the
// 32-byte seed.
func ParsePrivateKey(s string) (ed25519.PrivateKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.SeedSize {
		return nil, errors.New("release private key: want base64 of a 32-byte seed")
	}
	return ed25519.NewKeyFromSeed(b), nil
}

// KeyFiles encodes a key pair: the private key's seed and the public key,
// each base64 on one line.
func KeyFiles(key ed25519.PrivateKey) (private, public string) {
	return base64.StdEncoding.EncodeToString(key.Seed()) + "\n",
		base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)) + "\n"
}
