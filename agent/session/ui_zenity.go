package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ncruces/zenity"
)

// DialogTitle is the title of every dialog the helper shows.
const DialogTitle = "Tether remote support"

// reshowEndDialog is the pause before the "End session" dialog comes back
// after the user dismissed it with "Keep".
const reshowEndDialog = 20 * time.Second

// ZenityUI shows the prompt, the notice and the end dialog with zenity.
type ZenityUI struct {
	Log *slog.Logger
}

var modeNames = map[string]string{
	"active":   "view and control your screen",
	"guidance": "view your screen and point at things",
	"monitor":  "view your screen (no control)",
	"chat":     "chat with you",
	"file":     "transfer files",
}

func modeText(m string) string {
	if s, ok := modeNames[m]; ok {
		return s
	}
	return m
}

// Ask implements UI.
func (u ZenityUI) Ask(ctx context.Context, req AskRequest) (Answer, error) {
	text := fmt.Sprintf("%s asks to %s.\n\nAllow this remote support session? The request expires in %d seconds.",
		req.Technician, modeText(req.Mode), req.TimeoutS)
	opts := []zenity.Option{zenity.Title(DialogTitle), zenity.OKLabel("Accept"), zenity.CancelLabel("Decline"),
		zenity.QuestionIcon, zenity.Context(ctx)}
	var alt string
	if len(req.Alternatives) > 0 {
		alt = req.Alternatives[0]
		opts = append(opts, zenity.ExtraButton("Allow only: "+modeText(alt)))
	}
	err := zenity.Question(text, opts...)
	switch {
	case ctx.Err() != nil:
		return Answer{}, ctx.Err()
	case err == nil:
		return Answer{Accepted: true, Mode: req.Mode}, nil
	case errors.Is(err, zenity.ErrExtraButton):
		return Answer{Accepted: true, Mode: alt}, nil
	case errors.Is(err, zenity.ErrCanceled):
		return Answer{}, nil
	default:
		return Answer{}, fmt.Errorf("showing the prompt: %w", err)
	}
}

// Live implements UI.
func (u ZenityUI) Live(ctx context.Context, technician string, mayEnd bool, end func()) {
	log := u.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// zenity --notification returns at once where a notification
		// daemon runs; Context kills it when the session ends.
		err := zenity.Notify(fmt.Sprintf("%s is connected to your screen.", technician),
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
	text := fmt.Sprintf("Technician %s is connected to your screen. End the session?", technician)
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
