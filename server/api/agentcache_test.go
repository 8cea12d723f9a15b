package api_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/server/app"
	"github.com/tetherdesk/tether/server/hub"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// countingStore counts the look-ups of agents by secret.
type countingStore struct {
	store.Store
	bySecret atomic.Int64
}

func (c *countingStore) AgentBySecretHash(ctx context.Context, hash string) (store.Agent, error) {
	c.bySecret.Add(1)
	return c.Store.AgentBySecretHash(ctx, hash)
}

// TestPollAgentCache: a renewal that carries nothing takes the agent its
// node read at the last poll (no store read), but a
// revocation drops it, on the node that revoked and, through NATS, on the
// other: both refuse the agent's next renewal.
func TestPollAgentCache(t *testing.T) {
	busA, busB := testenv.ClusterNodes(t)
	var hubs []hub.Notifier
	for _, bus := range []hub.Bus{busA, busB} {
		h, err := hub.NewClustered(bus, slog.Default())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(h.Close)
		hubs = append(hubs, h)
	}
	var counted []*countingStore
	e, _, node2 := twoNodes(t, func(c *app.Config) {
		cs := &countingStore{Store: c.Store}
		c.Store, c.Hub = cs, hubs[len(counted)]
		counted = append(counted, cs)
	})
	admin := e.user("admin", perm.RoleAdministrator)
	epID, secret := e.enroll("cached-pc", "Default")
	renew := func(base string) int {
		c := e.client()
		c.base, c.bearer = base, secret
		// Policy version 0 is never current: answered at once, with it.
		return c.do("POST", protocol.PathPoll, protocol.PollRequest{Protocol: protocol.Version, Wait: true, HoldMS: 1000}, nil)
	}
	// A poll that carries something reads the agent; the renewals after
	// it do not.
	if _, st := e.poll(secret, protocol.PollRequest{}); st != 200 {
		t.Fatal(st)
	}
	before := counted[0].bySecret.Load()
	for range 2 {
		if st := renew(e.srv.URL); st != 200 {
			t.Fatalf("renewal: %d", st)
		}
	}
	if n := counted[0].bySecret.Load() - before; n != 0 {
		t.Errorf("two renewals read the agent from the store %d times, want none", n)
	}
	if st := renew(node2); st != 200 {
		t.Fatalf("renewal on node 2: %d", st)
	}

	if st := admin.do("POST", "/api/v1/endpoints/"+epID+"/revoke", map[string]any{}, nil); st != 200 {
		t.Fatal(st, string(admin.last))
	}
	if st := renew(e.srv.URL); st != 401 {
		t.Errorf("a revoked agent's renewal on the revoking node: %d, want 401", st)
	}
	// The fake clock stands still: only the revocation's wake-up, over
	// NATS, can drop what node 2 keeps.
	testenv.Eventually(t, 10*time.Second, "node 2 to refuse the revoked agent", func() (bool, error) {
		return renew(node2) == 401, nil
	})
}
