package config

import (
	"cmp"
	"testing"

	"github.com/tetherdesk/tether/internal/readme"
)

// TestREADMETable keeps the README's server configuration reference equal to
// Keys; run with -update after adding a key.
func TestREADMETable(t *testing.T) {
	var rows [][]string
	for _, k := range Keys {
		rows = append(rows, []string{k.Name, k.Flag(), k.Env(), cmp.Or(k.Default, "(empty)"), k.Doc})
	}
	table := readme.Table([]string{"key", "flag", "environment", "default", "meaning"}, []bool{true, true, true, true}, rows)
	readme.Check(t, "../../README.md", "server-config", table)
}
