package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/tetherdesk/tether/agent/client"
	"github.com/tetherdesk/tether/agent/config"
	"github.com/tetherdesk/tether/agent/helper"
	"github.com/tetherdesk/tether/agent/state"
	"github.com/tetherdesk/tether/agent/tray"
	"github.com/tetherdesk/tether/shared/protocol"
)

// codeError is a connection code the server refused; its message is for
// the end user as it stands.
type codeError struct{ msg string }

func (e codeError) Error() string { return e.msg }

// cmdCode enters a connection code for this endpoint (`tether-agent code
// 123-456-789`), the command-line twin of the tray's "Enter Connection
// Code…". It signs with the agent's own identity from the state directory,
// so it runs as the service account (root). The session it starts reaches
// the running service as a screenshare.start action.
func cmdCode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := newFlags("code", stderr)
	flags.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tether-agent code [123-456-789] [flags]\n\nEnters the connection code your technician gave you; without a code, opens the code dialog on this desktop.\n\nFlags:\n%s", flags.FlagUsages())
	}
	config.AddFlags(flags, config.KeyServer, config.KeyFingerprint, config.KeyProxy, config.KeyStateDir)
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if flags.NArg() == 0 {
		// The desktop entry: the helper of this desktop opens the dialog.
		if err := helper.OpenDialog(ctx, tray.ActionCode); err != nil {
			return fmt.Errorf("%w\nGive the code on the command line instead: tether-agent code 123-456-789", err)
		}
		return nil
	}
	if flags.NArg() != 1 {
		flags.Usage()
		return usageError{errors.New("give exactly one connection code, like 123-456-789")}
	}
	code, err := protocol.ParseCode(flags.Arg(0))
	if err != nil {
		return usageError{err}
	}
	cfg, err := config.Load(flags)
	if err != nil {
		return usageError{err}
	}
	id, err := state.ReadIdentity(cfg.StateDir)
	if errors.Is(err, state.ErrNoIdentity) {
		return errors.New("this computer is not enrolled yet: install the agent first (tether-agent install --server URL --token TOKEN)")
	}
	if err != nil {
		return fmt.Errorf("reading the agent identity (run as the service account, usually root): %w", err)
	}
	server := cfg.Server
	if server == "" {
		server = id.Server
	}
	if server == "" {
		return usageError{errors.New("server not set: use --server, TETHER_SERVER or server in the config file")}
	}
	c, err := client.New(client.Config{Server: server, Fingerprint: cfg.Fingerprint, Proxy: cfg.Proxy.Func()})
	if err != nil {
		return usageError{err}
	}
	resp, err := c.RedeemCode(ctx, id.Secret, code)
	var ae *client.APIError
	if errors.As(err, &ae) {
		switch ae.Code {
		case protocol.CodeWrongCode:
			return codeError{"That code is not valid. Check the digits and try again, or ask your technician for a new code."}
		case protocol.CodeExpiredCode:
			return codeError{"That code has expired. Ask your technician for a new code."}
		case protocol.CodeThrottled:
			return codeError{"Too many wrong codes: " + ae.Message + "."}
		case protocol.CodeForbidden:
			return codeError{"The code cannot be used here: " + ae.Message + "."}
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Code accepted: %s will connect (%s mode).\n", resp.Technician, resp.Mode)
	if resp.Attended {
		fmt.Fprintln(stdout, "Accept the request that appears on your screen to let them in.")
	}
	fmt.Fprintf(stdout, "session: %s\n", resp.SessionID)
	return nil
}
