package desktop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ncruces/zenity"

	"github.com/tetherdesk/tether/agent/internal/ask"

	"github.com/tetherdesk/tether/agent/session"
	"github.com/tetherdesk/tether/shared/protocol"
)

// DialogTitle is the title of every dialog the helper shows; the question
// about a technician's mode change has ModeDialogTitle, which starts the
// same.
const (
	DialogTitle     = "Tether remote support"
	ModeDialogTitle = DialogTitle + ": mode change"
)

// reshowEndDialog is the pause before the "End session" dialog comes back
// after the user dismissed it with "Keep".
const reshowEndDialog = 20 * time.Second

// ZenityUI shows the prompt, the notice and the end dialog with zenity.
type ZenityUI struct {
	Log *slog.Logger
}

// Ask implements session.UI.
func (u ZenityUI) Ask(ctx context.Context, req session.AskRequest) (session.Answer, error) {
	text := fmt.Sprintf("%s asks to %s.\n\nAllow this remote support session? The request expires in %d seconds.",
		req.Technician, req.What(), req.TimeoutS)
	if req.Recorded {
		text += "\n\n" + RecordedNotice
	}
	opts := []zenity.Option{zenity.Title(DialogTitle), zenity.OKLabel("Accept"), zenity.CancelLabel("Decline"),
		zenity.QuestionIcon, zenity.Context(ctx)}
	// One other mode: a button for it. More: a button that lists them.
	var alt protocol.Mode
	switch len(req.Alternatives) {
	case 0:
	case 1:
		alt = req.Alternatives[0]
		opts = append(opts, zenity.ExtraButton("Allow only: "+session.ModeText(alt)))
	default:
		opts = append(opts, zenity.ExtraButton("Choose another mode…"))
	}
	err := zenity.Question(text, opts...)
	switch {
	case ctx.Err() != nil:
		return session.Answer{}, ctx.Err()
	case err == nil:
		return session.Answer{Accepted: true, Mode: req.Mode}, nil
	case errors.Is(err, zenity.ErrExtraButton) && alt != "":
		return session.Answer{Accepted: true, Mode: alt}, nil
	case errors.Is(err, zenity.ErrExtraButton):
		return u.chooseMode(ctx, req)
	case errors.Is(err, zenity.ErrCanceled):
		return session.Answer{}, nil
	default:
		return session.Answer{}, fmt.Errorf("showing the prompt: %w", err)
	}
}

// chooseMode lists the other modes; the user's pick is accepted, Cancel
// declines.
func (u ZenityUI) chooseMode(ctx context.Context, req session.AskRequest) (session.Answer, error) {
	items := make([]string, len(req.Alternatives))
	for i, m := range req.Alternatives {
		items[i] = session.ModeText(m)
	}
	pick, err := zenity.List(fmt.Sprintf("Allow %s only to:", req.Technician), items, zenity.Title(DialogTitle),
		zenity.OKLabel("Accept"), zenity.CancelLabel("Decline"), zenity.DefaultItems(items[0]), zenity.Context(ctx))
	switch {
	case ctx.Err() != nil:
		return session.Answer{}, ctx.Err()
	case errors.Is(err, zenity.ErrCanceled):
		return session.Answer{}, nil
	case err != nil:
		return session.Answer{}, fmt.Errorf("showing the mode list: %w", err)
	}
	for i, t := range items {
		if t == pick {
			return session.Answer{Accepted: true, Mode: req.Alternatives[i]}, nil
		}
	}
	return session.Answer{}, nil
}

// AskMode implements session.ModeAsker.
func (u ZenityUI) AskMode(ctx context.Context, req session.ModeRequest) (bool, error) {
	text := fmt.Sprintf("%s asks to change this session: from now on, to %s.\n\nAllow it? (Otherwise the session goes on as it is.) The request expires in %d seconds.",
		req.Technician, session.ModeText(req.To), req.TimeoutS)
	yes, err := ask.YesNo(ctx, text, zenity.Title(ModeDialogTitle), zenity.OKLabel("Allow"), zenity.CancelLabel("Keep as it is"),
		zenity.QuestionIcon)
	if err != nil && ctx.Err() == nil {
		return false, fmt.Errorf("showing the mode question: %w", err)
	}
	return yes, err
}

// Notice implements session.Notifier.
func (u ZenityUI) Notice(ctx context.Context, text string) {
	if err := zenity.Notify(text, zenity.Title(DialogTitle), zenity.InfoIcon, zenity.Context(ctx)); err != nil && ctx.Err() == nil && u.Log != nil {
		u.Log.Debug("notice not shown", "error", err)
	}
}

// Live implements session.UI: the session bar, or the old dialogs where
// it cannot be shown (wish missing).
func (u ZenityUI) Live(ctx context.Context, l session.LiveInfo) {
	b, err := newLiveBar(l, u.log())
	if err != nil {
		u.log().Warn("session bar unavailable; showing dialogs instead", "error", err)
		u.liveDialogs(ctx, l.Technician, l.MayEnd && !l.EndInTray, l.End)
		return
	}
	showBar(ctx, l, b)
}

func (u ZenityUI) log() *slog.Logger {
	if u.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return u.Log
}

// liveDialogs is the live session without a session bar: a notice, and
// where mayEnd an "End session?" question that comes back after Keep.
func (u ZenityUI) liveDialogs(ctx context.Context, technician string, mayEnd bool, end func()) {
	log := u.log()
	done := make(chan struct{})
	go func() {
		defer close(done)
		// zenity --notification returns at once where a notification
		// daemon runs; Context kills it when the session ends.
		err := zenity.Notify(fmt.Sprintf("%s is connected to this computer for remote support.", technician),
			zenity.Title(DialogTitle), zenity.InfoIcon, zenity.Context(ctx))
		if err != nil && ctx.Err() == nil {
			log.Debug("session notice not shown", "error", err)
		}
	}()
	defer func() { <-done }()
	if !mayEnd {
		<-ctx.Done()
		return
	}
	text := fmt.Sprintf("Technician %s is connected to this computer for remote support. End the session?", technician)
	for {
		err := zenity.Question(text, zenity.Title(DialogTitle), zenity.OKLabel("End session"),
			zenity.CancelLabel("Keep"), zenity.WarningIcon, zenity.Context(ctx))
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			end()
			<-ctx.Done()
			return
		case errors.Is(err, zenity.ErrCanceled):
		default:
			log.Warn("cannot show the end-session dialog", "error", err)
			<-ctx.Done()
			return
		}
		t := time.NewTimer(reshowEndDialog)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
