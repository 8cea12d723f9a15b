package api_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/app"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

var codeRE = regexp.MustCompile(`^\d{3}-\d{3}-\d{3}$`)

// redeem enters a code as the agent with secret; it returns the status,
// the answer and the error body.
func (e *env) redeem(secret, code string) (int, protocol.RedeemCodeResponse, protocol.Error) {
	e.t.Helper()
	c := e.client()
	c.bearer = secret
	var resp protocol.RedeemCodeResponse
	st := c.do("POST", protocol.PathRedeemCode, protocol.RedeemCodeRequest{Code: code}, &resp)
	return st, resp, c.apiError()
}

// wrongCode is a well-formed code that differs from code.
func wrongCode(code string) string {
	d := []byte(strings.ReplaceAll(code, "-", ""))
	d[8] = '0' + (d[8]-'0'+1)%10
	return protocol.FormatCode(string(d))
}

func TestConnectionCodeLifecycle(t *testing.T) {
	e := newEnv(t)
	tech := e.user("tara", perm.RoleScreenShareAgent)
	epID, secret := e.enroll("code-pc", "Default")
	e.poll(secret, protocol.PollRequest{})

	issue := func() protocol.ConnectionCode {
		t.Helper()
		var c protocol.ConnectionCode
		if st := tech.do("POST", "/api/v1/codes", nil, &c); st != 201 {
			t.Fatalf("issue: %d %s", st, tech.last)
		}
		return c
	}
	get := func(id string) protocol.ConnectionCode {
		t.Helper()
		var c protocol.ConnectionCode
		if st := tech.do("GET", "/api/v1/codes/"+id, nil, &c); st != 200 {
			t.Fatalf("get: %d %s", st, tech.last)
		}
		return c
	}

	t.Run("IssueAndExpireAt15Minutes", func(t *testing.T) {
		c := issue()
		if !codeRE.MatchString(c.Code) || c.State != protocol.ConnCodeWaiting || c.SecondsLeft != 900 || c.Technician != "tara" {
			t.Fatalf("issued code %+v: want 123-456-789 form, waiting, 900 s left", c)
		}
		if got := get(c.ID); got.Code != "" {
			t.Errorf("GET shows the digits again: %q", got.Code)
		}
		e.clock.Add(15*time.Minute - time.Second)
		if got := get(c.ID); got.State != protocol.ConnCodeWaiting || got.SecondsLeft != 1 {
			t.Errorf("at 14:59: %+v, want waiting with 1 s left", got)
		}
		e.clock.Add(time.Second)
		if got := get(c.ID); got.State != protocol.ConnCodeExpired {
			t.Errorf("at 15:00: state %q, want expired", got.State)
		}
		if st, _, ae := e.redeem(secret, c.Code); st != 410 || ae.Code != protocol.CodeExpiredCode || !strings.Contains(ae.Error, "expired") {
			t.Errorf("entering an expired code: %d %+v, want 410 code_expired", st, ae)
		}
	})

	t.Run("Extend", func(t *testing.T) {
		c := issue()
		e.clock.Add(10 * time.Minute)
		var x protocol.ConnectionCode
		if st := tech.do("POST", "/api/v1/codes/"+c.ID+"/extend", nil, &x); st != 200 || x.SecondsLeft != 900 {
			t.Fatalf("extend: %d %+v", st, x)
		}
		e.clock.Add(14 * time.Minute) // 24 minutes after issuing: alive thanks to the extension
		st, resp, ae := e.redeem(secret, c.Code)
		if st != 200 || resp.SessionID == "" || resp.Technician != "tara" {
			t.Fatalf("entering an extended code: %d %+v %+v", st, resp, ae)
		}
		got := get(c.ID)
		if got.State != protocol.ConnCodeUsed || got.SessionID != resp.SessionID || got.EndpointID != epID || got.Hostname != "code-pc" {
			t.Errorf("used code: %+v", got)
		}
		// The session is the technician's, bound to this endpoint, and
		// reaches the agent as screenshare.start.
		var ss protocol.Session
		if st := tech.do("GET", "/api/v1/sessions/"+resp.SessionID, nil, &ss); st != 200 || ss.EndpointID != epID || ss.Technician != "tara" {
			t.Fatalf("the code's session: %d %+v", st, ss)
		}
		pr, _ := e.poll(secret, protocol.PollRequest{})
		i := slices.IndexFunc(pr.Actions, func(a protocol.Action) bool { return a.Type == protocol.ActionScreenShareStart })
		if i < 0 {
			t.Fatalf("no screenshare.start for the code's session: %+v", pr.Actions)
		}
		var start protocol.ScreenShareStart
		if err := json.Unmarshal(pr.Actions[i].Payload, &start); err != nil || start.SessionID != resp.SessionID || start.AgentToken == "" || start.Technician != "tara" {
			t.Errorf("screenshare.start payload %s (%v)", pr.Actions[i].Payload, err)
		}
		// The answer to the code carries the same start, so the agent
		// need not wait for the poll.
		if resp.Start == nil || !reflect.DeepEqual(*resp.Start, start) {
			t.Errorf("the code's answer carries start %+v, want the poll's %+v", resp.Start, start)
		}
		// Single use.
		if st, _, ae := e.redeem(secret, c.Code); st != 404 || ae.Code != protocol.CodeWrongCode {
			t.Errorf("entering a used code again: %d %+v, want 404 code_wrong", st, ae)
		}
		if st := tech.do("POST", "/api/v1/codes/"+c.ID+"/extend", nil, nil); st != 409 {
			t.Errorf("extending a used code: %d, want 409", st)
		}
		tech.do("POST", "/api/v1/sessions/"+resp.SessionID+"/end", map[string]any{}, nil)
	})

	t.Run("RequestNewKillsTheOld", func(t *testing.T) {
		c := issue()
		e.clock.Add(5 * time.Minute)
		var n protocol.ConnectionCode
		if st := tech.do("POST", "/api/v1/codes/"+c.ID+"/renew", nil, &n); st != 200 || !codeRE.MatchString(n.Code) || n.SecondsLeft != 900 || n.ID != c.ID {
			t.Fatalf("renew: %d %+v", st, n)
		}
		if n.Code == c.Code {
			t.Skip("crypto/rand drew the same 9 digits twice") // one chance in 10^9
		}
		if st, _, ae := e.redeem(secret, c.Code); st != 404 || ae.Code != protocol.CodeWrongCode {
			t.Errorf("the old code after Request New: %d %+v, want 404", st, ae)
		}
		if st, resp, ae := e.redeem(secret, n.Code); st != 200 {
			t.Errorf("the new code: %d %+v", st, ae)
		} else {
			tech.do("POST", "/api/v1/sessions/"+resp.SessionID+"/end", map[string]any{}, nil)
		}
	})

	t.Run("Cancel", func(t *testing.T) {
		c := issue()
		var x protocol.ConnectionCode
		if st := tech.do("POST", "/api/v1/codes/"+c.ID+"/cancel", nil, &x); st != 200 || x.State != protocol.ConnCodeCancelled {
			t.Fatalf("cancel: %d %+v", st, x)
		}
		if st, _, _ := e.redeem(secret, c.Code); st != 404 {
			t.Errorf("a cancelled code: %d, want 404", st)
		}
		if st := tech.do("POST", "/api/v1/codes/"+c.ID+"/renew", nil, nil); st != 409 {
			t.Errorf("renewing a cancelled code: %d, want 409", st)
		}
	})

	t.Run("Malformed", func(t *testing.T) {
		before := e.svc.CodeEvaluations()
		for _, s := range []string{"12345678", "1234567890", "123-abc-789", ""} {
			if st, _, _ := e.redeem(secret, s); st != 400 {
				t.Errorf("code %q: %d, want 400", s, st)
			}
		}
		if e.svc.CodeEvaluations() != before {
			t.Errorf("malformed codes were looked up")
		}
	})

	t.Run("BadAgentSecret", func(t *testing.T) {
		c := issue()
		if st, _, _ := e.redeem("tas_nope", c.Code); st != 401 {
			t.Errorf("an unknown agent enters a code: %d, want 401", st)
		}
		tech.do("POST", "/api/v1/codes/"+c.ID+"/cancel", nil, nil)
	})

	// Every step is in the audit log.
	types := e.auditTypes()
	for _, want := range []protocol.AuditType{protocol.AuditCodeIssued, protocol.AuditCodeExtended, protocol.AuditCodeRenewed, protocol.AuditCodeCancelled, protocol.AuditCodeUsed, protocol.AuditCodeFailed} {
		if !slices.Contains(types, want) {
			t.Errorf("audit lacks %s", want)
		}
	}
}

func TestConnectionCodeLimits(t *testing.T) {
	t.Run("PerEndpoint", func(t *testing.T) {
		e := newEnv(t)
		tech := e.user("tara", perm.RoleScreenShareAgent)
		_, secret := e.enroll("guess-pc", "Default")
		_, other := e.enroll("other-pc", "Default")
		var c protocol.ConnectionCode
		tech.do("POST", "/api/v1/codes", nil, &c)
		for i := range 5 {
			if st, _, _ := e.redeem(secret, wrongCode(c.Code)); st != 404 {
				t.Fatalf("wrong guess %d: %d, want 404", i+1, st)
			}
		}
		// The sixth entry, even the right code, is refused unevaluated.
		before := e.svc.CodeEvaluations()
		st, _, ae := e.redeem(secret, c.Code)
		if st != 429 || ae.Code != protocol.CodeThrottled || !strings.Contains(ae.Error, "on this computer") {
			t.Fatalf("after 5 wrong codes: %d %+v, want 429 on this computer", st, ae)
		}
		if e.svc.CodeEvaluations() != before {
			t.Errorf("a refused entry was evaluated")
		}
		// Another endpoint is not held back by this one.
		if st, _, _ := e.redeem(other, wrongCode(c.Code)); st != 404 {
			t.Errorf("another endpoint: %d, want 404", st)
		}
		e.clock.Add(15 * time.Minute)
		tech.do("POST", "/api/v1/codes", nil, &c) // the first one expired meanwhile
		if st, resp, ae := e.redeem(secret, c.Code); st != 200 {
			t.Errorf("after the window: %d %+v", st, ae)
		} else if resp.SessionID == "" {
			t.Errorf("no session")
		}
		types := e.auditTypes()
		n := 0
		for _, x := range types {
			if x == protocol.AuditCodeThrottled {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d code.throttled records, want 1", n)
		}
	})

	t.Run("PerIP", func(t *testing.T) {
		e := newEnv(t, func(c *app.Config) { c.CodeIPFailures = 8 })
		var secrets []string
		for i := range 3 {
			_, s := e.enroll(fmt.Sprintf("ip-pc-%d", i), "Default")
			secrets = append(secrets, s)
		}
		// 3+3+2 wrong codes from three endpoints behind one address.
		for i := range 8 {
			if st, _, _ := e.redeem(secrets[i%3], "000-000-000"); st != 404 {
				t.Fatalf("guess %d: %d", i+1, st)
			}
		}
		if st, _, ae := e.redeem(secrets[2], "000-000-000"); st != 429 || !strings.Contains(ae.Error, "network address") {
			t.Errorf("after the address's limit: %d %+v, want 429 network address", st, ae)
		}
	})

	t.Run("Global", func(t *testing.T) {
		e := newEnv(t, func(c *app.Config) { c.CodeGlobalFailures = 6; c.CodeIPFailures = 1000 })
		var secrets []string
		for i := range 3 {
			_, s := e.enroll(fmt.Sprintf("g-pc-%d", i), "Default")
			secrets = append(secrets, s)
		}
		for i := range 6 {
			e.redeem(secrets[i%3], "000-000-000")
		}
		if st, _, ae := e.redeem(secrets[0], "000-000-000"); st != 429 || !strings.Contains(ae.Error, "too many wrong connection codes right now") {
			t.Errorf("after the global limit: %d %+v", st, ae)
		}
		e.clock.Add(time.Minute)
		if st, _, _ := e.redeem(secrets[0], "000-000-000"); st != 404 {
			t.Errorf("a minute later: %d, want 404", st)
		}
	})
}

// TestTenThousandGuesses fires 10,000 guesses at one endpoint's code entry,
// 16 at a time, and counts how many the server even looks up: the limit of
// 5 wrong codes per endpoint holds under concurrency, and the right code
// cannot be among what got through unless it was guessed in those 5.
func TestTenThousandGuesses(t *testing.T) {
	e := newEnv(t, func(c *app.Config) { c.CodeIPFailures = 1 << 30; c.CodeGlobalFailures = 1 << 30 })
	tenThousandGuesses(t, e, []string{e.srv.URL}, e.svc.CodeEvaluations)
}

// TestTenThousandGuessesTwoNodes: the same guesses spread over two server
// nodes on one PostgreSQL store still get at most 5 evaluated: the limit
// is counted in the store, not per node.
func TestTenThousandGuessesTwoNodes(t *testing.T) {
	limits := func(c *app.Config) { c.CodeIPFailures = 1 << 30; c.CodeGlobalFailures = 1 << 30 }
	e, svc2, node2 := twoNodes(t, limits)
	tenThousandGuesses(t, e, []string{e.srv.URL, node2}, func() int64 { return e.svc.CodeEvaluations() + svc2.CodeEvaluations() })
}

// tenThousandGuesses guesses at nodes in turn and checks the evaluations.
func tenThousandGuesses(t *testing.T, e *env, nodes []string, evaluations func() int64) {
	tech := e.user("tara", perm.RoleScreenShareAgent)
	_, secret := e.enroll("target-pc", "Default")
	var c protocol.ConnectionCode
	tech.do("POST", "/api/v1/codes", nil, &c)
	const guesses, workers = 10_000, 16
	var next, throttled, wrong, right, other atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := e.client()
			cl.bearer = secret
			for {
				i := next.Add(1) - 1
				if i >= guesses {
					return
				}
				cl.base = nodes[i%int64(len(nodes))]
				guess := protocol.FormatCode(fmt.Sprintf("%09d", i))
				switch st := cl.do("POST", protocol.PathRedeemCode, protocol.RedeemCodeRequest{Code: guess}, nil); st {
				case 429:
					throttled.Add(1)
				case 404:
					wrong.Add(1)
				case 200:
					right.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	evaluated := evaluations()
	t.Logf("%d guesses over %d node(s): %d evaluated (%d wrong, %d right), %d refused unevaluated", guesses, len(nodes), evaluated, wrong.Load(), right.Load(), throttled.Load())
	if evaluated > 5 || wrong.Load()+right.Load() != evaluated || throttled.Load() != guesses-evaluated || other.Load() != 0 {
		t.Errorf("evaluated %d (wrong %d, right %d), throttled %d, other %d: want at most 5 evaluated and the rest refused",
			evaluated, wrong.Load(), right.Load(), throttled.Load(), other.Load())
	}
}
