// Package config loads the agent configuration with viper: built-in
// defaults, then the config file, then TETHER_* environment variables, then
// command-line flags, each overriding the previous. Keys() is the single
// table of keys, defaults, variables and flags; docs are generated from it.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/tetherdesk/tether/agent/client"
	"github.com/tetherdesk/tether/agent/netproxy"
)

// Key names as they appear in the config file.
const (
	KeyServer            = "server"
	KeyToken             = "token"
	KeyFingerprint       = "fingerprint"
	KeyStateDir          = "state_dir"
	KeyLogLevel          = "log_level"
	KeyLogFormat         = "log_format"
	KeyInventoryInterval = "inventory_interval"
	KeyProxy             = "proxy"
)

// The config file location itself is chosen by flag or variable only.
const (
	ConfigFlag = "config"
	ConfigEnv  = "TETHER_CONFIG"
)

// Key documents one configuration key.
type Key struct {
	Name    string // key in the config file
	Default string // "" means none
	Env     string // environment variable
	Flag    string // command-line flag, without dashes
	Doc     string
}

// Keys returns every configuration key with its default for this OS.
func Keys() []Key {
	return []Key{
		{KeyServer, "", "TETHER_SERVER", "server",
			"Server base URL, https://host[:port]; http:// only for a server on loopback."},
		{KeyToken, "", "TETHER_TOKEN", "token",
			"Enrollment token. Used once, while the agent has no identity; never sent again."},
		{KeyFingerprint, "", "TETHER_FINGERPRINT", "fingerprint",
			"SHA-256 of the server certificate (hex; colons and case ignored). When set, only that certificate is trusted; otherwise system roots."},
		{KeyProxy, "", "TETHER_PROXY", "proxy",
			"HTTP(S) proxy for everything sent to the server (API, websockets, TURN over TCP): http://[user:password@]host:port. Empty: the HTTPS_PROXY, HTTP_PROXY and NO_PROXY variables; direct: no proxy at all."},
		{KeyStateDir, DefaultStateDir(), "TETHER_STATE_DIR", "state",
			"Directory for the identity, policy, action journal and status (private to the service account)."},
		{KeyLogLevel, "info", "TETHER_LOG_LEVEL", "log-level",
			"debug, info, warn or error."},
		{KeyLogFormat, "text", "TETHER_LOG_FORMAT", "log-format",
			"text or json."},
		{KeyInventoryInterval, "60s", "TETHER_INVENTORY_INTERVAL", "inventory-interval",
			"How often the inventory is recomputed (Go duration, at least 1s); it is sent only when it changed."},
	}
}

// Config is the loaded configuration.
type Config struct {
	// File is the config file that was read, or "" if none.
	File              string
	Server            string
	Token             string
	Fingerprint       string
	StateDir          string
	LogLevel          string
	LogFormat         string
	InventoryInterval time.Duration
	Proxy             netproxy.Setting
}

// AddFlags registers --config and the flags of the named keys (all keys when
// none are named) on flags.
func AddFlags(flags *pflag.FlagSet, names ...string) {
	flags.String(ConfigFlag, DefaultConfigFile(), "config file (env "+ConfigEnv+")")
	for _, k := range Keys() {
		if len(names) > 0 && !contains(names, k.Name) {
			continue
		}
		flags.String(k.Flag, k.Default, k.Doc+" (env "+k.Env+")")
	}
}

// ConfigFile returns the config file path chosen by --config, TETHER_CONFIG
// or the OS default, and whether it was chosen explicitly.
func ConfigFile(flags *pflag.FlagSet) (path string, explicit bool) {
	if f := flags.Lookup(ConfigFlag); f != nil && f.Changed {
		return f.Value.String(), true
	}
	if p := os.Getenv(ConfigEnv); p != "" {
		return p, true
	}
	return DefaultConfigFile(), false
}

// Load reads the configuration: defaults < file < environment < flags set
// on flags (flags left unset do not override). Variables are read from the
// process environment, as viper does. A missing default config file is
// fine; a missing explicitly chosen one is an error.
func Load(flags *pflag.FlagSet) (Config, error) {
	v := viper.New()
	for _, k := range Keys() {
		v.SetDefault(k.Name, k.Default)
		// The explicit list is what the docs promise; no AutomaticEnv guesswork.
		if err := v.BindEnv(k.Name, k.Env); err != nil {
			return Config{}, fmt.Errorf("binding %s: %w", k.Env, err)
		}
		if f := flags.Lookup(k.Flag); f != nil {
			if err := v.BindPFlag(k.Name, f); err != nil {
				return Config{}, fmt.Errorf("binding --%s: %w", k.Flag, err)
			}
		}
	}
	var file string
	path, explicit := ConfigFile(flags)
	if path != "" {
		v.SetConfigFile(path)
		if filepath.Ext(path) == "" {
			v.SetConfigType("yaml")
		}
		switch err := v.ReadInConfig(); {
		case err == nil:
			file = path
		case errors.Is(err, fs.ErrNotExist) && !explicit:
		default:
			return Config{}, fmt.Errorf("reading config file %s: %w", path, err)
		}
	}
	cfg, err := build(v.GetString)
	if err != nil {
		return Config{}, err
	}
	cfg.File = file
	return cfg, nil
}

// build makes a Config of each key's value as get gives it, and validates
// it.
func build(get func(key string) string) (Config, error) {
	cfg := Config{
		Server:      strings.TrimSpace(get(KeyServer)),
		Token:       strings.TrimSpace(get(KeyToken)),
		Fingerprint: strings.TrimSpace(get(KeyFingerprint)),
		StateDir:    get(KeyStateDir),
		LogLevel:    strings.ToLower(get(KeyLogLevel)),
		LogFormat:   strings.ToLower(get(KeyLogFormat)),
	}
	iv := get(KeyInventoryInterval)
	d, err := time.ParseDuration(iv)
	if err != nil {
		return Config{}, fmt.Errorf("%s %q: want a duration with a unit, e.g. 60s: %w", KeyInventoryInterval, iv, err)
	}
	cfg.InventoryInterval = d
	if cfg.Proxy, err = netproxy.Parse(get(KeyProxy)); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks the syntax of every key that is set. Whether a server or
// token is required depends on the command, so that is left to the caller.
func (c Config) Validate() error {
	var errs []error
	if c.Server != "" {
		if _, err := client.ParseServerURL(c.Server); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", KeyServer, err))
		}
	}
	if c.Fingerprint != "" {
		if _, err := client.ParseFingerprint(c.Fingerprint); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", KeyFingerprint, err))
		}
	}
	if c.StateDir == "" {
		errs = append(errs, fmt.Errorf("%s must not be empty", KeyStateDir))
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("%s %q: want text or json", KeyLogFormat, c.LogFormat))
	}
	if c.InventoryInterval < time.Second {
		errs = append(errs, fmt.Errorf("%s %s: must be at least 1s", KeyInventoryInterval, c.InventoryInterval))
	}
	return errors.Join(errs...)
}

// ParseLevel parses log_level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%s %q: want debug, info, warn or error", KeyLogLevel, s)
	}
	return l, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// FromValues builds a Config from defaults overridden by values (key name
// -> value), without a file or the environment, and validates it. install
// uses it to check what it is about to write.
func FromValues(values map[string]string) (Config, error) {
	get := func(name string) string {
		if v, ok := values[name]; ok {
			return v
		}
		for _, k := range Keys() {
			if k.Name == name {
				return k.Default
			}
		}
		return ""
	}
	return build(get)
}

// Flag returns the command-line flag of a key, or "" for an unknown key.
func Flag(name string) string {
	for _, k := range Keys() {
		if k.Name == name {
			return k.Flag
		}
	}
	return ""
}
