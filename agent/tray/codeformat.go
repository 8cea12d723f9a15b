package tray

import (
	"strings"

	"github.com/tetherdesk/tether/shared/protocol"
)

// typedCode formats a connection code while it is typed: digits only, at
// most protocol.CodeDigits of them, grouped as 123-456-789. Anything else
// typed or pasted is dropped.
func typedCode(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' || n == protocol.CodeDigits {
			continue
		}
		if n == 3 || n == 6 {
			b.WriteByte('-')
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
