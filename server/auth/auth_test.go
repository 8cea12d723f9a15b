package auth

import (
	"strings"
	"testing"
	"time"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("unexpected hash format %q", h)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"correct horse", true}, {"correct horsE", false}, {"", false}} {
		ok, err := CheckPassword(h, tc.pw)
		if err != nil || ok != tc.want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
	}
	h2, _ := HashPassword("correct horse")
	if h == h2 {
		t.Error("two hashes of one password are equal: salt missing")
	}
}

func TestCheckPasswordRejectsMalformed(t *testing.T) {
	for _, h := range []string{"", "plain", "$argon2i$v=19$m=65536,t=3,p=2$c2FsdA$a2V5", "$argon2id$v=19$m=99999999,t=3,p=2$c2FsdA$a2V5", "$argon2id$v=19$m=65536,t=3,p=2$!!$a2V5"} {
		if _, err := CheckPassword(h, "x"); err == nil {
			t.Errorf("CheckPassword(%q) accepted a malformed hash", h)
		}
	}
}

func TestTokens(t *testing.T) {
	a, b := NewToken("tet_", 32), NewToken("tet_", 32)
	if a == b || !strings.HasPrefix(a, "tet_") || len(a) != 4+43 {
		t.Fatalf("tokens %q %q", a, b)
	}
	if HashToken(a) == HashToken(b) || len(HashToken(a)) != 64 {
		t.Fatal("token hashes collide or have the wrong length")
	}
}

func TestHasherBound(t *testing.T) {
	h := NewHasher(Params{Time: 1, Memory: 1024, Threads: 1}, 1, time.Millisecond)
	if h.Slots() != 1 {
		t.Fatalf("slots = %d", h.Slots())
	}
	release, err := h.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Hash(t.Context(), "pw"); err != ErrBusy {
		t.Fatalf("Hash with the only slot taken: %v, want ErrBusy", err)
	}
	if _, err := h.Check(t.Context(), "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5", "pw"); err != ErrBusy {
		t.Fatalf("Check with the only slot taken: %v, want ErrBusy", err)
	}
	release()
	release() // twice is once
	hash, err := h.Hash(t.Context(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := h.Check(t.Context(), hash, "pw"); !ok || err != nil {
		t.Fatalf("Check after release: %v %v", ok, err)
	}
	if n := DefaultConcurrency(DefaultParams); n < 1 {
		t.Fatalf("DefaultConcurrency = %d", n)
	}
}

func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":          "203.0.113.7",
		"::ffff:203.0.113.7":   "203.0.113.7",
		"2001:db8:1:2::1":      "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::9": "2001:db8:1:2::/64",
		"not an address":       "not an address",
	} {
		if got := AddrKey(in); got != want {
			t.Errorf("AddrKey(%q) = %q, want %q", in, got, want)
		}
	}
}
