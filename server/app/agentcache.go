package app

import (
	"sync"
	"time"

	"github.com/tetherdesk/tether/server/store"
)

// agentCache keeps the agents this node answered lately, by secret hash,
// for their next plain poll (a renewal that carries nothing): an idle
// fleet then costs one store read per renewal instead of two. Anything
// that may change what it keeps drops it: a wake-up for the agent on any
// node (a revocation is one), a policy or membership change, NATS coming
// back; and it lasts a poll hold and a margin at most.
type agentCache struct {
	ttl time.Duration

	mu     sync.Mutex
	byHash map[string]cachedAgent
	hashOf map[string]string // agent id -> secret hash
	puts   int
}

type cachedAgent struct {
	a     store.Agent
	until time.Time
}

func newAgentCache(ttl time.Duration) *agentCache {
	return &agentCache{ttl: ttl, byHash: map[string]cachedAgent{}, hashOf: map[string]string{}}
}

func (c *agentCache) get(hash string, now time.Time) (store.Agent, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byHash[hash]
	if !ok || now.After(e.until) {
		return store.Agent{}, false
	}
	return e.a, true
}

func (c *agentCache) put(hash string, a store.Agent, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.hashOf[a.ID]; ok && old != hash {
		delete(c.byHash, old)
	}
	c.byHash[hash] = cachedAgent{a: a, until: now.Add(c.ttl)}
	c.hashOf[a.ID] = hash
	// Agents that went away leave their entries: sweep now and then.
	if c.puts++; c.puts%4096 == 0 {
		for h, e := range c.byHash {
			if now.After(e.until) {
				delete(c.byHash, h)
				delete(c.hashOf, e.a.ID)
			}
		}
	}
}

// drop forgets an agent; "" forgets them all.
func (c *agentCache) drop(agentID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if agentID == "" {
		clear(c.byHash)
		clear(c.hashOf)
		return
	}
	if h, ok := c.hashOf[agentID]; ok {
		delete(c.byHash, h)
		delete(c.hashOf, agentID)
	}
}
