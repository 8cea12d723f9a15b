package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/kardianos/service"

	"github.com/tetherdesk/tether/agent/config"
	"github.com/tetherdesk/tether/agent/runner"
	"github.com/tetherdesk/tether/shared/version"
)

const (
	serviceName = "tether-agent"
	// stopTimeout bounds how long Stop waits for the agent to wind down;
	// service managers kill a service that takes much longer.
	stopTimeout = 20 * time.Second
	// restartDelay is the (jittered) pause before the service logic is
	// started again after it stopped on its own, e.g. on a config error.
	restartDelay = time.Minute
)

// serviceConfig describes the service to kardianos/service. The service is
// always started with an explicit --config so that it reads the file
// install wrote, whatever its environment. runWait is how the service waits
// for a stop on Unix (our signal context); Windows uses the SCM instead.
func serviceConfig(configPath string, runWait func()) *service.Config {
	opts := service.KeyValue{
		// systemd
		"Restart": "always",
		// launchd
		"RunAtLoad": true,
		"KeepAlive": true,
		// Windows SCM
		"OnFailure":              "restart",
		"OnFailureDelayDuration": "30s",
		// DelayedAutoStart is set after the install (setDelayedStart):
		// where the service manager lacks it, kardianos would fail the
		// whole install.
	}
	if runWait != nil {
		opts["RunWait"] = runWait
	}
	return &service.Config{
		Name:         serviceName,
		DisplayName:  "Tether Agent",
		Description:  "Tether remote-support agent: enrollment, actions, inventory and session helpers.",
		Arguments:    []string{"service", "--" + config.ConfigFlag, configPath},
		Dependencies: serviceDependencies(),
		Option:       opts,
	}
}

// program adapts the service logic to kardianos/service: Start launches it,
// Stop cancels its context and waits for it.
type program struct {
	ctx    context.Context
	cancel context.CancelFunc
	body   func(ctx context.Context)
	done   chan struct{}
	log    *slog.Logger
}

func (p *program) Start(service.Service) error {
	go func() {
		defer close(p.done)
		p.body(p.ctx)
	}()
	return nil
}

func (p *program) Stop(service.Service) error {
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		p.log.Warn("agent did not stop in time", "component", "main", "timeout", stopTimeout)
	}
	return nil
}

// cmdService runs the service logic under the OS service manager. It never
// returns because of a server or configuration problem: those are logged
// and retried, so the service manager sees no crash loop.
func cmdService(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("service", stderr)
	config.AddFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	configPath, _ := config.ConfigFile(fs)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	prg := &program{ctx: ctx, cancel: cancel, done: make(chan struct{})}
	svc, err := service.New(prg, serviceConfig(configPath, func() { <-ctx.Done() }))
	if err != nil {
		return fmt.Errorf("setting up service: %w", err)
	}

	// Log settings come from the config as it is now; a broken config is
	// reported through a default logger and retried by the loop below.
	cfg, cfgErr := config.Load(fs)
	if cfgErr != nil {
		cfg = config.Config{LogLevel: "info", LogFormat: "text"}
	}
	log, err := serviceLogger(svc, stderr, cfg)
	if err != nil {
		return usageError{err}
	}
	prg.log = log
	log.Info("tether-agent service starting", "component", "main", "version", version.Version, "platform", svc.Platform())
	if !service.Interactive() {
		ensureRecovery(log)
	}
	prg.body = func(ctx context.Context) {
		serviceLoop(ctx, log, func() (config.Config, error) { return loadConfig(fs) })
	}
	if ok, err := runUnderSCM(prg); ok {
		if err != nil {
			return fmt.Errorf("running service: %w", err)
		}
		return nil
	}
	if err := svc.Run(); err != nil {
		return fmt.Errorf("running service: %w", err)
	}
	return nil
}

func serviceLogger(svc service.Service, stderr io.Writer, cfg config.Config) (*slog.Logger, error) {
	if !useSystemLog || service.Interactive() {
		return newLogger(stderr, cfg)
	}
	sl, err := svc.Logger(nil)
	if err != nil {
		return nil, fmt.Errorf("opening system log: %w", err)
	}
	return newLoggerOpts(systemLogWriter{sl}, cfg, dropTime)
}

// serviceLoop runs the agent until ctx ends, starting it again after a
// pause whenever it stops by itself (unreadable config, unusable state
// directory). The runner itself retries rejected credentials.
func serviceLoop(ctx context.Context, log *slog.Logger, load func() (config.Config, error)) {
	log = log.With("component", "main")
	for {
		err := runOnce(ctx, log, load)
		if ctx.Err() != nil {
			return
		}
		d := runner.Jitter(restartDelay, 0.2, nil)
		log.Error("agent stopped; starting it again later", "error", err, "retry_in", d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func runOnce(ctx context.Context, log *slog.Logger, load func() (config.Config, error)) error {
	cfg, err := load()
	if err != nil {
		return err
	}
	rc := runnerConfig(cfg)
	rc.Logger = log
	rc.RetryFatal = true
	if err := rc.CheckAndSetDefaults(); err != nil {
		return err
	}
	if err := withScreenShare(ctx, cfg, rc, log, os.Stderr, false); err != nil {
		return err
	}
	if ctx.Err() == nil {
		return errors.New("agent returned without error")
	}
	return nil
}

// absConfigPath makes the config path absolute for the service definition.
func absConfigPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("resolving config path: %w", err)
	}
	return abs, nil
}
