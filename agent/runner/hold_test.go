package runner

import (
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/client"
)

// TestShortenHold: a held poll cut on the way after a while lowers the
// hold later polls ask for (to what the path allows, never below MinHold);
// the server's own refusals and quick failures do not.
func TestShortenHold(t *testing.T) {
	for _, c := range []struct {
		name string
		hold time.Duration
		err  error
		held time.Duration
		want time.Duration
	}{
		{"a proxy closes idle requests after 60 s", DefaultHold, io.ErrUnexpectedEOF, 60 * time.Second, 50 * time.Second},
		{"a balancer answers 504 after 90 s", DefaultHold, &client.APIError{Status: 504, Message: "Gateway Time-out"}, 90*time.Second + 300*time.Millisecond, 80 * time.Second},
		{"the server's own refusal", DefaultHold, &client.APIError{Status: 503, Code: "unavailable"}, 60 * time.Second, DefaultHold},
		{"a failure before any hold", DefaultHold, errors.New("connection refused"), 2 * time.Second, DefaultHold},
		{"never below the old hold", DefaultHold, io.EOF, 30 * time.Second, MinHold},
		{"never up", 40 * time.Second, io.EOF, 100 * time.Second, 40 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &Runner{hold: c.hold, log: slog.New(slog.DiscardHandler)}
			r.shortenHold(c.err, c.held)
			if r.hold != c.want {
				t.Errorf("hold %v after %v held %v, want %v", r.hold, c.err, c.held, c.want)
			}
		})
	}
}
