package release

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func TestSignVerify(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	pub := key.Public().(ed25519.PublicKey)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	f := File{OS: "linux", Arch: "amd64", Kind: KindBinary, Name: "tether-agent", SHA256: strings.Repeat("ab", 32), Size: 1234}
	Sign(key, "v1.2.0", &f)
	if err := Verify(pub, "v1.2.0", f); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	tampered := []struct {
		name    string
		version string
		edit    func(*File)
		pub     ed25519.PublicKey
	}{
		{"another version", "v1.2.1", func(*File) {}, pub},
		{"another OS", "v1.2.0", func(f *File) { f.OS = "windows" }, pub},
		{"another kind", "v1.2.0", func(f *File) { f.Kind = KindMSI }, pub},
		{"one hash digit", "v1.2.0", func(f *File) { f.SHA256 = "bb" + f.SHA256[2:] }, pub},
		{"another size", "v1.2.0", func(f *File) { f.Size++ }, pub},
		{"wrong key", "v1.2.0", func(*File) {}, other.Public().(ed25519.PublicKey)},
		{"no signature", "v1.2.0", func(f *File) { f.Signature = "" }, pub},
		{"garbage signature", "v1.2.0", func(f *File) { f.Signature = "!!" }, pub},
	}
	for _, tc := range tampered {
		g := f
		tc.edit(&g)
		if err := Verify(tc.pub, tc.version, g); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", tc.name, err)
		}
	}
	if err := Verify(nil, "v1.2.0", f); err == nil {
		t.Error("verified without a key")
	}
}

func TestKeyFilesRoundTrip(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	priv, pub := KeyFiles(key)
	k2, err := ParsePrivateKey(priv)
	if err != nil || !k2.Equal(key) {
		t.Fatalf("private key: %v", err)
	}
	p2, err := ParsePublicKey(pub)
	if err != nil || !p2.Equal(key.Public()) {
		t.Fatalf("public key: %v", err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("A", 44)} {
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", bad)
		}
	}
}
