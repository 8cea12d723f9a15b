//go:build unix

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherdesk/tether/shared/protocol"
)

// simAgent is one simulated endpoint: an identity and a poll loop.
type simAgent struct {
	idx    int
	id     string
	secret string
}

// receipt is one arrival of an action in a poll answer.
type receipt struct {
	at    time.Time
	agent int
}

// fleet runs simulated agents against one server. Every agent keeps at most
// one request in flight, so the shared transport holds one TCP connection
// per agent.
type fleet struct {
	base     string
	bases    []string // when set, agent i talks to bases[i%len(bases)]
	client   *http.Client
	tr       *http.Transport
	pollHold time.Duration
	agents   []*simAgent
	wg       sync.WaitGroup

	inFlight   atomic.Int64 // poll requests sent and not yet answered
	polls      atomic.Int64 // poll answers received (any outcome)
	emptyPolls atomic.Int64 // 200 answers with no actions and no policy
	held       atomic.Int64 // polls with wait=true sent

	// answer, when set, makes each agent answer every notification it is
	// handed: delivered, shown and pressed with this value.
	answer string

	mu       sync.Mutex
	got      map[string][]receipt // action id -> arrivals
	notified map[string][]receipt // notification id -> arrivals
	quick    []time.Duration      // round trips of wait=false polls (carrying results)
	errs     map[string]int       // poll error kind -> count
	errFirst map[string]string    // poll error kind -> first full message
}

func newFleet(base string, n int, pollHold time.Duration) *fleet {
	tr := &http.Transport{
		Proxy:               nil, // loopback only, whatever the environment says
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0, // no global limit
		MaxIdleConnsPerHost: n + 64,
		MaxConnsPerHost:     0, // no limit: each agent has its own connection
		IdleConnTimeout:     0,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &fleet{
		base:     base,
		tr:       tr,
		client:   &http.Client{Transport: tr}, // per-request deadlines below
		pollHold: pollHold,
		agents:   make([]*simAgent, n),
		got:      map[string][]receipt{},
		notified: map[string][]receipt{},
		errs:     map[string]int{},
		errFirst: map[string]string{},
	}
}

// baseOf is the server agent i talks to.
func (f *fleet) baseOf(i int) string {
	if len(f.bases) > 0 {
		return f.bases[i%len(f.bases)]
	}
	return f.base
}

// enrollStats describes the enrollment phase.
type enrollStats struct {
	Duration time.Duration
	Latency  []time.Duration // per successful request
	Retries  int
}

// enrollAll enrolls every agent with `workers` concurrent requests and
// starts each agent's poll loop (under runCtx) as soon as it has its
// identity, the way a fleet of freshly installed agents would.
func (f *fleet) enrollAll(ctx, runCtx context.Context, token string, workers int) (enrollStats, error) {
	n := len(f.agents)
	jobs := make(chan int)
	var (
		mu      sync.Mutex
		lat     = make([]time.Duration, 0, n)
		retries int
		firstE  error
	)
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				a, took, tries, err := f.enrollOne(ctx, token, i)
				mu.Lock()
				retries += tries - 1
				if err != nil {
					if firstE == nil {
						firstE = err
					}
				} else {
					lat = append(lat, took)
				}
				mu.Unlock()
				if err != nil {
					continue
				}
				f.agents[i] = a
				f.wg.Add(1)
				go f.run(runCtx, a)
			}
		}()
	}
feed:
	for i := range n {
		mu.Lock()
		failed := firstE != nil
		mu.Unlock()
		if failed {
			break
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	st := enrollStats{Duration: time.Since(start), Latency: lat, Retries: retries}
	if firstE != nil {
		return st, fmt.Errorf("enrollment failed (%d of %d done): %w", len(lat), n, firstE)
	}
	if err := ctx.Err(); err != nil {
		return st, fmt.Errorf("enrollment interrupted (%d of %d done): %w", len(lat), n, err)
	}
	return st, nil
}

// enrollOne enrolls agent i, retrying transport errors and 5xx a few times.
func (f *fleet) enrollOne(ctx context.Context, token string, i int) (*simAgent, time.Duration, int, error) {
	req := protocol.EnrollRequest{
		Token:    token,
		Protocol: protocol.Version,
		Inventory: protocol.Inventory{
			Hostname:     fmt.Sprintf("bench-%05d", i),
			IPs:          []string{fmt.Sprintf("10.%d.%d.%d", 1+i>>16&0xff, i>>8&0xff, i&0xff), "fd00::" + fmt.Sprintf("%x", i+1)},
			OS:           "linux",
			OSVersion:    "bench",
			Arch:         "amd64",
			AgentVersion: "bench",
			Users:        []string{fmt.Sprintf("user%d", i%7)},
		},
	}
	var last error
	for try := 1; try <= 4; try++ {
		rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		t0 := time.Now()
		var resp protocol.EnrollResponse
		r, err := doJSON(rctx, f.client, http.MethodPost, f.baseOf(i)+protocol.PathEnroll, nil, req, &resp, http.StatusCreated)
		took := time.Since(t0)
		cancel()
		if err == nil {
			if resp.AgentID == "" || resp.Secret == "" {
				return nil, took, try, fmt.Errorf("enroll %d: answer lacks agent_id or secret", i)
			}
			return &simAgent{idx: i, id: resp.AgentID, secret: resp.Secret}, took, try, nil
		}
		last = fmt.Errorf("enroll %d: %w", i, err)
		if ctx.Err() != nil || (r != nil && r.StatusCode < 500) {
			return nil, took, try, last
		}
		if !sleepCtx(ctx, time.Duration(try)*500*time.Millisecond) { // retry pacing
			return nil, took, try, last
		}
	}
	return nil, 0, 4, last
}

// run is one agent's poll loop: a held poll, and after any answer with
// actions an immediate non-waiting poll carrying their results.
func (f *fleet) run(ctx context.Context, a *simAgent) {
	defer f.wg.Done()
	var (
		policy  int64
		results []protocol.ActionResult
		events  []protocol.NotificationEvent
		seq     int64
		seen    = map[string]bool{}
	)
	for ctx.Err() == nil {
		req := protocol.PollRequest{
			Protocol:           protocol.Version,
			PolicyVersion:      policy,
			Results:            results,
			NotificationEvents: events,
			Wait:               len(results) == 0 && len(events) == 0,
		}
		if req.Wait {
			req.HoldMS = f.pollHold.Milliseconds() // as the real agent says
		}
		resp, err := f.poll(ctx, a, req)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			f.noteError(err)
			if !sleepCtx(ctx, time.Second) { // a real agent backs off too
				return
			}
			continue // results are resent: the server ignores repeats
		}
		now := time.Now()
		results, events = nil, nil
		for _, n := range resp.Notifications {
			if seen[n.ID] {
				continue // handed again before our events landed: kept once
			}
			seen[n.ID] = true
			f.mu.Lock()
			f.notified[n.ID] = append(f.notified[n.ID], receipt{at: now, agent: a.idx})
			f.mu.Unlock()
			if f.answer != "" {
				for _, k := range []string{protocol.NotifyEventDelivered, protocol.NotifyEventShown, protocol.NotifyEventPressed} {
					seq++
					e := protocol.NotificationEvent{ID: n.ID, Version: n.Version, Seq: seq, Kind: k, At: now, User: "bench"}
					if k == protocol.NotifyEventPressed {
						e.Value = f.answer
					}
					events = append(events, e)
				}
			}
		}
		if resp.Policy != nil {
			policy = resp.Policy.Version
		}
		if len(resp.Actions) == 0 && resp.Policy == nil && len(resp.Notifications) == 0 {
			f.emptyPolls.Add(1)
		}
		if len(resp.Actions) > 0 {
			f.mu.Lock()
			for _, act := range resp.Actions {
				f.got[act.ID] = append(f.got[act.ID], receipt{at: now, agent: a.idx})
			}
			f.mu.Unlock()
			for _, act := range resp.Actions {
				res := protocol.ActionResult{ID: act.ID, OK: true}
				if act.Type == protocol.ActionEcho && len(act.Payload) > 0 {
					res.Output = act.Payload
				} else if act.Type != protocol.ActionEcho {
					res.OK, res.Error = false, "bench agent runs only echo"
				}
				results = append(results, res)
			}
		}
	}
}

// pollError is a non-200 poll answer.
type pollError struct {
	status int
	msg    string
}

func (e *pollError) Error() string { return fmt.Sprintf("poll: HTTP %d: %s", e.status, e.msg) }

func (f *fleet) poll(ctx context.Context, a *simAgent, pr protocol.PollRequest) (protocol.PollResponse, error) {
	body, err := json.Marshal(pr)
	if err != nil {
		return protocol.PollResponse{}, err
	}
	// Above the hold, as the real agent's (client.HoldMargin): a held poll
	// is never cut short by the client.
	ctx, cancel := context.WithTimeout(ctx, f.pollHold+45*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.baseOf(a.idx)+protocol.PathPoll, bytes.NewReader(body))
	if err != nil {
		return protocol.PollResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.secret)
	if pr.Wait {
		f.held.Add(1)
	}
	f.inFlight.Add(1)
	t0 := time.Now()
	resp, err := f.client.Do(req)
	f.inFlight.Add(-1)
	if err != nil {
		return protocol.PollResponse{}, err
	}
	if !pr.Wait {
		rtt := time.Since(t0)
		f.mu.Lock()
		f.quick = append(f.quick, rtt)
		f.mu.Unlock()
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	resp.Body.Close()
	f.polls.Add(1)
	if err != nil {
		return protocol.PollResponse{}, fmt.Errorf("poll: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var pe protocol.Error
		msg := string(b)
		if json.Unmarshal(b, &pe) == nil && pe.Error != "" {
			msg = pe.Error + " (" + pe.Code + ")"
		}
		return protocol.PollResponse{}, &pollError{status: resp.StatusCode, msg: msg}
	}
	var out protocol.PollResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return protocol.PollResponse{}, fmt.Errorf("poll: decode answer: %w", err)
	}
	return out, nil
}

// noteError counts a poll error by kind: status for HTTP answers, the
// innermost error for transport failures.
func (f *fleet) noteError(err error) {
	kind := "transport"
	var pe *pollError
	switch {
	case errors.As(err, &pe):
		kind = fmt.Sprintf("HTTP %d", pe.status)
	case errors.Is(err, context.DeadlineExceeded):
		kind = "client timeout"
	default:
		for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
			err = u
		}
		kind = "transport: " + err.Error()
		if len(kind) > 80 {
			kind = kind[:80]
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[kind]++
	if _, ok := f.errFirst[kind]; !ok {
		f.errFirst[kind] = err.Error()
	}
}

// errorSummary copies the error counts and one example message per kind.
func (f *fleet) errorSummary() (counts map[string]int, first map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.errs), maps.Clone(f.errFirst)
}

func (f *fleet) errorCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.errs {
		n += c
	}
	return n
}

// received reports how many of ids have arrived at least once.
func (f *fleet) received(ids []string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, id := range ids {
		if len(f.got[id]) > 0 {
			n++
		}
	}
	return n
}

// receipts copies the arrivals of every action.
func (f *fleet) receipts() map[string][]receipt {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string][]receipt, len(f.got))
	for id, r := range f.got {
		out[id] = slices.Clone(r)
	}
	return out
}

// quickPolls copies the round trips of wait=false polls.
func (f *fleet) quickPolls() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.quick)
}

// stop cancels the poll loops (via cancel) and waits for them to return.
func (f *fleet) stop(cancel context.CancelFunc, timeout time.Duration) error {
	cancel()
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		f.tr.CloseIdleConnections()
		return nil
	case <-t.C:
		f.tr.CloseIdleConnections()
		return fmt.Errorf("agent loops still running %s after cancel (%d polls in flight)", timeout, f.inFlight.Load())
	}
}

// sleepCtx waits d unless ctx ends first; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
