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

func TestThrottle(t *testing.T) {
	now := time.Unix(1000, 0)
	th := NewThrottle(3, time.Minute, func() time.Time { return now })
	for range 3 {
		if b, _ := th.Blocked("k"); b {
			t.Fatal("blocked too early")
		}
		th.Fail("k")
	}
	b, wait := th.Blocked("k")
	if !b || wait != time.Minute {
		t.Fatalf("Blocked = %v, %v; want true, 1m", b, wait)
	}
	if b, _ := th.Blocked("other"); b {
		t.Fatal("another key blocked")
	}
	now = now.Add(61 * time.Second)
	if b, _ := th.Blocked("k"); b {
		t.Fatal("still blocked after the window")
	}
	th.Fail("k")
	th.Reset("k")
	if len(th.fails) != 0 {
		t.Fatal("reset kept state")
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
