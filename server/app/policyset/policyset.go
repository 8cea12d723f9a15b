// Package policyset computes an endpoint's effective policy from the
// policy documents of its groups, and caches it briefly.
package policyset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/protocol"
)

// CacheTTL bounds how stale a cached policy may be. Every poll needs
// the effective policy; without the cache that is two reads and a merge per
// poll. A change made on this node clears the cache at once; one made on
// another node is seen within the TTL.
const CacheTTL = 2 * time.Second

// Cache keeps effective policies by group set for CacheTTL.
type Cache struct {
	mu sync.Mutex
	m  map[string]cachedPolicy
}

type cachedPolicy struct {
	pol protocol.Policy
	at  time.Time
}

func (c *Cache) Get(groupID string, now time.Time) (protocol.Policy, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[groupID]
	if !ok || now.Sub(e.at) >= CacheTTL || now.Before(e.at) {
		return protocol.Policy{}, false
	}
	return e.pol, true
}

func (c *Cache) Put(groupID string, pol protocol.Policy, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedPolicy{}
	}
	c.m[groupID] = cachedPolicy{pol, now}
}

func (c *Cache) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
}

// Merge merges the policies of an endpoint's groups over the global
// default: first its enrollment group's (groups[0]), then those of the
// others in order of their names, each replacing the top-level keys it
// sets. Documents are read through policyOf ("" is
// the global one; store.ErrNotFound for a group without a policy) and the
// groups' names, which order the extra groups, through nameOf.
func Merge(ctx context.Context, groups []string, policyOf func(context.Context, string) (store.Policy, error),
	nameOf func(context.Context, string) string) (protocol.Policy, error) {
	global, err := policyOf(ctx, "")
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return protocol.Policy{}, fmt.Errorf("global policy: %w", err)
	}
	doc := map[string]json.RawMessage{}
	if len(global.Doc) > 0 {
		if err := json.Unmarshal(global.Doc, &doc); err != nil {
			return protocol.Policy{}, fmt.Errorf("decode global policy: %w", err)
		}
	}
	// The version is the sum of the versions merged: each only grows, so a
	// change to any of them gives a new effective version. A change of
	// membership could give the same sum with other documents, so the set
	// of extra groups with a policy is mixed into the high bits; an
	// endpoint in its enrollment group only keeps the plain sum.
	version := global.Version
	type named struct {
		id, name string
		pol      store.Policy
	}
	var extra []named
	for i, gid := range groups {
		pol, err := policyOf(ctx, gid)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return protocol.Policy{}, fmt.Errorf("policy of group %q: %w", gid, err)
		}
		if i == 0 {
			if err := MergeDoc(doc, pol.Doc); err != nil {
				return protocol.Policy{}, err
			}
			version += pol.Version
			continue
		}
		extra = append(extra, named{gid, nameOf(ctx, gid), pol})
	}
	slices.SortFunc(extra, func(a, b named) int { return strings.Compare(a.name+"\x00"+a.id, b.name+"\x00"+b.id) })
	if len(extra) > 0 {
		h := fnv.New32a()
		for _, e := range extra {
			if err := MergeDoc(doc, e.pol.Doc); err != nil {
				return protocol.Policy{}, err
			}
			version += e.pol.Version
			h.Write([]byte(e.id + "\x00"))
		}
		version += int64(h.Sum32()&0x7fffffff) << 20 // below 2^53: JSON numbers stay exact in JavaScript
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return protocol.Policy{}, fmt.Errorf("encode policy: %w", err)
	}
	return protocol.Policy{Version: version, Doc: b}, nil
}

// MergeDoc lays the top-level keys of over onto doc.
func MergeDoc(doc map[string]json.RawMessage, over json.RawMessage) error {
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(over, &m); err != nil {
		return fmt.Errorf("decode group policy: %w", err)
	}
	for k, v := range m {
		doc[k] = v
	}
	return nil
}
