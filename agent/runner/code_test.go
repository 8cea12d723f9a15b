package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/tetherdesk/tether/internal/testenv"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/agenttest"
	"github.com/tetherdesk/tether/agent/client"
	"github.com/tetherdesk/tether/agent/runner"
	"github.com/tetherdesk/tether/shared/protocol"
)

// codeServer answers the connection-code route itself and passes every
// other request to the fake agent server.
type codeServer struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string
}

func newCodeServer(t *testing.T, srv *agenttest.Server, good string) *codeServer {
	cs := &codeServer{}
	fake := srv.HTTPServer().Config.Handler
	cs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != protocol.PathRedeemCode {
			fake.ServeHTTP(w, r)
			return
		}
		cs.mu.Lock()
		cs.auths = append(cs.auths, r.Header.Get("Authorization"))
		cs.mu.Unlock()
		var req protocol.RedeemCodeRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/json")
		if req.Code != good {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(protocol.Error{Error: "that connection code is not valid", Code: protocol.CodeWrongCode})
			return
		}
		_ = json.NewEncoder(w).Encode(protocol.RedeemCodeResponse{SessionID: "s1", Technician: "brooke", Mode: protocol.ModeActive, Attended: true})
	}))
	t.Cleanup(cs.Close)
	return cs
}

// TestServerStateAndRedeemCode: the runner reports whether the server
// answers (changes only), and redeems a connection code with the agent's
// own secret once it has one.
func TestServerStateAndRedeemCode(t *testing.T) {
	srv := agenttest.New(t, agenttest.Options{Hold: 20 * time.Millisecond})
	cs := newCodeServer(t, srv, "123456789")
	logs := &testenv.Lines{}
	cfg := testConfig(t, srv, filepath.Join(t.TempDir(), "state"), logs)
	cfg.Server = cs.URL
	var (
		mu     sync.Mutex
		states []bool
	)
	cfg.ServerState = func(ok bool) {
		mu.Lock()
		states = append(states, ok)
		mu.Unlock()
	}
	seen := func() []bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(states)
	}
	r, err := runner.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.RedeemCode(context.Background(), "123456789"); !errors.Is(err, runner.ErrNotEnrolled) {
		t.Fatalf("RedeemCode before enrollment: %v, want ErrNotEnrolled", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	// WaitFor re-checks on every poll (one each 20 ms here).
	srv.WaitFor(t, waitTimeout, "the server reported reachable", func() bool { return slices.Equal(seen(), []bool{true}) && okPolls(srv) > 1 })

	resp, err := r.RedeemCode(context.Background(), "123456789")
	if err != nil || resp.SessionID != "s1" || resp.Technician != "brooke" {
		t.Fatalf("RedeemCode(right) = %+v, %v", resp, err)
	}
	_, err = r.RedeemCode(context.Background(), "999999999")
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Code != protocol.CodeWrongCode {
		t.Fatalf("RedeemCode(wrong) = %v, want an APIError %s", err, protocol.CodeWrongCode)
	}
	cs.mu.Lock()
	auths := slices.Clone(cs.auths)
	cs.mu.Unlock()
	want := "Bearer " + srv.Secret("agent-1")
	for i, a := range auths {
		if a != want {
			t.Errorf("redeem %d carried Authorization %q, want the agent secret", i, a)
		}
	}

	// Two failed polls: one change to false, then back to true.
	srv.FailPolls(2, http.StatusServiceUnavailable, protocol.CodeUnavailable, false)
	srv.WaitFor(t, waitTimeout, "disconnected, then connected again", func() bool {
		return slices.Equal(seen(), []bool{true, false, true})
	})
}
