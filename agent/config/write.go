package config

import (
	"fmt"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/tetherdesk/tether/agent/internal/atomicfile"
)

const fileHeader = "# Tether agent configuration, written by `tether-agent install` or an installer.\n" +
	"# It holds the enrollment token: keep it readable by the service account only.\n"

// WriteFile writes a config file holding values (key name -> value), keys
// in Keys() order, atomically and readable by the owner only (it may hold
// the enrollment token). Unknown keys are rejected.
func WriteFile(path string, values map[string]string) error {
	body, err := Encode(values)
	if err != nil {
		return err
	}
	// The directory is not secret (0755); the file is.
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating config directory: %w", err)
	}
	if err := atomicfile.WriteFile(path, body, 0o600); err != nil {
		return fmt.Errorf("writing config: %w", err)
	}
	return nil
}

// Encode is the config file holding values (key name -> value), keys in
// Keys() order, as WriteFile writes it and installers carry it. Unknown
// keys are rejected.
func Encode(values map[string]string) ([]byte, error) {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	known := 0
	for _, k := range Keys() {
		v, ok := values[k.Name]
		if !ok {
			continue
		}
		known++
		doc.Content = append(doc.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: k.Name},
			&yaml.Node{Kind: yaml.ScalarNode, Value: v, Style: yaml.DoubleQuotedStyle})
	}
	if known != len(values) {
		return nil, fmt.Errorf("writing config: unknown key among %v", values)
	}
	if len(doc.Content) == 0 {
		return []byte(fileHeader), nil
	}
	body, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encoding config: %w", err)
	}
	return append([]byte(fileHeader), body...), nil
}
