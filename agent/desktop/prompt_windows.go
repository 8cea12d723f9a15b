package desktop

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tetherdesk/tether/agent/internal/winui"
	"github.com/tetherdesk/tether/agent/session"
	"github.com/tetherdesk/tether/shared/protocol"
)

// WinUI is ZenityUI with the attended prompt and the mode question as
// Win32 dialogs of our own: the mode choice in the prompt itself and a
// countdown to the request's end, which zenity's message boxes cannot
// show. Notices and the end dialog stay zenity's (native there).
type WinUI struct{ ZenityUI }

// expires is when a request shown for timeoutS ends: ctx's deadline if it
// has one.
func expires(ctx context.Context, timeoutS int) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(time.Duration(timeoutS) * time.Second)
}

// Ask implements session.UI.
func (u WinUI) Ask(ctx context.Context, req session.AskRequest) (session.Answer, error) {
	modes := append([]protocol.Mode{req.Mode}, req.Alternatives...)
	d := winui.Dialog{
		Title:   DialogTitle,
		Text:    fmt.Sprintf("%s asks to %s.\n\nAllow this remote support session?", req.Technician, req.What()),
		OK:      "Accept",
		Cancel:  "Decline",
		Expires: expires(ctx, req.TimeoutS),
		Consent: true,
	}
	if len(modes) > 1 {
		d.Text = fmt.Sprintf("%s asks to %s.\n\nAllow this remote support session as asked, or allow less:", req.Technician, req.What())
		for _, m := range modes {
			d.Choices = append(d.Choices, session.ModeText(m))
		}
	}
	if req.Recorded {
		d.Text = strings.Replace(d.Text, "\n\n", "\n\n"+RecordedNotice+"\n\n", 1)
	}
	r, err := winui.ShowDialog(ctx, d)
	switch {
	case ctx.Err() != nil:
		return session.Answer{}, ctx.Err()
	case err != nil:
		return session.Answer{}, fmt.Errorf("showing the prompt: %w", err)
	case !r.OK:
		return session.Answer{}, nil
	}
	return session.Answer{Accepted: true, Mode: modes[r.Choice]}, nil
}

// AskMode implements session.ModeAsker.
func (u WinUI) AskMode(ctx context.Context, req session.ModeRequest) (bool, error) {
	r, err := winui.ShowDialog(ctx, winui.Dialog{
		Title: ModeDialogTitle,
		Text: fmt.Sprintf("%s asks to change this session: from now on, to %s.\n\nAllow it? (Otherwise the session goes on as it is.)",
			req.Technician, session.ModeText(req.To)),
		OK:      "Allow",
		Cancel:  "Keep as it is",
		Expires: expires(ctx, req.TimeoutS),
		Consent: true,
	})
	switch {
	case ctx.Err() != nil:
		return false, ctx.Err()
	case err != nil:
		return false, fmt.Errorf("showing the mode question: %w", err)
	}
	return r.OK, nil
}
