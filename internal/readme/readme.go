// Package readme keeps generated tables in README.md equal to the code they
// document; tests call Check, and -update rewrites the table.
package readme

import (
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
)

// update is the -update flag of every test binary that imports readme.
var update = flag.Bool("update", false, "rewrite the README's generated tables")

// Table renders a Markdown table; the cells of the columns marked in code
// are set in backticks.
func Table(header []string, code []bool, rows [][]string) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(header, " | ") + " |\n|" + strings.Repeat(" --- |", len(header)) + "\n")
	for _, row := range rows {
		b.WriteString("|")
		for i, c := range row {
			if i < len(code) && code[i] {
				c = "`" + c + "`"
			}
			b.WriteString(" " + c + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Check compares the README section between "<!-- marker:begin -->" and
// "<!-- marker:end -->" with body, or rewrites it when the test runs with
// -update.
func Check(t testing.TB, path, marker, body string) {
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
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(got) != string(readme) {
		t.Fatalf("the %s table in %s is out of date: rerun this test with -update", marker, path)
	}
}
