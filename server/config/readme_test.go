package config

import (
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/tetherdesk/tether/internal/readme"
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
	readme.Check(t, "../../README.md", "server-config", b.String(), *update)
}
