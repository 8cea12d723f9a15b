package config

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the README's configuration table")

// TestREADMETable keeps the README's server configuration reference equal to
// Keys; run with -update after adding a key.
func TestREADMETable(t *testing.T) {
	var b strings.Builder
	b.WriteString("| key | flag | environment | default | meaning |\n| --- | --- | --- | --- | --- |\n")
	for _, k := range Keys {
		def := k.Default
		if def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | `%s` | `%s` | %s |\n", k.Name, k.Flag(), k.Env(), def, k.Doc)
	}
	const path = "../../README.md"
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?s)(<!-- server-config:begin -->\n).*?(<!-- server-config:end -->)`)
	if !re.Match(readme) {
		t.Fatal("README lacks the server-config markers")
	}
	got := re.ReplaceAll(readme, []byte("${1}"+strings.ReplaceAll(b.String(), "$", "$$")+"${2}"))
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(got) != string(readme) {
		t.Fatal("README's server configuration table is out of date: go test ./server/config -update")
	}
}
