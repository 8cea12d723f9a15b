package config

import (
	"cmp"
	"fmt"
	"testing"

	"github.com/tetherdesk/tether/internal/readme"
)

// TestREADMETable keeps the README's agent configuration reference equal to
// Keys. It runs on Linux only, whose defaults the README shows.
func TestREADMETable(t *testing.T) {
	var rows [][]string
	for _, k := range Keys() {
		rows = append(rows, []string{k.Name, "--" + k.Flag, k.Env, cmp.Or(k.Default, "(empty)"), k.Doc})
	}
	table := readme.Table([]string{"key", "flag", "environment", "default (Linux)", "meaning"}, []bool{true, true, true, true}, rows)
	table += fmt.Sprintf("\nThe config file is `--config` or `%s`; by default /etc/tether/agent.yaml, on Windows %%ProgramData%%\\Tether\\agent.yaml (state in %%ProgramData%%\\Tether\\state), on macOS /Library/Application Support/Tether/agent.yaml (state in .../Tether/state).\n", ConfigEnv)
	readme.Check(t, "../../README.md", "agent-config", table)
}
