package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/tetherdesk/tether/server/store/sqlstore"
)

// auditVerify checks the whole audit chain with the key derived from the
// data directory's server secret. It opens the store read-only: it neither
// migrates nor re-keys, so it can run on a copy, or next to the server.
func auditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("audit verify", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	data, db := storeFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "audit verify takes no arguments (got %q)\n", fs.Args())
		return errUsage
	}
	secret, err := readSecret(*data)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no %s in %s: the audit chain's key derives from the server's secret; pass --data with the server's data directory (or a copy of its %s)", SecretFile, *data, SecretFile)
	}
	if err != nil {
		return err
	}
	if *db == "" {
		// Opening a missing file must not make an empty, "intact" store.
		if _, err := os.Stat(filepath.Join(*data, DBFile)); err != nil {
			return fmt.Errorf("no store in %s: %w", *data, err)
		}
	}
	st, err := openStore(ctx, *data, *db, auditKey(secret), sqlstore.ReadOnly())
	if err != nil {
		return err
	}
	defer st.Close()
	check, err := st.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	if !check.Intact() {
		fmt.Fprintf(stdout, "audit chain broken at seq %d: %s\n", check.FirstBad, check.Problem)
		return errReported
	}
	fmt.Fprintf(stdout, "audit chain intact: %d records\n", check.Records)
	return nil
}
