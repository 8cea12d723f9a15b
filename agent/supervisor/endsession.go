package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/tetherdesk/tether/agent/client"
	"github.com/tetherdesk/tether/agent/runner"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Bounds of the supervisor's own end reports.
const (
	endReportTimeout = 20 * time.Second // one attempt: dial, report, the server's answer
	endReportTries   = 6                // then the server's own timeouts take over
)

// errEndRefused: the server answered the report with an error; trying
// again would not change its mind. errAlreadyEnded: it says the session
// is over already.
var (
	errEndRefused   = errors.New("the server refused the end report")
	errAlreadyEnded = errors.New("the session had ended already")
)

// endLater reports, in the background, that a session ended with reason;
// it tries again with back-off while the server cannot be reached. Run
// waits for it.
func (s *Supervisor) endLater(ctx context.Context, start protocol.ScreenShareStart, reason protocol.Reason) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		bo := runner.Backoff{Initial: s.cfg.BackoffInitial, Max: s.cfg.BackoffMax, Rand: s.cfg.Rand}
		for try := 1; ; try++ {
			err := s.cfg.EndSession(ctx, start, reason)
			if err == nil {
				s.log.Info("session ended on the server", "session_id", start.SessionID, "reason", reason)
				return
			}
			if errors.Is(err, errAlreadyEnded) {
				s.log.Info("session had ended on the server already", "session_id", start.SessionID)
				return
			}
			if errors.Is(err, errEndRefused) || try == endReportTries || ctx.Err() != nil {
				s.log.Error("reporting the end of a session", "session_id", start.SessionID, "reason", reason, "error", err)
				return
			}
			delay := bo.Next()
			s.log.Warn("reporting the end of a session; trying again", "session_id", start.SessionID, "error", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				s.log.Error("agent stopping before the end of a session was reported", "session_id", start.SessionID, "reason", reason)
				return
			case <-t.C:
			}
		}
	}()
}

// reportEnded is Config.EndSession's default: it connects to the session's
// agent signalling with the session's token, as the helper does (the
// server takes the newest agent connection, so a helper still connected
// is no longer heard), reports the state ended with reason, and waits for
// the server's "end" (or its error).
func (c *Config) reportEnded(ctx context.Context, start protocol.ScreenShareStart, reason protocol.Reason) error {
	ctx, cancel := context.WithTimeout(ctx, endReportTimeout)
	defer cancel()
	base, err := client.ParseServerURL(c.Server)
	if err != nil {
		return err
	}
	p := start.SignalPath
	if p == "" {
		p = protocol.PathAgentSignal
	}
	ref, err := url.Parse(strings.ReplaceAll(p, "{id}", url.PathEscape(start.SessionID)))
	if err != nil {
		return fmt.Errorf("signal path: %w", err)
	}
	u := base.JoinPath(ref.Path)
	u.RawQuery = ref.RawQuery
	tlsCfg, err := client.TLSConfig(c.Fingerprint)
	if err != nil {
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	tr.Proxy = c.Proxy.Func()
	defer tr.CloseIdleConnections()
	ws, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: tr},
		HTTPHeader: http.Header{"Authorization": []string{"Bearer " + start.AgentToken}},
	})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusConflict && resp.Body != nil {
			var e protocol.Error
			if json.NewDecoder(io.LimitReader(resp.Body, 1024)).Decode(&e) == nil && e.Code == protocol.CodeSessionEnded {
				return errAlreadyEnded
			}
		}
		if resp != nil && resp.StatusCode >= 400 && resp.StatusCode < 500 {
			return fmt.Errorf("%w: connecting the signalling websocket: server answered %s", errEndRefused, resp.Status)
		}
		return fmt.Errorf("connecting the signalling websocket: %w", err)
	}
	defer ws.CloseNow()
	b, err := json.Marshal(protocol.Signal{Type: protocol.SignalState, State: protocol.SessionEnded, Reason: reason})
	if err != nil {
		return err
	}
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("sending the end: %w", err)
	}
	for {
		typ, b, err := ws.Read(ctx)
		if err != nil {
			return fmt.Errorf("waiting for the server to end the session: %w", err)
		}
		if typ != websocket.MessageText {
			continue
		}
		var sig protocol.Signal
		if json.Unmarshal(b, &sig) != nil {
			continue
		}
		switch {
		case sig.Type == protocol.SignalEnd:
			ws.Close(websocket.StatusNormalClosure, "")
			return nil
		case sig.Type == protocol.SignalSession && sig.Session != nil && sig.Session.State == protocol.SessionEnded:
			ws.Close(websocket.StatusNormalClosure, "")
			return nil
		case sig.Type == protocol.SignalError:
			return fmt.Errorf("%w: %s", errEndRefused, sig.Message)
		}
	}
}
