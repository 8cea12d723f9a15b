package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/tetherdesk/tether/agent/config"
	"github.com/tetherdesk/tether/agent/runner"
	"github.com/tetherdesk/tether/shared/protocol"
	"github.com/tetherdesk/tether/shared/version"
)

// newFlags returns a flag set that reports errors to stderr instead of
// exiting.
func newFlags(name string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tether-agent %s [flags]\n\nFlags:\n%s", name, fs.FlagUsages())
	}
	return fs
}

func parse(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	return nil
}

// loadConfig reads the configuration for a command that talks to a server.
func loadConfig(fs *pflag.FlagSet) (config.Config, error) {
	cfg, err := config.Load(fs)
	if err != nil {
		return config.Config{}, usageError{err}
	}
	if cfg.Server == "" {
		return config.Config{}, usageError{errors.New("server not set: use --server, TETHER_SERVER or server in the config file")}
	}
	return cfg, nil
}

func runnerConfig(cfg config.Config) runner.Config {
	return runner.Config{
		Server:            cfg.Server,
		Token:             cfg.Token,
		Fingerprint:       cfg.Fingerprint,
		Proxy:             cfg.Proxy.Func(),
		StateDir:          cfg.StateDir,
		InventoryInterval: cfg.InventoryInterval,
	}
}

// cmdRun runs the service logic in the foreground until ctx ends. Rejected
// credentials end it with ErrBadToken / ErrBadSecret (exit 3 / 4).
func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	config.AddFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(fs)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg)
	if err != nil {
		return usageError{err}
	}
	rc := runnerConfig(cfg)
	rc.Logger = log
	if err := rc.CheckAndSetDefaults(); err != nil {
		return usageError{err}
	}
	log.Info("tether-agent starting", "component", "main", "version", version.Version, "server", cfg.Server, "state_dir", cfg.StateDir)
	return withScreenShare(ctx, cfg, rc, log, stderr, true)
}

func cmdVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tether-agent %s (agent protocol %d)\n", version.Version, protocol.Version)
	return nil
}
