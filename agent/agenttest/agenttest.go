// Package agenttest is an in-process fake of the server's agent API for
// tests: enrollment with a token, the long poll with a hold, an action queue
// that re-offers each action until it is acknowledged, result recording and
// fault injection. It follows the wire contract in shared/protocol.
package agenttest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Options configures a Server.
type Options struct {
	// Token is the accepted enrollment token; default "good-token".
	Token string
	// Hold is how long a waiting poll is held when nothing is pending;
	// default 30 s (longer than any test should need).
	Hold time.Duration
	// TLS serves https with httptest's self-signed certificate.
	TLS bool
}

// Poll is one poll request as the server saw it.
type Poll struct {
	Auth string
	Req  protocol.PollRequest
	// Status is the answer's status, 0 while in flight.
	Status int
	// Held is set when the poll was held; Cancelled when the client gave up
	// on it during the hold.
	Held, Cancelled bool
}

type failure struct {
	status          int
	code, message   string
	afterProcessing bool
}

// Server is the fake. All methods are safe for concurrent use.
type Server struct {
	URL  string
	opts Options
	srv  *httptest.Server

	mu         sync.Mutex
	changes    testenv.Changes // on every state change
	queued     chan struct{}   // closed when an action is queued (ends holds)
	token      string
	agents     map[string]string // secret -> agent id
	revoked    bool
	enrolls    []protocol.EnrollRequest
	enrollAuth []string
	polls      []Poll
	queue      []protocol.Action
	results    map[string][]protocol.ActionResult
	policy     *protocol.Policy
	pollFails  []failure
	enrollFail []failure
}

// New starts a fake server that is closed when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Token == "" {
		opts.Token = "good-token"
	}
	if opts.Hold <= 0 {
		opts.Hold = 30 * time.Second
	}
	s := &Server{
		opts:    opts,
		queued:  make(chan struct{}),
		token:   opts.Token,
		agents:  map[string]string{},
		results: map[string][]protocol.ActionResult{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+protocol.PathEnroll, s.handleEnroll)
	mux.HandleFunc("POST "+protocol.PathPoll, s.handlePoll)
	s.srv = httptest.NewUnstartedServer(mux)
	// Handshake failures are expected in pinning tests; keep output clean.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if opts.TLS {
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// HTTPServer exposes the underlying server (certificate, client).
func (s *Server) HTTPServer() *httptest.Server { return s.srv }

// Queue offers actions to every agent until acknowledged. Queuing an id
// again re-offers it, as a server would after losing track of an ack.
func (s *Server) Queue(actions ...protocol.Action) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range actions {
		if a.Created.IsZero() {
			a.Created = time.Now().UTC()
		}
		s.queue = append(s.queue, a)
	}
	close(s.queued)
	s.queued = make(chan struct{})
	s.notifyLocked()
}

// SetPolicy sets the policy sent to agents holding another version.
func (s *Server) SetPolicy(p protocol.Policy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policy = &p
	s.notifyLocked()
}

// SetToken changes the accepted enrollment token.
func (s *Server) SetToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = tok
}

// Revoke rejects every agent secret from now on (401 bad_secret).
func (s *Server) Revoke() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = true
}

// FailPolls makes the next n polls answer status with code. With
// afterProcessing the poll is processed first (acks and results recorded),
// as when an answer is lost on the way back.
func (s *Server) FailPolls(n, status int, code string, afterProcessing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.pollFails = append(s.pollFails, failure{status: status, code: code, message: "injected failure", afterProcessing: afterProcessing})
	}
}

// FailEnrolls makes the next n enrollments answer status with code and
// message.
func (s *Server) FailEnrolls(n, status int, code, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.enrollFail = append(s.enrollFail, failure{status: status, code: code, message: message})
	}
}

// Enrolls returns the enrollment requests received.
func (s *Server) Enrolls() []protocol.EnrollRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.enrolls)
}

// EnrollAuth returns the Authorization headers of enrollment requests.
func (s *Server) EnrollAuth() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.enrollAuth)
}

// Polls returns the polls received, in arrival order.
func (s *Server) Polls() []Poll {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.polls)
}

// Results returns every result received for id, duplicates included.
func (s *Server) Results(id string) []protocol.ActionResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.results[id])
}

// Secret returns the secret issued to agentID.
func (s *Server) Secret(agentID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sec, id := range s.agents {
		if id == agentID {
			return sec
		}
	}
	return ""
}

// WaitFor blocks until cond holds, re-checking on every change of server
// state, and fails the test after timeout.
func (s *Server) WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !s.changes.Await(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

func (s *Server) notifyLocked() { s.changes.Changed() }

func (s *Server) handleEnroll(w http.ResponseWriter, r *http.Request) {
	var req protocol.EnrollRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, protocol.CodeBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notifyLocked()
	s.enrolls = append(s.enrolls, req)
	s.enrollAuth = append(s.enrollAuth, r.Header.Get("Authorization"))
	if len(s.enrollFail) > 0 {
		f := s.enrollFail[0]
		s.enrollFail = s.enrollFail[1:]
		writeError(w, f.status, f.code, f.message)
		return
	}
	if req.Token != s.token {
		writeError(w, http.StatusUnauthorized, protocol.CodeBadToken, "enrollment token unknown or expired")
		return
	}
	b := make([]byte, 32)
	rand.Read(b)
	secret := hex.EncodeToString(b)
	id := fmt.Sprintf("agent-%d", len(s.agents)+1)
	s.agents[secret] = id
	writeJSON(w, http.StatusOK, protocol.EnrollResponse{AgentID: id, Secret: secret})
}

func (s *Server) handlePoll(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	var req protocol.PollRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, protocol.CodeBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	idx := len(s.polls)
	s.polls = append(s.polls, Poll{Auth: auth, Req: req})
	s.notifyLocked()
	status, code, msg := s.checkPollLocked(auth)
	var fail *failure
	if status == 0 && len(s.pollFails) > 0 {
		fail = &s.pollFails[0]
		s.pollFails = s.pollFails[1:]
		if !fail.afterProcessing {
			status, code, msg = fail.status, fail.code, fail.message
		}
	}
	if status == 0 {
		s.processLocked(req)
		if fail != nil {
			status, code, msg = fail.status, fail.code, fail.message
		}
	}
	if status != 0 {
		s.polls[idx].Status = status
		s.notifyLocked()
		s.mu.Unlock()
		writeError(w, status, code, msg)
		return
	}
	if len(s.queue) == 0 && req.Wait {
		s.polls[idx].Held = true
		queued := s.queued
		s.notifyLocked()
		s.mu.Unlock()
		t := time.NewTimer(s.opts.Hold)
		select {
		case <-queued:
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
		s.mu.Lock()
		if r.Context().Err() != nil {
			s.polls[idx].Cancelled = true
			s.notifyLocked()
			s.mu.Unlock()
			return
		}
	}
	resp := protocol.PollResponse{Actions: slices.Clone(s.queue)}
	if s.policy != nil && s.policy.Version != req.PolicyVersion {
		p := *s.policy
		resp.Policy = &p
	}
	s.polls[idx].Status = http.StatusOK
	s.notifyLocked()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) checkPollLocked(auth string) (int, string, string) {
	secret, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || s.revoked || s.agents[secret] == "" {
		return http.StatusUnauthorized, protocol.CodeBadSecret, "agent unknown or revoked"
	}
	return 0, "", ""
}

// processLocked records results and drops acknowledged actions.
func (s *Server) processLocked(req protocol.PollRequest) {
	done := map[string]bool{}
	for _, res := range req.Results {
		s.results[res.ID] = append(s.results[res.ID], res)
		done[res.ID] = true
	}
	for _, id := range req.Acks {
		done[id] = true
	}
	s.queue = slices.DeleteFunc(s.queue, func(a protocol.Action) bool { return done[a.ID] })
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, protocol.Error{Error: msg, Code: code})
}
