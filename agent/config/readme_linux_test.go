package config

import (
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/tetherdesk/tether/internal/readme"
)

var update = flag.Bool("update", false, "rewrite the README's configuration table")

// TestREADMETable keeps the README's agent configuration reference equal to
// Keys. It runs on Linux only, whose defaults the README shows.
func TestREADMETable(t *testing.T) {
	var b strings.Builder
	b.WriteString("| key | flag | environment | default (Linux) | meaning |\n| --- | --- | --- | --- | --- |\n")
	for _, k := range Keys() {
		def := k.Default
		if def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(&b, "| `%s` | `--%s` | `%s` | `%s` | %s |\n", k.Name, k.Flag, k.Env, def, k.Doc)
	}
	fmt.Fprintf(&b, "\nThe config file is `--config` or `%s`; by default /etc/tether/agent.yaml, on Windows %%ProgramData%%\\Tether\\agent.yaml (state in %%ProgramData%%\\Tether\\state), on macOS /Library/Application Support/Tether/agent.yaml (state in .../Tether/state).\n", ConfigEnv)
	readme.Check(t, "../../README.md", "agent-config", b.String(), *update)
}
