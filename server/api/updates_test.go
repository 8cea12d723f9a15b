package api_test

import (
	"encoding/json"
	"testing"

	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// TestUpdateOfferAndRollout: a policy targeting a release makes the poll
// offer it, with the digest and signature of the manifest, to an agent of
// another version on the platform the release has; the agent's report is
// audited; the rollout counts what the caller may see.
func TestUpdateOfferAndRollout(t *testing.T) {
	e := newEnv(t, withInstallers(t))
	admin := e.user("root", perm.RoleAdministrator)
	mustDo(t, admin, "POST", "/api/v1/groups", protocol.Group{Name: "G"}, nil, 201)
	_, secD := e.enroll("upd-d", "Default")
	_, secG := e.enroll("upd-g", "G")

	resp, st := e.poll(secD, protocol.PollRequest{})
	if st != 200 || resp.Update != nil {
		t.Fatalf("an offer without a policy: %d %+v", st, resp.Update)
	}
	mustDo(t, admin, "PUT", "/api/v1/policies/global", json.RawMessage(`{"agent_update":{"version":"v1.2.0","percent":100}}`), nil, 200)
	resp, _ = e.poll(secD, protocol.PollRequest{})
	u := resp.Update
	if u == nil || u.Version != "v1.2.0" || u.URL != "/api/agent/v1/releases/v1.2.0/linux/amd64" || u.Size == 0 || len(u.SHA256) != 64 || u.Signature == "" {
		t.Fatalf("offer %+v", u)
	}
	// The agent fetches what it was offered, with its own credential.
	dl := e.client()
	dl.bearer = secD
	if st := dl.do("GET", u.URL, nil, nil); st != 200 || int64(len(dl.last)) != u.Size {
		t.Errorf("download: %d, %d bytes", st, len(dl.last))
	}
	// An agent at the target is offered nothing; at 0 % nobody is.
	_, st = e.poll(secG, protocol.PollRequest{Inventory: &protocol.Inventory{Hostname: "upd-g", OS: "linux", Arch: "amd64", AgentVersion: "v1.2.0"},
		Update: &protocol.UpdateReport{Phase: protocol.UpdateConfirmed, From: "test", To: "v1.2.0"}})
	if st != 200 {
		t.Fatalf("poll with a report: %d", st)
	}
	if resp, _ := e.poll(secG, protocol.PollRequest{}); resp.Update != nil {
		t.Errorf("an agent at the target was offered %+v", resp.Update)
	}

	var list struct{ Records []protocol.AuditRecord }
	mustDo(t, admin, "GET", "/api/v1/audit?type=agent.update", nil, &list, 200)
	if len(list.Records) != 1 || !json.Valid(list.Records[0].Details) {
		t.Fatalf("agent.update records %+v", list.Records)
	}
	var d map[string]string
	json.Unmarshal(list.Records[0].Details, &d)
	if d["phase"] != "confirmed" || d["to"] != "v1.2.0" {
		t.Errorf("audit details %v", d)
	}

	var all struct{ Rollouts []protocol.Rollout }
	mustDo(t, admin, "GET", "/api/v1/agent-updates", nil, &all, 200)
	if want := (protocol.Rollout{Version: "v1.2.0", Endpoints: 2, Covered: 2, Updated: 1}); len(all.Rollouts) != 1 || all.Rollouts[0] != want {
		t.Errorf("rollouts %+v, want %+v", all.Rollouts, want)
	}
	scoped := e.user("viewer-g", perm.RoleScreenShareAgent+"@G")
	mustDo(t, scoped, "GET", "/api/v1/agent-updates", nil, &all, 200)
	if want := (protocol.Rollout{Version: "v1.2.0", Endpoints: 1, Covered: 1, Updated: 1}); len(all.Rollouts) != 1 || all.Rollouts[0] != want {
		t.Errorf("scoped rollouts %+v, want %+v", all.Rollouts, want)
	}

	mustDo(t, admin, "PUT", "/api/v1/policies/global", json.RawMessage(`{"agent_update":{"version":"v1.2.0","percent":0}}`), nil, 200)
	if resp, _ := e.poll(secD, protocol.PollRequest{}); resp.Update != nil {
		t.Errorf("offered at 0 %%: %+v", resp.Update)
	}
	if st := admin.do("PUT", "/api/v1/policies/global", json.RawMessage(`{"agent_update":{"version":"v1.2.0","percent":150}}`), nil); st != 400 {
		t.Errorf("percent 150: %d", st)
	}
}
