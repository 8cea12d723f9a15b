package tray

import (
	"context"
	"fmt"

	"github.com/tetherdesk/tether/agent/internal/winui"
)

// NewDialogs are the tray's dialogs on Windows: the connection-code entry
// is a Win32 dialog of our own, which groups the digits as they are typed
// (zenity's cannot); the rest are zenity's native dialogs.
func NewDialogs() Dialogs { return WinDialogs{} }

// WinDialogs is ZenityDialogs with a Win32 connection-code entry.
type WinDialogs struct{ ZenityDialogs }

// EnterCode implements Dialogs.
func (WinDialogs) EnterCode(ctx context.Context, prefill string) (string, error) {
	r, err := winui.ShowDialog(ctx, winui.Dialog{
		Title:     CodeEntryTitle,
		Text:      "Enter the connection code your technician gave you (9 digits, like 123-456-789):",
		Entry:     true,
		EntryText: typedCode(prefill),
		Format:    typedCode,
		OK:        "Connect",
		Cancel:    "Cancel",
	})
	switch {
	case ctx.Err() != nil:
		return "", ctx.Err()
	case err != nil:
		return "", fmt.Errorf("showing the connection-code entry: %w", err)
	case !r.OK:
		return "", ErrCancelled
	}
	return r.Text, nil
}
