// Command tether-server is Tether's control server: API, console, agent
// long-poll and store.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `tether-server — Tether control server

Usage:
  tether-server [serve] [flags]         run the server (default command)
  tether-server user add --name N --role R [--role R2] --password-stdin [--data DIR | --db URL]
  tether-server token create [--group G] [--ttl-hours H] [--data DIR | --db URL]
  tether-server audit verify [--data DIR | --db URL]
                                        check the audit chain; exit 1 when broken
  tether-server release keygen [--out DIR]
  tether-server release add --version V --key FILE --file linux/amd64=PATH [--msi windows/amd64=PATH] [--data DIR]
  tether-server release list [--data DIR]
                                        agent builds for installers and updates, signed
  tether-server version

Run "tether-server serve --help" for the server's flags. The offline
commands read the server secret from --data DIR (with --db too).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, errUsage) && !errors.Is(err, errReported) {
			fmt.Fprintln(os.Stderr, "tether-server:", err)
		}
		os.Exit(exitCode(err))
	}
}

var errUsage = errors.New("usage")

// errReported ends a command that has already said what went wrong: exit
// status 1 and nothing more on standard error.
var errReported = errors.New("failed")

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// run dispatches a subcommand.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, stdout, stderr)
	case "user":
		if len(args) == 0 || args[0] != "add" {
			fmt.Fprint(stderr, usage)
			return errUsage
		}
		return userAdd(ctx, args[1:], stdin, stdout, stderr)
	case "token":
		if len(args) == 0 || args[0] != "create" {
			fmt.Fprint(stderr, usage)
			return errUsage
		}
		return tokenCreate(ctx, args[1:], stdout, stderr)
	case "audit":
		if len(args) == 0 || args[0] != "verify" {
			fmt.Fprint(stderr, usage)
			return errUsage
		}
		return auditVerify(ctx, args[1:], stdout, stderr)
	case "release":
		return releaseCmd(args, stdout, stderr)
	case "version":
		return printVersion(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
		return errUsage
	}
}
