package accounts

import (
	"context"
	"errors"
	"fmt"
	"github.com/tetherdesk/tether/server/app/core"
	"strings"
	"time"

	"github.com/tetherdesk/tether/server/auth"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/protocol"
)

// BusyError answers 503 with Retry-After: the server is at a bound it keeps
// to stay up (concurrent password hashes), not refusing this caller.
type BusyError struct {
	RetryAfter time.Duration
	Message    string
}

func (e *BusyError) Error() string { return e.Message }

func (e *BusyError) Unwrap() error { return core.ErrUnavailable }

func (s *Service) busy(err error) error {
	if errors.Is(err, auth.ErrBusy) {
		return &BusyError{RetryAfter: 2 * time.Second, Message: "the server is checking too many passwords at once; try again in a few seconds"}
	}
	return err
}

// hashPassword hashes a new password within the bound on concurrent hashes.
func (s *Service) hashPassword(ctx context.Context, pw string) (string, error) {
	h, err := s.hasher.Hash(ctx, pw)
	return h, s.busy(err)
}

// LoginResult is a successful sign-in: the cookie value to set and the user.
type LoginResult struct {
	Cookie string
	Me     protocol.Me
}

// Throttle keys of sign-in.
func acctKey(name string) string           { return strings.ToLower(strings.TrimSpace(name)) }
func acctAddrKey(name, addr string) string { return acctKey(name) + "\x00" + addr }

// Login checks a password. Failures are throttled per (account, address)
// and per address, never per account alone, so a stranger who sends wrong
// passwords for a name cannot lock its owner out: a right password from an
// address with no failures still signs in. An account under a spray from
// many addresses (AccountSprayFailures) refuses further tries only from
// addresses that have failed for it already.
func (s *Service) Login(ctx context.Context, req protocol.LoginRequest, ip string) (LoginResult, error) {
	core.Public(ctx)
	name := strings.TrimSpace(req.Name)
	if name == "" || req.Password == "" {
		return LoginResult{}, core.BadRequest("name and password are required")
	}
	addr := auth.AddrKey(ip)
	pairKey := acctAddrKey(name, addr)
	refuse := func(reason string, wait time.Duration) (LoginResult, error) {
		s.Audit(ctx, store.AuditRecord{Actor: name, Type: protocol.AuditLoginFailed, Details: core.Details("reason", reason, "ip", ip)})
		return LoginResult{}, &core.ThrottledError{RetryAfter: wait}
	}
	if blocked, wait := s.pairThr.Blocked(pairKey); blocked {
		return refuse("throttled", wait)
	}
	if blocked, wait := s.ipThr.Blocked(addr); blocked {
		return refuse("throttled_ip", wait)
	}
	if blocked, wait := s.acctThr.Blocked(acctKey(name)); blocked && s.pairThr.Failures(pairKey) > 0 {
		return refuse("throttled_spray", wait)
	}
	u, err := s.st.UserByName(ctx, name)
	ok := false
	switch {
	case errors.Is(err, store.ErrNotFound):
		err = s.hasher.CheckAbsent(ctx, req.Password)
	case err != nil:
		return LoginResult{}, fmt.Errorf("look up user: %w", err)
	case u.Disabled:
		err = s.hasher.CheckAbsent(ctx, req.Password)
	default:
		ok, err = s.hasher.Check(ctx, u.PasswordHash, req.Password)
		if err != nil && !errors.Is(err, auth.ErrBusy) {
			return LoginResult{}, fmt.Errorf("check password of %s: %w", u.ID, err)
		}
	}
	if err != nil {
		return LoginResult{}, s.busy(err)
	}
	if !ok {
		s.pairThr.Fail(pairKey)
		s.ipThr.Fail(addr)
		s.acctThr.Fail(acctKey(name))
		s.Audit(ctx, store.AuditRecord{Actor: name, Type: protocol.AuditLoginFailed, Details: core.Details("reason", "bad_credentials", "ip", ip)})
		return LoginResult{}, fmt.Errorf("%w: wrong name or password", core.ErrUnauthorized)
	}
	s.pairThr.Reset(pairKey)
	cookie := auth.NewToken("", 32)
	ws := store.WebSession{
		ID:        auth.HashToken(cookie),
		UserID:    u.ID,
		CSRFToken: auth.NewToken("", 24),
		Created:   s.Now().UTC(),
		Expires:   s.Now().UTC().Add(s.cfg.SessionTTL),
	}
	p, err := s.PrincipalOf(ctx, u)
	if err != nil {
		return LoginResult{}, err
	}
	err = s.Record(ctx, store.AuditRecord{Actor: u.Name, Type: protocol.AuditLogin, Details: core.Details("ip", ip)}, func() error {
		if err := s.st.CreateWebSession(ctx, ws); err != nil {
			return fmt.Errorf("create web session: %w", err)
		}
		return nil
	})
	if err != nil {
		return LoginResult{}, err
	}
	p.SessionID, p.CSRFToken = ws.ID, ws.CSRFToken
	return LoginResult{Cookie: cookie, Me: meOf(p)}, nil
}

// forgetFailures clears an account's sign-in failures (after an
// administrator set a new password).
func (s *Service) forgetFailures(name string) {
	s.acctThr.Reset(acctKey(name))
	s.pairThr.ResetPrefix(acctKey(name) + "\x00")
}

// revokeAccess signs a user out everywhere but in web session keep,
// revokes every API token, and closes the user's live viewers (their
// signalling at once; the TURN relay refuses their credentials from then
// on).
func (s *Service) revokeAccess(ctx context.Context, userID, keep string) error {
	if err := s.st.DeleteUserWebSessions(ctx, userID, keep); err != nil {
		return err
	}
	if err := s.st.DeleteUserAPITokens(ctx, userID); err != nil {
		return err
	}
	if keep == "" {
		s.closeViewers(userID, nil)
	}
	return nil
}

// recheckViewers closes the live viewers of a user whose roles changed
// where the new roles no longer let them see the session.
func (s *Service) recheckViewers(ctx context.Context, userID string) {
	s.closeViewers(userID, s.ViewerKeep(ctx, userID))
}

// ViewerKeep says which sessions the user may still watch under the roles
// they hold now; nil: none (the user is gone, or cannot be judged).
func (s *Service) ViewerKeep(ctx context.Context, userID string) func(sessionID string) bool {
	u, err := s.st.UserByID(ctx, userID)
	if err != nil {
		return nil
	}
	p, err := s.PrincipalOf(ctx, u)
	if err != nil {
		s.Log.Error("recheck viewers", "user_id", userID, "err", err)
		return nil
	}
	return func(sessionID string) bool {
		return s.cfg.SessionVisible != nil && s.cfg.SessionVisible(core.WithPrincipal(context.WithoutCancel(ctx), p), sessionID)
	}
}
