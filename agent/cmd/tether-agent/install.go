package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kardianos/service"

	"github.com/tetherdesk/tether/agent/config"
	"github.com/tetherdesk/tether/agent/notify"
	"github.com/tetherdesk/tether/agent/state"
)

// noop is the service program for commands that only control the service.
type noop struct{}

func (noop) Start(service.Service) error { return nil }
func (noop) Stop(service.Service) error  { return nil }

func controlService(configPath string) (service.Service, error) {
	abs, err := absConfigPath(configPath)
	if err != nil {
		return nil, err
	}
	svc, err := service.New(noop{}, serviceConfig(abs, nil))
	if err != nil {
		return nil, fmt.Errorf("setting up service control: %w", err)
	}
	return svc, nil
}

// cmdInstall writes the config file from the flags given (replacing any
// previous file) and installs and starts the service, or restarts it when it
// is already installed so that it picks up the new config.
func cmdInstall(args []string, stdout, stderr io.Writer) error {
	flags := newFlags("install", stderr)
	config.AddFlags(flags)
	configOnly := flags.Bool("config-only", false, "write the config file only; the service is registered by a package (the MSI's custom action uses it)")
	if err := parse(flags, args); err != nil {
		return err
	}
	path, _ := config.ConfigFile(flags)
	values := map[string]string{}
	for _, k := range config.Keys() {
		if f := flags.Lookup(k.Flag); f != nil && f.Changed {
			values[k.Name] = f.Value.String()
		}
	}
	if values[config.KeyServer] == "" {
		return usageError{errors.New("install needs --server")}
	}
	// Check what is about to be written; the old file, if any, is replaced.
	cfg, err := config.FromValues(values)
	if err != nil {
		return usageError{err}
	}
	if values[config.KeyToken] == "" {
		if _, err := state.ReadIdentity(cfg.StateDir); err != nil {
			return usageError{errors.New("install needs --token (the agent is not enrolled yet)")}
		}
	}
	if *configOnly {
		if err := config.WriteFile(path, values); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", path)
		return nil
	}
	svc, err := controlService(path)
	if err != nil {
		return err
	}
	if err := config.WriteFile(path, values); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", path)

	// Some kardianos back-ends (sysv) report "not installed" as a plain
	// command failure, so any status error means: try to install.
	st, statusErr := svc.Status()
	switch {
	case statusErr != nil:
		if err := svc.Install(); err != nil {
			return fmt.Errorf("installing service (status was: %v): %w", statusErr, err)
		}
		if err := setDelayedStart(); err != nil {
			fmt.Fprintf(stdout, "note: the service starts at boot without delay: %v\n", err)
		}
		if err := svc.Start(); err != nil {
			return fmt.Errorf("starting service: %w", err)
		}
		fmt.Fprintf(stdout, "installed and started service %s (%s)\n", serviceName, svc.Platform())
	case st == service.StatusRunning:
		if err := svc.Restart(); err != nil {
			return fmt.Errorf("restarting service: %w", err)
		}
		fmt.Fprintf(stdout, "service %s was installed; restarted it with the new config\n", serviceName)
	default:
		if err := svc.Start(); err != nil {
			return fmt.Errorf("starting service: %w", err)
		}
		fmt.Fprintf(stdout, "service %s was installed; started it with the new config\n", serviceName)
	}
	return nil
}

// cmdUninstall stops and removes the service; --purge also deletes the
// config file and the agent's own files in the state directory.
func cmdUninstall(args []string, stdout, stderr io.Writer) error {
	flags := newFlags("uninstall", stderr)
	config.AddFlags(flags, config.KeyStateDir)
	purge := flags.Bool("purge", false, "also remove the config file and the state directory (identity, journal)")
	if err := parse(flags, args); err != nil {
		return err
	}
	path, _ := config.ConfigFile(flags)
	svc, err := controlService(path)
	if err != nil {
		return err
	}
	// A failed removal does not stop --purge: the operator wants the
	// machine clean; the error is still reported at the end.
	var svcErr error
	if _, err := svc.Status(); errors.Is(err, service.ErrNotInstalled) {
		fmt.Fprintf(stdout, "service %s is not installed\n", serviceName)
	} else {
		_ = svc.Stop() // fails when not running; Uninstall decides
		switch err := svc.Uninstall(); {
		case err == nil:
			fmt.Fprintf(stdout, "removed service %s\n", serviceName)
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, service.ErrNotInstalled):
			fmt.Fprintf(stdout, "service %s is not installed\n", serviceName)
		default:
			svcErr = fmt.Errorf("removing service: %w", err)
		}
	}
	if !*purge {
		return svcErr
	}
	stateDir := config.DefaultStateDir()
	if cfg, err := config.Load(flags); err == nil {
		stateDir = cfg.StateDir
	} else {
		fmt.Fprintf(stderr, "reading config (using default state dir %s): %v\n", stateDir, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing config file: %w", err)
	}
	fmt.Fprintf(stdout, "removed %s\n", path)
	kept, err := purgeState(stateDir)
	if err != nil {
		return errors.Join(svcErr, err)
	}
	if kept {
		fmt.Fprintf(stdout, "removed agent state from %s; kept the directory, which holds other files\n", stateDir)
	} else {
		fmt.Fprintf(stdout, "removed agent state %s\n", stateDir)
	}
	return svcErr
}

// purgeState deletes only what the agent put in dir, then dir if empty: a
// misconfigured state_dir (say, /) must not lead to deleting everything.
// kept reports that dir stayed because it holds other files.
func purgeState(dir string) (kept bool, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading state directory: %w", err)
	}
	ours := map[string]bool{state.IdentityFile: true, state.PolicyFile: true, state.StatusFile: true, state.ActionsDir: true, notify.Dir: true}
	for _, e := range entries {
		name := e.Name()
		temp := strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-")
		if !ours[name] && !temp {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return false, fmt.Errorf("removing %s: %w", name, err)
		}
	}
	if rest, err := os.ReadDir(dir); err == nil && len(rest) > 0 {
		return true, nil
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("removing state directory: %w", err)
	}
	return false, nil
}

// cmdStatus reports what an operator asks first. It reads files only and
// never prints the secret.
func cmdStatus(args []string, stdout, stderr io.Writer) error {
	flags := newFlags("status", stderr)
	config.AddFlags(flags, config.KeyStateDir)
	if err := parse(flags, args); err != nil {
		return err
	}
	path, _ := config.ConfigFile(flags)
	row := func(k, v string) { fmt.Fprintf(stdout, "%-14s %s\n", k+":", v) }

	if svc, err := controlService(path); err != nil {
		row("service", "unknown ("+err.Error()+")")
	} else {
		row("service", serviceState(svc))
	}

	cfg, err := config.Load(flags)
	switch {
	case err != nil:
		row("config", path+" (error: "+err.Error()+")")
		cfg.StateDir = flags.Lookup(config.Flag(config.KeyStateDir)).Value.String()
	case cfg.File == "":
		row("config", path+" (not found)")
	default:
		row("config", cfg.File)
	}
	row("server", orNone(cfg.Server))
	row("state dir", cfg.StateDir)

	st, stErr := state.ReadStatus(cfg.StateDir)
	agentID := st.AgentID
	if agentID == "" {
		if id, err := state.ReadIdentity(cfg.StateDir); err == nil {
			agentID = id.AgentID
		} else if errors.Is(err, state.ErrNoIdentity) {
			agentID = "not enrolled"
		} else {
			agentID = "unknown (" + err.Error() + ")"
		}
	}
	row("agent id", agentID)
	if stErr != nil {
		if errors.Is(stErr, fs.ErrNotExist) {
			row("last poll ok", "never (no status file yet)")
			return nil
		}
		row("last poll ok", "unknown ("+stErr.Error()+")")
		return nil
	}
	row("last poll ok", when(st.LastPollOK))
	if st.LastError != "" {
		row("last error", st.LastError+" (at "+when(st.LastErrorAt)+")")
	} else {
		row("last error", "none")
	}
	row("updated", when(st.Updated))
	return nil
}

func serviceState(svc service.Service) string {
	st, err := svc.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		return "not installed"
	case err != nil:
		return "unknown (" + err.Error() + ")"
	case st == service.StatusRunning:
		return "running (" + svc.Platform() + ")"
	case st == service.StatusStopped:
		return "stopped (" + svc.Platform() + ")"
	default:
		return "unknown"
	}
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%s (%s ago)", t.Local().Format(time.RFC3339), time.Since(t).Round(time.Second))
}

func orNone(s string) string {
	if s == "" {
		return "(not configured)"
	}
	return s
}
