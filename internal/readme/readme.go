// Package readme keeps generated tables in README.md equal to the code they
// document; tests call Check, and -update rewrites the table.
package readme

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Check compares the README section between "<!-- marker:begin -->" and
// "<!-- marker:end -->" with body, or rewrites it when update is set.
func Check(t testing.TB, path, marker, body string, update bool) {
	t.Helper()
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?s)(<!-- ` + regexp.QuoteMeta(marker) + `:begin -->\n).*?(<!-- ` + regexp.QuoteMeta(marker) + `:end -->)`)
	if !re.Match(readme) {
		t.Fatalf("%s lacks the %s markers", path, marker)
	}
	got := re.ReplaceAll(readme, []byte("${1}"+strings.ReplaceAll(body, "$", "$$")+"${2}"))
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(got) != string(readme) {
		t.Fatalf("the %s table in %s is out of date: rerun this test with -update", marker, path)
	}
}
