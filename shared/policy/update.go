package policy

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"regexp"
)

// AgentUpdate is the self-update part of the policy document, under the
// key "agent_update": the release a group's agents run, and to what share
// of them it is rolled out. A canary group is a group of its own at 100
// while the wide group stays lower.
type AgentUpdate struct {
	// Version is the release to run; "" leaves agents as they are.
	Version string `json:"version"`
	// Percent of the agents (0 to 100) that take it; the same agents stay in
	// as it grows.
	Percent int `json:"percent"`
}

var updateVersionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)

// UpdateFromDoc reads the agent_update part of a policy document.
func UpdateFromDoc(doc json.RawMessage) (AgentUpdate, error) {
	var top struct {
		Update *AgentUpdate `json:"agent_update"`
	}
	if len(doc) == 0 {
		return AgentUpdate{}, nil
	}
	if err := json.Unmarshal(doc, &top); err != nil {
		return AgentUpdate{}, fmt.Errorf("decode agent_update policy: %w", err)
	}
	if top.Update == nil {
		return AgentUpdate{}, nil
	}
	u := *top.Update
	if u.Version != "" && !updateVersionRE.MatchString(u.Version) {
		return AgentUpdate{}, fmt.Errorf("agent_update version %q: letters, digits and . _ + - only", u.Version)
	}
	if u.Percent < 0 || u.Percent > 100 {
		return AgentUpdate{}, fmt.Errorf("agent_update percent %d: must be between 0 and 100", u.Percent)
	}
	return u, nil
}

// Covers reports whether the rollout reaches the agent: its place (0-99,
// from its id) is below the percent.
func (u AgentUpdate) Covers(agentID string) bool {
	if u.Version == "" || u.Percent <= 0 {
		return false
	}
	h := fnv.New32a()
	h.Write([]byte(agentID))
	return int(h.Sum32()%100) < u.Percent
}
