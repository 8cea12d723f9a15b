package app

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/tetherdesk/tether/server/auth"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Errors of entering a code; the API maps them to 404/410-like answers
// with their own codes.
var (
	ErrWrongCode   = errors.New("that connection code is not valid; check the digits and try again")
	ErrExpiredCode = errors.New("that connection code has expired; ask your technician for a new one")
)

var codeEvaluations = promauto.NewCounter(prometheus.CounterOpts{
	Name: "tether_code_evaluations_total", Help: "Connection codes looked up (entries not refused by a rate limit first).",
})

// codeHash is the keyed hash a code is stored and found by.
func (s *Service) codeHash(digits string) string {
	m := hmac.New(sha256.New, s.cfg.SecretKey)
	m.Write([]byte("tether connection code\x00" + digits))
	return hex.EncodeToString(m.Sum(nil))
}

// newDigits draws 9 uniformly random digits from crypto/rand.
func newDigits() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000_000))
	if err != nil {
		return "", fmt.Errorf("draw a code: %w", err)
	}
	return fmt.Sprintf("%09d", n.Int64()), nil
}

func (s *Service) codeOf(c store.ConnectionCode, digits string) protocol.ConnectionCode {
	now := s.now().UTC()
	out := protocol.ConnectionCode{ID: c.ID, State: c.State, Technician: c.TechnicianName, Created: c.Created, Expires: c.Expires,
		SessionID: c.SessionID, EndpointID: c.AgentID}
	if c.State == protocol.ConnCodeWaiting {
		if !now.Before(c.Expires) {
			out.State = protocol.ConnCodeExpired
		} else {
			out.SecondsLeft = int((c.Expires.Sub(now) + time.Second - 1) / time.Second) // rounded up: 1 s left until it is over
			if digits != "" {
				out.Code = protocol.FormatCode(digits)
			}
		}
	}
	return out
}

// IssueCode starts a broker session: a new code, valid for CodeTTL.
func (s *Service) IssueCode(ctx context.Context) (protocol.ConnectionCode, error) {
	p, err := require(ctx, perm.ScreenShareStart)
	if err != nil {
		return protocol.ConnectionCode{}, err
	}
	now := s.now().UTC()
	for range 5 {
		digits, err := newDigits()
		if err != nil {
			return protocol.ConnectionCode{}, err
		}
		c := store.ConnectionCode{ID: newID(), CodeHash: s.codeHash(digits), TechnicianID: p.UserID, TechnicianName: p.Name,
			State: protocol.ConnCodeWaiting, Created: now, Expires: now.Add(s.cfg.CodeTTL)}
		err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditCodeIssued, Details: details("code_id", c.ID, "expires", c.Expires.Format(time.RFC3339))}, func() error {
			c, err = s.store.CreateCode(ctx, c)
			return err
		})
		if errors.Is(err, store.ErrConflict) {
			continue // the digits of another code (live or spent): draw again
		}
		if err != nil {
			return protocol.ConnectionCode{}, err
		}
		return s.codeOf(c, digits), nil
	}
	return protocol.ConnectionCode{}, errors.New("could not draw an unused code")
}

// ownCode loads a code the caller may manage: their own, or any with
// screenshare.sessions over every group.
func (s *Service) ownCode(ctx context.Context, id string) (store.ConnectionCode, *Principal, error) {
	p, err := require(ctx, perm.ScreenShareStart)
	if err != nil {
		return store.ConnectionCode{}, nil, err
	}
	c, err := s.store.CodeByID(ctx, id)
	if err != nil {
		return store.ConnectionCode{}, nil, err
	}
	if c.TechnicianID != p.UserID && !p.CanIn(perm.ScreenShareAllSession, "") {
		return store.ConnectionCode{}, nil, fmt.Errorf("connection code %q: %w", id, store.ErrNotFound)
	}
	return c, p, nil
}

// GetCode reports a code's state (never its digits: they are shown once,
// when issued or renewed).
func (s *Service) GetCode(ctx context.Context, id string) (protocol.ConnectionCode, error) {
	c, _, err := s.ownCode(ctx, id)
	if err != nil {
		return protocol.ConnectionCode{}, err
	}
	out := s.codeOf(c, "")
	if c.AgentID != "" {
		if a, err := s.store.AgentByID(ctx, c.AgentID); err == nil {
			out.Hostname = a.Hostname
		}
	}
	return out, nil
}

// changeCode applies a change to a waiting code (expired ones included:
// Request New and Extend revive them) and audits it.
func (s *Service) changeCode(ctx context.Context, id string, typ protocol.AuditType, change func(c *store.ConnectionCode) (digits string, err error)) (protocol.ConnectionCode, error) {
	c, p, err := s.ownCode(ctx, id)
	if err != nil {
		return protocol.ConnectionCode{}, err
	}
	if c.State != protocol.ConnCodeWaiting {
		return protocol.ConnectionCode{}, fmt.Errorf("%w: the code was %s", store.ErrConflict, c.State)
	}
	digits, err := change(&c)
	if err != nil {
		return protocol.ConnectionCode{}, err
	}
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: typ, Details: details("code_id", c.ID, "expires", c.Expires.Format(time.RFC3339))}, func() error {
		return s.store.UpdateCode(ctx, c, protocol.ConnCodeWaiting)
	})
	if err != nil {
		return protocol.ConnectionCode{}, err
	}
	return s.codeOf(c, digits), nil
}

// RenewCode is Request New: new digits, CodeTTL again; the old digits
// stop working at once.
func (s *Service) RenewCode(ctx context.Context, id string) (protocol.ConnectionCode, error) {
	return s.changeCode(ctx, id, protocol.AuditCodeRenewed, func(c *store.ConnectionCode) (string, error) {
		digits, err := newDigits()
		if err != nil {
			return "", err
		}
		c.CodeHash, c.Expires = s.codeHash(digits), s.now().UTC().Add(s.cfg.CodeTTL)
		return digits, nil
	})
}

// ExtendCode is Extend Timeout: the same digits, CodeTTL from now. The
// digits are not returned again (the console keeps showing them).
func (s *Service) ExtendCode(ctx context.Context, id string) (protocol.ConnectionCode, error) {
	return s.changeCode(ctx, id, protocol.AuditCodeExtended, func(c *store.ConnectionCode) (string, error) {
		c.Expires = s.now().UTC().Add(s.cfg.CodeTTL)
		return "", nil
	})
}

// CancelCode kills a waiting code.
func (s *Service) CancelCode(ctx context.Context, id string) (protocol.ConnectionCode, error) {
	return s.changeCode(ctx, id, protocol.AuditCodeCancelled, func(c *store.ConnectionCode) (string, error) {
		c.State = protocol.ConnCodeCancelled
		return "", nil
	})
}

// CodeEvaluations counts the codes looked up since the process started:
// entries a rate limit refused first are not evaluated.
func (s *Service) CodeEvaluations() int64 { return s.codeEvals.Load() }

// RedeemCode is an endpoint entering a code. The agent authenticates with
// its own secret. Rate limits come first, so a refused guess costs no
// lookup; a wrong or expired code counts against the endpoint, the caller's
// address and the whole server. The right code binds a new session to this
// endpoint under its policies and queues screenshare.start for it.
func (s *Service) RedeemCode(ctx context.Context, secret, code, remoteIP string) (protocol.RedeemCodeResponse, error) {
	Public(ctx)
	a, err := s.agentBySecret(ctx, secret)
	if err != nil {
		return protocol.RedeemCodeResponse{}, err
	}
	digits, err := protocol.ParseCode(code)
	if err != nil {
		return protocol.RedeemCodeResponse{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	addr := auth.AddrKey(remoteIP) // an IPv6 /64 is one address here
	scope, wait, first, err := s.codeLimit.reserve(ctx, a.ID, addr)
	if err != nil {
		return protocol.RedeemCodeResponse{}, fmt.Errorf("checking the connection-code limits: %w", err)
	}
	if scope != "" {
		if first {
			s.Audit(ctx, store.AuditRecord{Actor: "agent:" + a.ID, Type: protocol.AuditCodeThrottled, EndpointID: a.ID,
				Details: details("scope", scope, "ip", remoteIP, "hostname", a.Hostname)})
		}
		return protocol.RedeemCodeResponse{}, &ThrottledError{RetryAfter: wait, Message: throttleMessage(scope, wait)}
	}
	s.codeEvals.Add(1)
	codeEvaluations.Inc()
	now := s.now().UTC()
	hash := s.codeHash(digits)
	c, err := s.store.CodeByHash(ctx, hash)
	fail := func(reason string, e error) (protocol.RedeemCodeResponse, error) {
		kv := []string{"reason", reason, "ip", remoteIP, "hostname", a.Hostname}
		if c.ID != "" {
			kv = append(kv, "code_id", c.ID)
		}
		s.Audit(ctx, store.AuditRecord{Actor: "agent:" + a.ID, Type: protocol.AuditCodeFailed, EndpointID: a.ID, Details: details(kv...)})
		return protocol.RedeemCodeResponse{}, e
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		c = store.ConnectionCode{}
		return fail("wrong", ErrWrongCode)
	case err != nil:
		if rerr := s.codeLimit.refund(ctx, a.ID, addr); rerr != nil {
			s.log.Warn("giving back a connection-code attempt", "err", rerr)
		}
		return protocol.RedeemCodeResponse{}, fmt.Errorf("look up code: %w", err)
	}
	// The lookup was by hash; compare once more in constant time so the
	// decision itself does not depend on how much of the value matched.
	if subtle.ConstantTimeCompare([]byte(c.CodeHash), []byte(hash)) != 1 || c.State != protocol.ConnCodeWaiting {
		return fail("wrong", ErrWrongCode)
	}
	if !now.Before(c.Expires) {
		return fail("expired", ErrExpiredCode)
	}
	// The right code: it does not count as a failure.
	if err := s.codeLimit.refund(ctx, a.ID, addr); err != nil {
		s.log.Warn("giving back a connection-code attempt", "err", err)
	}
	resp, err := s.startBrokerSession(ctx, c, a, now)
	if err != nil {
		return protocol.RedeemCodeResponse{}, err
	}
	return resp, nil
}

func throttleMessage(scope string, wait time.Duration) string {
	mins := int((wait + time.Minute - 1) / time.Minute)
	switch scope {
	case "endpoint":
		return fmt.Sprintf("too many wrong connection codes were entered on this computer; try again in %d minute(s)", mins)
	case "ip":
		return fmt.Sprintf("too many wrong connection codes came from this network address; try again in %d minute(s)", mins)
	default:
		return "the server is receiving too many wrong connection codes right now; try again in a minute"
	}
}

// startBrokerSession uses the code and starts its session on endpoint a
// as the code's technician, who must still be allowed to share that
// endpoint's screen.
func (s *Service) startBrokerSession(ctx context.Context, c store.ConnectionCode, a store.Agent, now time.Time) (protocol.RedeemCodeResponse, error) {
	u, err := s.store.UserByID(ctx, c.TechnicianID)
	if err != nil || u.Disabled {
		return protocol.RedeemCodeResponse{}, fmt.Errorf("%w: the technician who issued this code can no longer start sessions", ErrForbidden)
	}
	tech, err := s.PrincipalOf(ctx, u)
	if err != nil {
		return protocol.RedeemCodeResponse{}, err
	}
	if !tech.CanInAny(perm.ScreenShareStart, a.Groups()) {
		return protocol.RedeemCodeResponse{}, fmt.Errorf("%w: this code cannot be used on this computer: it is outside the technician's computer groups", ErrForbidden)
	}
	sp, err := s.screenPolicy(ctx, a)
	if err != nil {
		return protocol.RedeemCodeResponse{}, err
	}
	mode, err := sp.StartMode("")
	if err != nil {
		return protocol.RedeemCodeResponse{}, fmt.Errorf("%w: %v", ErrForbidden, err)
	}
	// Single use: only one entry can move the code from waiting.
	used := c
	used.State, used.AgentID, used.Used = protocol.ConnCodeUsed, a.ID, &now
	if err := s.store.UpdateCode(ctx, used, protocol.ConnCodeWaiting); errors.Is(err, store.ErrConflict) {
		return protocol.RedeemCodeResponse{}, ErrWrongCode
	} else if err != nil {
		return protocol.RedeemCodeResponse{}, err
	}
	ss, start, err := s.openSession(ctx, a, tech, sp.AcceptanceRequired, sp, mode, "agent:"+a.ID,
		details("broker", "true", "code_id", c.ID, "attended", fmt.Sprint(sp.AcceptanceRequired), "mode", string(mode),
			"record", fmt.Sprint(sp.RecordSessions)))
	if err != nil {
		return protocol.RedeemCodeResponse{}, err
	}
	used.SessionID = ss.ID
	if err := s.store.UpdateCode(ctx, used, protocol.ConnCodeUsed); err != nil {
		s.log.Error("record the session of a code", "code_id", c.ID, "err", err)
	}
	s.Audit(ctx, store.AuditRecord{Actor: "agent:" + a.ID, Type: protocol.AuditCodeUsed, EndpointID: a.ID, SessionID: ss.ID,
		Details: details("code_id", c.ID, "technician", c.TechnicianName, "hostname", a.Hostname)})
	start.AgentToken = s.sessionToken(ss.ID)
	return protocol.RedeemCodeResponse{SessionID: ss.ID, Technician: c.TechnicianName, Mode: mode, Attended: ss.Attended, Start: &start}, nil
}

// codeLimiter keeps the three limits on wrong codes: per endpoint, per
// remote address, and for the whole server. An entry reserves a failure
// in all three before it is evaluated and gets it back when the code was
// right, so concurrent guesses cannot slip past a limit. The counts are in
// the store, shared by every server node.
type codeLimiter struct {
	st  store.LimitStore
	now func() time.Time

	endpointMax, ipMax, globalMax          int
	endpointWindow, ipWindow, globalWindow time.Duration

	mu sync.Mutex
	// told remembers when a throttle was last audited per scope and key,
	// so a flood of refused guesses writes one record per window, not one
	// per guess (per node).
	told map[string]time.Time
}

func newCodeLimiter(cfg Config) *codeLimiter {
	return &codeLimiter{st: cfg.Store, now: cfg.Now,
		endpointMax: cfg.CodeEndpointFailures, ipMax: cfg.CodeIPFailures, globalMax: cfg.CodeGlobalFailures,
		endpointWindow: cfg.CodeWindow, ipWindow: cfg.CodeWindow, globalWindow: cfg.CodeGlobalWindow,
		told: map[string]time.Time{}}
}

// codeScopes name the limits in the order limits lists them.
var codeScopes = [...]string{"endpoint", "ip", "global"}

func (l *codeLimiter) limits(agentID, ip string) []store.Limit {
	return []store.Limit{
		{Key: "code/endpoint/" + agentID, Max: l.endpointMax, Window: l.endpointWindow},
		{Key: "code/ip/" + ip, Max: l.ipMax, Window: l.ipWindow},
		{Key: "code/global", Max: l.globalMax, Window: l.globalWindow},
	}
}

// reserve admits an entry, or names the limit that refuses it ("endpoint",
// "ip" or "global"), how long until it admits again, and whether this is
// the first refusal of that limit in its window.
func (l *codeLimiter) reserve(ctx context.Context, agentID, ip string) (scope string, wait time.Duration, first bool, err error) {
	now := l.now()
	ls := l.limits(agentID, ip)
	full, wait, err := l.st.ReserveLimits(ctx, ls, now)
	if err != nil || full < 0 {
		return "", 0, false, err
	}
	scope = codeScopes[full]
	l.mu.Lock()
	defer l.mu.Unlock()
	k := ls[full].Key
	if t, ok := l.told[k]; !ok || now.Sub(t) >= ls[full].Window {
		l.told[k] = now
		first = true
	}
	if len(l.told) > 100_000 {
		for k, t := range l.told {
			if now.Sub(t) > l.endpointWindow+l.ipWindow {
				delete(l.told, k)
			}
		}
	}
	return scope, wait, first, nil
}

// refund gives back the latest reservation of an entry that was right.
func (l *codeLimiter) refund(ctx context.Context, agentID, ip string) error {
	var keys []string
	for _, lim := range l.limits(agentID, ip) {
		keys = append(keys, lim.Key)
	}
	return l.st.RefundLimits(ctx, keys)
}
