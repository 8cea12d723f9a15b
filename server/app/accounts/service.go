// Package accounts is the service layer's users, roles, sign-in, web
// sessions and API tokens, with the scope rules for managing accounts.
package accounts

import (
	"context"
	"time"

	"github.com/tetherdesk/tether/server/app/core"
	"github.com/tetherdesk/tether/server/auth"
	"github.com/tetherdesk/tether/server/store"
)

// Config is what accounts needs of the server's configuration.
type Config struct {
	// SessionTTL is the lifetime of a console sign-in.
	SessionTTL time.Duration
	// Sign-in failures allowed within LoginWindow: per account and address
	// together, per address, and per account from anywhere (a spray).
	AccountFailures, IPFailures, AccountSprayFailures int
	LoginWindow                                       time.Duration
	// Hasher hashes passwords, bounded in how many at once.
	Hasher *auth.Hasher
	// CloseViewers closes the user's live viewers that keep says no to
	// (nil: all of them).
	CloseViewers func(userID string, keep func(sessionID string) bool)
	// SessionVisible reports whether the principal in ctx may still see
	// the session (its viewers stay open when it may).
	SessionVisible func(ctx context.Context, sessionID string) bool
}

// Store is the part of the store accounts use: accounts, their sign-ins
// and tokens, and group names for roles scoped to a group.
type Store interface {
	store.AccountStore
	store.CredentialStore
	store.LimitStore // sign-in throttles
	store.LockStore  // the last-administrator rule
	GroupByName(ctx context.Context, name string) (store.Group, error)
}

// Service is the accounts part of the service layer.
type Service struct {
	*core.Core
	st                      Store
	cfg                     Config
	pairThr, ipThr, acctThr *core.Throttle
	hasher                  *auth.Hasher
}

// New makes the accounts service over c.
func New(c *core.Core, st Store, cfg Config) *Service {
	return &Service{Core: c, st: st, cfg: cfg, hasher: cfg.Hasher,
		// In the store: every server node counts the same failures.
		pairThr: core.NewThrottle(st, "signin/pair", cfg.AccountFailures, cfg.LoginWindow, c.Now, c.Log),
		ipThr:   core.NewThrottle(st, "signin/ip", cfg.IPFailures, cfg.LoginWindow, c.Now, c.Log),
		acctThr: core.NewThrottle(st, "signin/account", cfg.AccountSprayFailures, cfg.LoginWindow, c.Now, c.Log)}
}

func (s *Service) closeViewers(userID string, keep func(string) bool) {
	if s.cfg.CloseViewers != nil {
		s.cfg.CloseViewers(userID, keep)
	}
}
