package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/client"
	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/agent/runner"
	"github.com/tetherdesk/tether/shared/protocol"
)

// fakeRedeem answers codes as the server would.
func fakeRedeem(release <-chan struct{}) func(context.Context, string) (protocol.RedeemCodeResponse, error) {
	return func(ctx context.Context, code string) (protocol.RedeemCodeResponse, error) {
		switch code {
		case "123456789":
			return protocol.RedeemCodeResponse{SessionID: "s1", Technician: "brooke", Mode: protocol.ModeActive, Attended: true}, nil
		case "111111111":
			return protocol.RedeemCodeResponse{}, fmt.Errorf("entering the connection code: %w", &client.APIError{Status: http.StatusNotFound, Code: protocol.CodeWrongCode, Message: "that connection code is not valid"})
		case "222222222":
			return protocol.RedeemCodeResponse{}, &client.APIError{Status: http.StatusGone, Code: protocol.CodeExpiredCode, Message: "expired"}
		case "333333333":
			return protocol.RedeemCodeResponse{}, &client.APIError{Status: http.StatusTooManyRequests, Code: protocol.CodeThrottled,
				Message: "too many wrong connection codes were entered on this computer; try again in 15 minute(s)"}
		case "444444444":
			return protocol.RedeemCodeResponse{}, &client.APIError{Status: http.StatusForbidden, Code: protocol.CodeForbidden, Message: "outside the technician's computer groups"}
		case "555555555":
			return protocol.RedeemCodeResponse{}, errors.New("dial tcp 127.0.0.1:1: connection refused")
		case "666666666":
			return protocol.RedeemCodeResponse{}, runner.ErrNotEnrolled
		case "999999999": // held until released
			select {
			case <-release:
			case <-ctx.Done():
			}
			return protocol.RedeemCodeResponse{}, &client.APIError{Status: http.StatusNotFound, Code: protocol.CodeWrongCode}
		}
		return protocol.RedeemCodeResponse{}, errors.New("unexpected code in test")
	}
}

// fakeTray is the test's end of a helper connection.
type fakeTray struct {
	t *testing.T
	c *ipc.Conn
}

func dialAs(t *testing.T, sock, desktop string) *fakeTray {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := ipc.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Send(ipc.Msg{Type: ipc.TypeReady, Desktop: desktop}); err != nil {
		t.Fatal(err)
	}
	return &fakeTray{t: t, c: c}
}

func (f *fakeTray) recv() ipc.Msg {
	f.t.Helper()
	ch := make(chan ipc.Msg, 1)
	errc := make(chan error, 1)
	go func() {
		m, err := f.c.Recv()
		if err != nil {
			errc <- err
			return
		}
		ch <- m
	}()
	select {
	case m := <-ch:
		return m
	case err := <-errc:
		f.t.Fatalf("recv: %v", err)
	case <-time.After(wait):
		f.t.Fatal("no message from the service")
	}
	return ipc.Msg{}
}

func (f *fakeTray) enter(reqID, code string) {
	f.t.Helper()
	if err := f.c.Send(ipc.Msg{Type: ipc.TypeCode, ReqID: reqID, Code: code}); err != nil {
		f.t.Fatal(err)
	}
}

// TestTrayStatusAndCodes: a helper learns the server state on connecting
// and on every change; its connection codes are redeemed by the service
// and answered with what the tray shows; one code at a time; only the
// active desktop's helper may enter codes; no code reaches the log.
func TestTrayStatusAndCodes(t *testing.T) {
	release := make(chan struct{})
	var sock string
	f := start(t, "idle", []Desktop{{Key: "d1", UID: -1, Active: true}, {Key: "d2", UID: -1}}, func(c *Config) {
		c.RedeemCode = fakeRedeem(release)
		sock = c.SocketPath
	})
	// Helpers start once Run listens; the idle ones never connect, so the
	// test speaks for d1's.
	f.recs.waitFor(t, "session helper started", 2)
	h := dialAs(t, sock, "d1")
	if m := h.recv(); m.Type != ipc.TypeStatus || m.ServerState != ipc.ServerConnecting || m.Server != "http://127.0.0.1:1" {
		t.Fatalf("first message %+v, want status connecting", m)
	}
	f.sup.SetServerState(true)
	if m := h.recv(); m.Type != ipc.TypeStatus || m.ServerState != ipc.ServerConnected {
		t.Fatalf("after SetServerState(true): %+v", m)
	}

	tests := []struct {
		code string
		want ipc.CodeResult
	}{
		{"123-456-789", ipc.CodeResult{Outcome: ipc.CodeAccepted, SessionID: "s1", Technician: "brooke", Mode: protocol.ModeActive, Attended: true}},
		{"111111111", ipc.CodeResult{Outcome: ipc.CodeWrong}},
		{"222 222 222", ipc.CodeResult{Outcome: ipc.CodeExpired}},
		{"333333333", ipc.CodeResult{Outcome: ipc.CodeThrottled, Message: "too many wrong connection codes were entered on this computer; try again in 15 minute(s)"}},
		{"444444444", ipc.CodeResult{Outcome: ipc.CodeRefused, Message: "outside the technician's computer groups"}},
		{"555555555", ipc.CodeResult{Outcome: ipc.CodeFailed, Message: "the server could not be reached; check the network connection"}},
		{"666666666", ipc.CodeResult{Outcome: ipc.CodeFailed, Message: "this computer is not enrolled with the server yet"}},
		{"12345", ipc.CodeResult{Outcome: ipc.CodeWrong}}, // not 9 digits: never sent to the server
	}
	for i, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			id := fmt.Sprint("r", i)
			h.enter(id, tt.code)
			m := h.recv()
			if m.Type != ipc.TypeCodeResult || m.ReqID != id || m.CodeResult == nil || *m.CodeResult != tt.want {
				t.Fatalf("answer %+v (%+v), want %+v", m, m.CodeResult, tt.want)
			}
		})
	}

	// One at a time: a second code while the first is checked is refused.
	h.enter("slow", "999999999")
	f.recs.waitFor(t, "connection code entered from the tray", len(tests)-1) // the short code never reached the server
	h.enter("second", "123456789")
	if m := h.recv(); m.ReqID != "second" || m.CodeResult.Outcome != ipc.CodeFailed || !strings.Contains(m.CodeResult.Message, "another connection code") {
		t.Fatalf("second code while one is checked: %+v (%+v)", m, m.CodeResult)
	}
	close(release)
	if m := h.recv(); m.ReqID != "slow" || m.CodeResult.Outcome != ipc.CodeWrong {
		t.Fatalf("the held code: %+v (%+v)", m, m.CodeResult)
	}

	// Another desktop's helper: told the state, refused codes.
	other := dialAs(t, sock, "d2")
	if m := other.recv(); m.Type != ipc.TypeStatus || m.ServerState != ipc.ServerConnected {
		t.Fatalf("d2's first message %+v", m)
	}
	other.enter("x", "123456789")
	if m := other.recv(); m.ReqID != "x" || m.CodeResult.Outcome != ipc.CodeRefused {
		t.Fatalf("a code from the inactive desktop: %+v (%+v)", m, m.CodeResult)
	}

	// Both helpers hear of a lost server.
	f.sup.SetServerState(false)
	for _, c := range []*fakeTray{h, other} {
		if m := c.recv(); m.Type != ipc.TypeStatus || m.ServerState != ipc.ServerDisconnected {
			t.Fatalf("after SetServerState(false): %+v", m)
		}
	}

	f.recs.mu.Lock()
	defer f.recs.mu.Unlock()
	for msg, recs := range f.recs.msgs {
		for _, rec := range recs {
			rec.Attrs(func(a slog.Attr) bool {
				for _, tt := range tests {
					if d := strings.NewReplacer("-", "", " ", "").Replace(tt.code); strings.Contains(a.Value.String(), d) {
						t.Errorf("log %q carries a code in %s=%s", msg, a.Key, a.Value)
					}
				}
				return true
			})
		}
	}
}

// TestCodeStartsSessionAtOnce: the server's answer to a connection code
// carries the session's screenshare.start; the service hands it to the
// helper at once, and the same start coming through the poll afterwards
// is answered as handed over without a second start.
func TestCodeStartsSessionAtOnce(t *testing.T) {
	want := protocol.ScreenShareStart{SessionID: "s7", AgentToken: "tss_x", Attended: true, Mode: protocol.ModeActive,
		Technician: "brooke", SignalPath: "/api/agent/v1/sessions/s7/signal"}
	var sock string
	f := start(t, "idle", []Desktop{{Key: "d1", UID: -1, Active: true}}, func(c *Config) {
		c.RedeemCode = func(context.Context, string) (protocol.RedeemCodeResponse, error) {
			st := want
			return protocol.RedeemCodeResponse{SessionID: "s7", Technician: "brooke", Mode: protocol.ModeActive, Attended: true, Start: &st}, nil
		}
		sock = c.SocketPath
	})
	f.recs.waitFor(t, "session helper started", 1)
	h := dialAs(t, sock, "d1")
	if m := h.recv(); m.Type != ipc.TypeStatus {
		t.Fatalf("first message %+v, want status", m)
	}
	h.enter("r1", "123-456-789")
	if m := h.recv(); m.Type != ipc.TypeStart || m.Start == nil || m.Start.SessionID != "s7" || m.Start.AgentToken != "tss_x" {
		t.Fatalf("after the code: %+v, want the session's start before any poll", m)
	}
	if m := h.recv(); m.Type != ipc.TypeCodeResult || m.CodeResult.Outcome != ipc.CodeAccepted {
		t.Fatalf("then %+v, want the code accepted", m)
	}
	payload, _ := json.Marshal(want)
	out, err := f.sup.Handle(context.Background(), payload)
	if err != nil || !out.(HandOutput).HandedOver {
		t.Fatalf("the poll's copy: %+v %v, want handed over", out, err)
	}
	// The next message is the status change, not a second start.
	f.sup.SetServerState(true)
	if m := h.recv(); m.Type != ipc.TypeStatus {
		t.Fatalf("after the poll's copy: %+v, want no second start", m)
	}
}
