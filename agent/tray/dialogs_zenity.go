package tray

import (
	"context"
	"errors"
	"fmt"

	"github.com/ncruces/zenity"

	"github.com/tetherdesk/tether/agent/internal/ask"
)

// Window titles of the tray's dialogs. They differ from the session
// prompt's ("Tether remote support") so that neither is taken for the
// other.
const (
	CodeEntryTitle  = "Tether: Enter Connection Code"
	CodeResultTitle = "Tether: Connection Code"
	AboutTitle      = "About Tether"
	NoticeTitle     = "Tether"
)

// ZenityDialogs shows the tray's dialogs with zenity (on Linux the zenity
// program, on Windows native dialogs).
//
// The entry cannot format the code while it is typed (neither zenity's
// GTK entry nor the Windows one lets the caller see keystrokes), so it
// takes the code with or without dashes and spaces, and a Try Again shows
// what was typed formatted as 123-456-789.
type ZenityDialogs struct{}

// EnterCode implements Dialogs.
func (ZenityDialogs) EnterCode(ctx context.Context, prefill string) (string, error) {
	s, err := zenity.Entry("Enter the connection code your technician gave you (9 digits, like 123-456-789):",
		zenity.Title(CodeEntryTitle), zenity.EntryText(prefill), zenity.OKLabel("Connect"), zenity.CancelLabel("Cancel"),
		zenity.Context(ctx))
	switch {
	case ctx.Err() != nil:
		return "", ctx.Err()
	case errors.Is(err, zenity.ErrCanceled):
		return "", ErrCancelled
	case err != nil:
		return "", fmt.Errorf("showing the connection-code entry: %w", err)
	}
	return s, nil
}

// Retry implements Dialogs.
func (ZenityDialogs) Retry(ctx context.Context, text string) (bool, error) {
	yes, err := ask.YesNo(ctx, text, zenity.Title(CodeResultTitle), zenity.OKLabel("Try Again"), zenity.CancelLabel("Cancel"),
		zenity.WarningIcon)
	if err != nil && ctx.Err() == nil {
		return false, fmt.Errorf("showing the Try Again dialog: %w", err)
	}
	return yes, err
}

// Message implements Dialogs.
func (ZenityDialogs) Message(ctx context.Context, text string, warn bool) error {
	var err error
	if warn {
		err = zenity.Warning(text, zenity.Title(CodeResultTitle), zenity.Context(ctx))
	} else {
		err = zenity.Info(text, zenity.Title(AboutTitle), zenity.Context(ctx))
	}
	if err != nil && ctx.Err() == nil && !errors.Is(err, zenity.ErrCanceled) {
		return fmt.Errorf("showing a message: %w", err)
	}
	return nil
}

// Notify implements Dialogs.
func (ZenityDialogs) Notify(ctx context.Context, text string) error {
	if err := zenity.Notify(text, zenity.Title(NoticeTitle), zenity.InfoIcon, zenity.Context(ctx)); err != nil && ctx.Err() == nil {
		return fmt.Errorf("showing a notification: %w", err)
	}
	return nil
}
