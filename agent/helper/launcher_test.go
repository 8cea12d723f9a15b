//go:build unix

package helper

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/agent/tray"
	"github.com/tetherdesk/tether/agent/tray/traytest"
	"github.com/tetherdesk/tether/internal/testenv"
)

// TestLauncherOpensCodeDialog: `tether-agent code` with no code (the
// desktop entry) asks the helper of its desktop, over the launcher socket,
// to open the connection-code dialog, with no tray icon at all; it says
// why when the dialog cannot open.
func TestLauncherOpensCodeDialog(t *testing.T) {
	t.Setenv("DISPLAY", fmt.Sprintf(":launcher-test-%d", os.Getpid()))
	ln := serviceListener(t)
	dialogs := traytest.New(tray.ErrCancelled)
	hc := startHelper(t, ln, Config{Desktop: "d1", Version: "9.9.9", Logger: testLogger(t), Deps: Deps{TrayDialogs: dialogs}})
	ctx := context.Background()

	// The helper listens; until the service says the server answers, the
	// dialog cannot open, and the user is told why.
	var err error
	testenv.Eventually(t, wait, "the launcher socket", func() (bool, error) {
		err = OpenDialog(ctx, tray.ActionCode)
		return err != nil && strings.Contains(err.Error(), "cannot reach the support server"), err
	})
	hc.send(ipc.Msg{Type: ipc.TypeStatus, ServerState: ipc.ServerConnected, Server: "https://tether.example"})
	testenv.Eventually(t, wait, "the dialog to open", func() (bool, error) {
		err = OpenDialog(ctx, tray.ActionCode)
		return err == nil, err
	})
	if c := dialogs.WaitCall(t, 1, wait); c != "entry " {
		t.Fatalf("dialog %q, want the code entry", c)
	}
	if err := OpenDialog(ctx, tray.ActionCode); err == nil || !strings.Contains(err.Error(), "being entered already") {
		t.Errorf("a second request while the dialog is open: %v", err)
	}
	if err := OpenDialog(ctx, "about"); err == nil || !strings.Contains(err.Error(), "unknown dialog") {
		t.Errorf("another dialog: %v", err)
	}
	dialogs.Entries <- "123-456-789"
	if m := hc.recvType(ipc.TypeCode); m.Code != "123456789" {
		t.Errorf("code message %+v", m)
	}
	if _, err := os.Stat(launcherPath()); err != nil {
		t.Fatalf("no launcher socket: %v", err)
	}
}
