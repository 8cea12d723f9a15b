package tray

import "testing"

func TestTypedCode(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"1", "1"},
		{"123", "123"},
		{"1234", "123-4"},
		{"123-", "123"},
		{"123-456", "123-456"},
		{"1234567", "123-456-7"},
		{"123456789", "123-456-789"},
		{"1234567890", "123-456-789"},
		{" 123 456 789 ", "123-456-789"},
		{"12a3-45x6", "123-456"},
		{"１２３", ""}, // full-width digits are not the code's
	} {
		if got := typedCode(c.in); got != c.want {
			t.Errorf("typedCode(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := typedCode(typedCode(c.in)); got != typedCode(c.in) {
			t.Errorf("typedCode is not stable on %q: %q", c.in, got)
		}
	}
}
