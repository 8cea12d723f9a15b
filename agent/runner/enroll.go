package runner

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/tetherdesk/tether/agent/client"
	"github.com/tetherdesk/tether/agent/state"
	"github.com/tetherdesk/tether/shared/protocol"
)

// identity loads the stored identity or enrolls with the token.
func (r *Runner) identity(ctx context.Context) (state.Identity, error) {
	bo := r.backoff()
	for {
		id, err := r.store.LoadIdentity()
		if err == nil {
			if !sameServer(id.Server, r.cfg.Server) {
				r.log.Warn("configured server differs from the one this agent enrolled with; keeping the identity and using the configured server",
					"enrolled_server", id.Server, "server", r.cfg.Server)
			}
			return id, nil
		}
		if !errors.Is(err, state.ErrNoIdentity) {
			return state.Identity{}, err
		}
		if r.cfg.Token == "" {
			if !r.cfg.RetryFatal {
				return state.Identity{}, ErrNoToken
			}
			r.status.failed(ErrNoToken)
			d := Jitter(r.cfg.FatalBackoff, 0.2, r.cfg.Rand)
			r.log.Error("cannot enroll: no enrollment token configured", "retry_in", d)
			if !r.sleep(ctx, d, nil) {
				return state.Identity{}, ctx.Err()
			}
			continue
		}

		nonce, err := r.store.EnrollNonce()
		if err != nil {
			return state.Identity{}, err
		}
		inv := r.forceInventory(ctx)
		resp, err := r.client.Enroll(ctx, protocol.EnrollRequest{Token: r.cfg.Token, Inventory: inv, Protocol: protocol.Version, Nonce: nonce})
		if err != nil {
			if ctx.Err() != nil {
				return state.Identity{}, ctx.Err()
			}
			r.status.failed(err)
			r.setConnected(false)
			if msg, ok := rejected(err, protocol.CodeBadToken); ok {
				fatal := withMessage(ErrBadToken, msg)
				if !r.cfg.RetryFatal {
					return state.Identity{}, fatal
				}
				d := Jitter(r.cfg.FatalBackoff, 0.2, r.cfg.Rand)
				r.log.Error("enrollment token rejected; retrying later", "error", fatal, "retry_in", d)
				if !r.sleep(ctx, d, nil) {
					return state.Identity{}, ctx.Err()
				}
				continue
			}
			d := retryDelay(&bo, err)
			r.log.Warn("enrollment failed", "error", err, "retry_in", d)
			if !r.sleep(ctx, d, nil) {
				return state.Identity{}, ctx.Err()
			}
			continue
		}
		r.setConnected(true)
		id = state.Identity{Server: r.cfg.Server, AgentID: resp.AgentID, Secret: resp.Secret}
		if err := r.store.SaveIdentity(id); err != nil {
			return state.Identity{}, fmt.Errorf("enrolled as %s but could not keep the identity: %w", id.AgentID, err)
		}
		if err := r.store.DropEnrollNonce(); err != nil {
			r.log.Warn("enrolled", "error", err)
		}
		r.log.Info("enrolled", "agent_id", id.AgentID, "server", r.cfg.Server)
		return id, nil
	}
}

// RedeemCode enters a connection code the end user typed (the tray's
// "Enter Connection Code…") with the agent's own credentials, which only
// the service holds. Errors are those of client.RedeemCode, or
// ErrNotEnrolled before the agent has an identity.
func (r *Runner) RedeemCode(ctx context.Context, code string) (protocol.RedeemCodeResponse, error) {
	r.mu.Lock()
	secret := r.secret
	r.mu.Unlock()
	if secret == "" {
		return protocol.RedeemCodeResponse{}, ErrNotEnrolled
	}
	return r.client.RedeemCode(ctx, secret, code)
}

// rejected reports whether err is the server refusing our credentials with
// code, and returns the server's message.
func rejected(err error, code string) (string, bool) {
	var ae *client.APIError
	if !errors.As(err, &ae) {
		return "", false
	}
	if (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden) && ae.Code == code {
		return ae.Message, true
	}
	return "", false
}

func withMessage(sentinel error, msg string) error {
	if msg == "" {
		return sentinel
	}
	return fmt.Errorf("%w: %s", sentinel, msg)
}

func sameServer(a, b string) bool {
	ua, errA := client.ParseServerURL(a)
	ub, errB := client.ParseServerURL(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return ua.String() == ub.String()
}
