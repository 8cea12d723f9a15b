// Command tether-agent is the Tether endpoint agent: the OS service
// (`service`), its foreground twin for development and tests (`run`), and
// the commands that install, remove and inspect the service.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/tetherdesk/tether/agent/runner"
)

// Exit codes.
const (
	exitOK        = 0
	exitFailure   = 1 // anything else
	exitUsage     = 2 // bad command line or configuration
	exitBadToken  = 3 // enrollment token rejected by the server
	exitBadSecret = 4 // agent secret rejected: agent revoked or unknown
)

const usageText = `Usage: tether-agent <command> [flags]

Commands:
  run         run the agent in the foreground until interrupted
  service     run the agent under the OS service manager
  session     the session helper (started by the service in a desktop session)
  install     write the config file and install and start the service
  uninstall   stop and remove the service (--purge: also config and state)
  status      show service state, server, agent id, last poll and last error
  code        enter a connection code from your technician: code 123-456-789
  version     print the version

Run 'tether-agent <command> --help' for the flags of a command.
Exit codes: 0 ok, 1 failure, 2 usage or configuration error,
3 enrollment token rejected, 4 agent credentials rejected.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cli runs a command and turns its error into a one-line message on stderr
// and an exit code.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := run(ctx, args, stdout, stderr)
	if err != nil && !errors.Is(err, pflag.ErrHelp) {
		fmt.Fprintln(stderr, message(err))
	}
	return exitCode(err)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return usageError{errors.New("no command given")}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stderr)
	case "service":
		return cmdService(ctx, rest, stderr)
	case "session":
		return cmdSession(ctx, rest, stderr)
	case "install":
		return cmdInstall(rest, stdout, stderr)
	case "uninstall":
		return cmdUninstall(rest, stdout, stderr)
	case "status":
		return cmdStatus(rest, stdout, stderr)
	case "code":
		return cmdCode(ctx, rest, stdout, stderr)
	case "version":
		return cmdVersion(rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usageText)
		return nil
	default:
		fmt.Fprint(stderr, usageText)
		return usageError{fmt.Errorf("unknown command %q", cmd)}
	}
}

// usageError marks a bad command line or configuration (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCode maps the error a command returned to the process exit code.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, pflag.ErrHelp):
		return exitOK
	case errors.Is(err, runner.ErrBadToken):
		return exitBadToken
	case errors.Is(err, runner.ErrBadSecret):
		return exitBadSecret
	case errors.As(err, &ue), errors.Is(err, runner.ErrNoToken):
		return exitUsage
	default:
		return exitFailure
	}
}

// message is the line printed for err.
func message(err error) string {
	if errors.Is(err, runner.ErrBadSecret) {
		// Always say why in words an operator knows, whatever the server wrote.
		return err.Error() + " (agent revoked or unknown to the server; to re-enroll: tether-agent uninstall --purge, then install with a new token)"
	}
	return err.Error()
}
