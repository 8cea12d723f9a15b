package config

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func newFlags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// setEnv sets exactly the given TETHER_* variables for the test.
func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, name := range append(envNames(), ConfigEnv) {
		t.Setenv(name, "") // restores the old value after the test
		if v, ok := env[name]; ok {
			os.Setenv(name, v)
		} else {
			os.Unsetenv(name)
		}
	}
}

func envNames() []string {
	var names []string
	for _, k := range Keys() {
		names = append(names, k.Env)
	}
	return names
}

func TestPrecedence(t *testing.T) {
	file := writeConfig(t, "server: https://file.example\ntoken: file-token\nlog_level: warn\ninventory_interval: 5m\n")
	tests := []struct {
		name       string
		env        map[string]string
		flags      []string
		wantServer string
		wantToken  string
		wantLevel  string
		wantIv     time.Duration
	}{
		{name: "file only", wantServer: "https://file.example", wantToken: "file-token", wantLevel: "warn", wantIv: 5 * time.Minute},
		{
			name:       "env over file",
			env:        map[string]string{"TETHER_SERVER": "https://env.example", "TETHER_INVENTORY_INTERVAL": "90s"},
			wantServer: "https://env.example", wantToken: "file-token", wantLevel: "warn", wantIv: 90 * time.Second,
		},
		{
			name:       "flag over env over file",
			env:        map[string]string{"TETHER_SERVER": "https://env.example", "TETHER_TOKEN": "env-token"},
			flags:      []string{"--server", "https://flag.example", "--log-level", "debug"},
			wantServer: "https://flag.example", wantToken: "env-token", wantLevel: "debug", wantIv: 5 * time.Minute,
		},
		{
			name:       "empty env does not override",
			env:        map[string]string{"TETHER_SERVER": ""},
			wantServer: "https://file.example", wantToken: "file-token", wantLevel: "warn", wantIv: 5 * time.Minute,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.env)
			fs := newFlags(t, append([]string{"--config", file}, tt.flags...)...)
			cfg, err := Load(fs)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Server != tt.wantServer || cfg.Token != tt.wantToken || cfg.LogLevel != tt.wantLevel || cfg.InventoryInterval != tt.wantIv {
				t.Errorf("got server=%q token=%q level=%q interval=%v", cfg.Server, cfg.Token, cfg.LogLevel, cfg.InventoryInterval)
			}
			if cfg.File != file {
				t.Errorf("File = %q, want %q", cfg.File, file)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	setEnv(t, nil)
	fs := newFlags(t, "--config", writeConfig(t, ""))
	cfg, err := Load(fs)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		File: cfg.File, StateDir: DefaultStateDir(), LogLevel: "info", LogFormat: "text",
		InventoryInterval: 60 * time.Second,
	}
	if cfg != want {
		t.Errorf("defaults = %+v, want %+v", cfg, want)
	}
	if runtime.GOOS == "linux" && (DefaultStateDir() != "/var/lib/tether-agent" || DefaultConfigFile() != "/etc/tether/agent.yaml") {
		t.Errorf("linux defaults: %s, %s", DefaultStateDir(), DefaultConfigFile())
	}
}

func TestKeysTableIsComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Keys() {
		if k.Name == "" || k.Env == "" || k.Flag == "" || k.Doc == "" {
			t.Errorf("incomplete key %+v", k)
		}
		if !strings.HasPrefix(k.Env, "TETHER_") || k.Env != "TETHER_"+strings.ToUpper(k.Name) {
			t.Errorf("key %s: env %s does not follow TETHER_<KEY>", k.Name, k.Env)
		}
		if seen[k.Name] {
			t.Errorf("duplicate key %s", k.Name)
		}
		seen[k.Name] = true
	}
}

func TestConfigFileChoice(t *testing.T) {
	tests := []struct {
		name         string
		flags        []string
		env          map[string]string
		wantPath     string
		wantExplicit bool
	}{
		{"default", nil, nil, DefaultConfigFile(), false},
		{"env", nil, map[string]string{ConfigEnv: "/env.yaml"}, "/env.yaml", true},
		{"flag over env", []string{"--config", "/flag.yaml"}, map[string]string{ConfigEnv: "/env.yaml"}, "/flag.yaml", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.env)
			p, explicit := ConfigFile(newFlags(t, tt.flags...))
			if p != tt.wantPath || explicit != tt.wantExplicit {
				t.Errorf("ConfigFile = %q, %v", p, explicit)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, file string
		flags      []string
		want       string
	}{
		{"missing explicit file", "", []string{"--config", "/nonexistent/agent.yaml"}, "reading config file"},
		{"interval without unit", "inventory_interval: 60\n", nil, "want a duration with a unit"},
		{"interval too short", "inventory_interval: 10ms\n", nil, "at least 1s"},
		{"bad format", "log_format: xml\n", nil, "want text or json"},
		{"bad fingerprint", "fingerprint: abc\n", nil, "fingerprint"},
		{"bad server", "server: tether.example\n", nil, "want https://"},
		{"broken yaml", "server: [\n", nil, "reading config file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, nil)
			args := tt.flags
			if args == nil {
				args = []string{"--config", writeConfig(t, tt.file)}
			}
			_, err := Load(newFlags(t, args...))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestWriteFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "etc", "tether", "agent.yaml")
	values := map[string]string{
		KeyServer:      "https://tether.example:8443",
		KeyToken:       `tok: with "quotes" and # hash`,
		KeyFingerprint: strings.Repeat("AB:", 31) + "AB",
	}
	setEnv(t, nil)
	if err := WriteFile(path, values); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("config mode = %v, want 0600", fi.Mode().Perm())
		}
	}
	cfg, err := Load(newFlags(t, "--config", path))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server != values[KeyServer] || cfg.Token != values[KeyToken] || cfg.Fingerprint != values[KeyFingerprint] {
		t.Errorf("read back %+v", cfg)
	}
	if err := WriteFile(path, map[string]string{"bogus": "x"}); err == nil {
		t.Error("WriteFile accepted an unknown key")
	}
}

func TestFromValues(t *testing.T) {
	cfg, err := FromValues(map[string]string{KeyServer: "https://x.example", KeyLogFormat: "JSON"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LogFormat != "json" || cfg.StateDir != DefaultStateDir() || cfg.InventoryInterval != time.Minute {
		t.Errorf("FromValues = %+v", cfg)
	}
	if _, err := FromValues(map[string]string{KeyLogLevel: "loud"}); err == nil {
		t.Error("FromValues accepted a bad log level")
	}
}
