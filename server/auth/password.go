// Package auth holds the server's credential primitives: argon2id password
// hashes, random tokens and their lookup hashes, and sign-in throttling.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Time    uint32
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultParams: RFC 9106's second recommendation with lighter memory, so
// a burst of sign-ins cannot exhaust a small server (and the Hasher bounds
// how many run at once).
var DefaultParams = Params{Time: 3, Memory: 64 * 1024, Threads: 2}

const (
	argonKeyLen = 32
	saltLen     = 16
)

// ErrBadHash reports a stored hash that cannot be parsed.
var ErrBadHash = errors.New("malformed password hash")

// HashPassword returns an argon2id hash in PHC string format with the
// default parameters.
func HashPassword(password string) (string, error) { return HashPasswordWith(password, DefaultParams) }

// HashPasswordWith hashes with the given parameters (tests use light ones;
// CheckPassword reads them back from the hash).
func HashPasswordWith(password string, p Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches the PHC-format hash.
func CheckPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrBadHash
	}
	var mem, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil || mem == 0 || t == 0 || p == 0 || mem > 1<<22 || t > 100 {
		return false, ErrBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, ErrBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return false, ErrBadHash
	}
	got := argon2.IDKey([]byte(password), salt, t, mem, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is checked against when the account does not exist, so the
// answer takes as long as for a real account and names cannot be probed.
// Made on first use: hashing at start-up would cost every command 64 MiB.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("tether-dummy-password")
	return h
})

// CheckAbsent spends the same work as CheckPassword on a real account.
func CheckAbsent(password string) { _, _ = CheckPassword(dummyHash(), password) }

// NewToken returns a random URL-safe token of n bytes with a prefix that
// says what it is ("tet_" enrollment, "tapi_" API, ...).
func NewToken(prefix string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand never fails on supported platforms (Go 1.24+ panics itself).
		panic(err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// HashToken is the lookup hash of a high-entropy token. Plain SHA-256 is
// right here: the token has 256 bits, so no stretching is needed.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
