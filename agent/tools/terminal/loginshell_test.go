//go:build linux || darwin

package terminal

import (
	"strings"
	"testing"
)

// TestShellOf: a user's shell comes from its passwd line; an account
// whose shell refuses logins gets none (the default shell then).
func TestShellOf(t *testing.T) {
	passwd := `root:x:0:0:root:/root:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
svc:x:998:998::/var/lib/svc:/bin/false
tess:x:1000:1000:Tess,,,:/home/tess:/usr/bin/zsh
odd:x:1001:1001::/home/odd:zsh
short:x:1002
`
	for _, tc := range []struct{ uid, want string }{
		{"0", "/bin/bash"}, {"1000", "/usr/bin/zsh"}, {"65534", ""}, {"998", ""}, {"1001", ""}, {"1002", ""}, {"4242", ""},
	} {
		if got := shellOf(strings.NewReader(passwd), tc.uid); got != tc.want {
			t.Errorf("shellOf(uid %s) = %q, want %q", tc.uid, got, tc.want)
		}
	}
}
