package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/store"
)

func testAgents(t *testing.T, s store.Store) {
	ctx := t.Context()
	g := mustGroup(t, s, "Branch")
	seen := t0.Add(time.Minute)
	in := store.Agent{
		GroupID:      g.ID,
		SecretHash:   "agent-secret-1",
		Hostname:     "WS-0042",
		IPs:          []string{"10.0.0.5", "fe80::1"},
		OS:           "windows",
		OSVersion:    "10.0.19045",
		Arch:         "amd64",
		AgentVersion: "1.2.3",
		Users:        []string{"CORP\\alice"},
		TimeZone:     "Europe/Berlin",
		Enrolled:     t0,
		LastSeen:     seen,
	}
	a, err := s.CreateAgent(ctx, in)
	noErr(t, "create", err)
	checkID(t, "agent", a.ID)
	in.ID = a.ID
	equal(t, "returned agent", a, in)

	got, err := s.AgentByID(ctx, a.ID)
	noErr(t, "by id", err)
	equal(t, "by id", got, a)
	got, err = s.AgentBySecretHash(ctx, "agent-secret-1")
	noErr(t, "by secret", err)
	equal(t, "by secret", got, a)

	// Defaults: LastSeen follows Enrolled; empty lists come back nil.
	b, err := s.CreateAgent(ctx, store.Agent{ID: "agent-b", GroupID: store.DefaultGroup, SecretHash: "agent-secret-2", Hostname: "b", IPs: []string{}, Enrolled: t0})
	noErr(t, "create b", err)
	got, err = s.AgentByID(ctx, "agent-b")
	noErr(t, "b by id", err)
	equal(t, "b", got, b)
	sameTime(t, "b last seen", got.LastSeen, t0)
	if got.IPs != nil || got.Users != nil || got.Revoked != nil {
		t.Fatalf("b = %+v, want nil IPs, Users and Revoked", got)
	}

	errs := []struct {
		name string
		a    store.Agent
		want error
	}{
		{"duplicate secret", store.Agent{GroupID: g.ID, SecretHash: "agent-secret-1", Hostname: "x"}, store.ErrConflict},
		{"duplicate id", store.Agent{ID: "agent-b", GroupID: g.ID, SecretHash: "other", Hostname: "x"}, store.ErrConflict},
		{"unknown group", store.Agent{GroupID: "nope", SecretHash: "s3", Hostname: "x"}, store.ErrNotFound},
	}
	for _, tc := range errs {
		_, err := s.CreateAgent(ctx, tc.a)
		wantErr(t, tc.name, err, tc.want)
	}
	_, err = s.AgentByID(ctx, "nope")
	wantErr(t, "missing id", err, store.ErrNotFound)
	_, err = s.AgentBySecretHash(ctx, "nope")
	wantErr(t, "missing secret", err, store.ErrNotFound)

	// UpdateInventory replaces inventory fields only.
	inv := store.Agent{
		ID: a.ID, Hostname: "ws-0042-renamed", IPs: []string{"192.168.7.7"}, OS: "windows", OSVersion: "11",
		Arch: "arm64", AgentVersion: "1.3.0", Users: nil, TimeZone: "+3600", Tools: []string{"files.user", "terminal"},
		// Not inventory: must be ignored.
		GroupID: store.DefaultGroup, SecretHash: "hijack", Enrolled: t0.Add(time.Hour),
	}
	noErr(t, "update inventory", s.UpdateInventory(ctx, inv))
	got, err = s.AgentByID(ctx, a.ID)
	noErr(t, "by id", err)
	want := a
	want.Hostname, want.IPs, want.OSVersion, want.Arch, want.AgentVersion, want.Users = inv.Hostname, inv.IPs, inv.OSVersion, inv.Arch, inv.AgentVersion, nil
	want.TimeZone, want.Tools = inv.TimeZone, inv.Tools
	equal(t, "after inventory update", got, want)
	wantErr(t, "update missing", s.UpdateInventory(ctx, store.Agent{ID: "nope", Hostname: "x"}), store.ErrNotFound)

	// Revocation keeps the first time and the agent stays readable.
	at := t0.Add(2 * time.Hour)
	noErr(t, "revoke", s.RevokeAgent(ctx, a.ID, at))
	noErr(t, "revoke again", s.RevokeAgent(ctx, a.ID, at.Add(time.Hour)))
	wantErr(t, "revoke missing", s.RevokeAgent(ctx, "nope", at), store.ErrNotFound)
	got, err = s.AgentBySecretHash(ctx, "agent-secret-1")
	noErr(t, "revoked by secret", err)
	if got.Revoked == nil {
		t.Fatal("revoked agent has no Revoked time")
	}
	sameTime(t, "revoked", *got.Revoked, at)
}

func testSearchAgents(t *testing.T, s store.Store) {
	ctx := t.Context()
	g2 := mustGroup(t, s, "G2")
	def := store.DefaultGroup
	mustAgent(t, s, def, "Alpha-PC", "10.1.2.3", "FE80::1")
	mustAgent(t, s, def, "beta-pc", "110.1.2.3")
	mustAgent(t, s, g2.ID, "GAMMA_srv", "127.0.0.1", "192.168.1.10")
	mustAgent(t, s, def, "delta%box", "10.10.0.1")
	mustAgent(t, s, g2.ID, "Ünïcode-Host")
	eps := mustAgent(t, s, def, "Epsilon-PC", "10.1.9.9")
	noErr(t, "revoke", s.RevokeAgent(ctx, eps.ID, t0))

	all := []string{"Alpha-PC", "beta-pc", "delta%box", "GAMMA_srv", "Ünïcode-Host"}
	tests := []struct {
		name   string
		filter store.AgentFilter
		want   []string
	}{
		{"empty query matches all but revoked, by hostname", store.AgentFilter{}, all},
		{"substring, any case", store.AgentFilter{Query: "PC"}, []string{"Alpha-PC", "beta-pc"}},
		{"upper query, lower name", store.AgentFilter{Query: "BETA"}, []string{"beta-pc"}},
		{"middle of name", store.AgentFilter{Query: "mma_S"}, []string{"GAMMA_srv"}},
		{"non-ASCII, any case", store.AgentFilter{Query: "üNÏ"}, []string{"Ünïcode-Host"}},
		{"surrounding space trimmed", store.AgentFilter{Query: "  alpha "}, []string{"Alpha-PC"}},
		{"IP prefix", store.AgentFilter{Query: "127.0"}, []string{"GAMMA_srv"}},
		{"second IP", store.AgentFilter{Query: "192.168."}, []string{"GAMMA_srv"}},
		{"10.1 is a prefix of 10.1.2.3 and 10.10.0.1, not of 110.1.2.3", store.AgentFilter{Query: "10.1"}, []string{"Alpha-PC", "delta%box"}},
		{"10.1.2 does not match 110.1.2.3", store.AgentFilter{Query: "10.1.2"}, []string{"Alpha-PC"}},
		{"110.1 matches only its own", store.AgentFilter{Query: "110.1"}, []string{"beta-pc"}},
		{"not a prefix of any address", store.AgentFilter{Query: "1.2.3"}, nil},
		{"IPv6 any case", store.AgentFilter{Query: "fe80:"}, []string{"Alpha-PC"}},
		{"percent is literal", store.AgentFilter{Query: "%"}, []string{"delta%box"}},
		{"underscore is literal", store.AgentFilter{Query: "_"}, []string{"GAMMA_srv"}},
		{"backslash is literal", store.AgentFilter{Query: `\`}, nil},
		{"space does not bridge two addresses", store.AgentFilter{Query: "127.0.0.1 192"}, nil},
		{"revoked excluded", store.AgentFilter{Query: "epsilon"}, nil},
		{"revoked IP excluded", store.AgentFilter{Query: "10.1.9"}, nil},
		{"no match", store.AgentFilter{Query: "zzz"}, nil},
		{"nil groups means all", store.AgentFilter{GroupIDs: nil}, all},
		{"empty groups means none", store.AgentFilter{GroupIDs: []string{}}, nil},
		{"one group", store.AgentFilter{GroupIDs: []string{g2.ID}}, []string{"GAMMA_srv", "Ünïcode-Host"}},
		{"two groups", store.AgentFilter{GroupIDs: []string{def, g2.ID}}, all},
		{"unknown group", store.AgentFilter{GroupIDs: []string{"nope"}}, nil},
		{"query within group", store.AgentFilter{Query: "1", GroupIDs: []string{def}}, []string{"Alpha-PC", "beta-pc", "delta%box"}},
		{"limit", store.AgentFilter{Limit: 2}, all[:2]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			as, err := s.SearchAgents(ctx, tc.filter)
			noErr(t, "search", err)
			var got []string
			for _, a := range as {
				got = append(got, a.Hostname)
			}
			equal(t, fmt.Sprintf("search %+v", tc.filter), got, tc.want)
		})
	}

	// Equal hostnames are ordered by id; results carry full agents.
	for _, id := range []string{"id-b", "id-a"} {
		_, err := s.CreateAgent(ctx, store.Agent{ID: id, GroupID: def, SecretHash: "s-" + id, Hostname: "twin", IPs: []string{"172.16.0.1"}, Enrolled: t0})
		noErr(t, "create twin", err)
	}
	as, err := s.SearchAgents(ctx, store.AgentFilter{Query: "twin"})
	noErr(t, "search twins", err)
	if len(as) != 2 || as[0].ID != "id-a" || as[1].ID != "id-b" {
		t.Fatalf("twins = %+v, want id-a then id-b", as)
	}
	full, err := s.AgentByID(ctx, "id-a")
	noErr(t, "twin by id", err)
	equal(t, "search result is the full agent", as[0], full)

	// The default limit is 200.
	for i := range 205 {
		_, err := s.CreateAgent(ctx, store.Agent{GroupID: def, SecretHash: fmt.Sprintf("bulk-%d", i), Hostname: fmt.Sprintf("bulk-%03d", i), Enrolled: t0})
		noErr(t, "create bulk", err)
	}
	as, err = s.SearchAgents(ctx, store.AgentFilter{Query: "bulk-"})
	noErr(t, "search bulk", err)
	equal(t, "default limit", len(as), 200)
	equal(t, "first bulk", as[0].Hostname, "bulk-000")
}

func testTouchAgents(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 1000
	ids := make([]string, n)
	for i := range n {
		a, err := s.CreateAgent(ctx, store.Agent{GroupID: store.DefaultGroup, SecretHash: fmt.Sprintf("touch-%d", i), Hostname: fmt.Sprintf("host-%04d", i), Enrolled: t0})
		noErr(t, "create", err)
		ids[i] = a.ID
	}
	noErr(t, "touch nothing", s.TouchAgents(ctx, nil))

	seen := make(map[string]time.Time, n+1)
	for i, id := range ids {
		seen[id] = t0.Add(time.Duration(i+1) * time.Millisecond)
	}
	seen["no-such-agent"] = t0 // ignored
	start := time.Now()
	noErr(t, "touch", s.TouchAgents(ctx, seen))
	t.Logf("TouchAgents(%d) took %s", n, time.Since(start))

	as, err := s.SearchAgents(ctx, store.AgentFilter{Query: "host-", Limit: 2 * n})
	noErr(t, "search", err)
	equal(t, "agents", len(as), n)
	for i, a := range as {
		sameTime(t, a.Hostname+" last seen", a.LastSeen, seen[ids[i]])
		sameTime(t, a.Hostname+" enrolled unchanged", a.Enrolled, t0)
	}

	// A second batch with fewer agents changes only those.
	later := t0.Add(time.Hour)
	noErr(t, "touch again", s.TouchAgents(ctx, map[string]time.Time{ids[0]: later}))
	a0, err := s.AgentByID(ctx, ids[0])
	noErr(t, "agent 0", err)
	sameTime(t, "agent 0", a0.LastSeen, later)
	a1, err := s.AgentByID(ctx, ids[1])
	noErr(t, "agent 1", err)
	sameTime(t, "agent 1", a1.LastSeen, seen[ids[1]])
}

func testReEnrollAgent(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, err := s.CreateAgent(ctx, store.Agent{GroupID: store.DefaultGroup, SecretHash: "first", Hostname: "lost-answer", Enrolled: t0, EnrollKey: "key-1"})
	noErr(t, "create", err)
	got, err := s.AgentByID(ctx, a.ID)
	noErr(t, "by id", err)
	if got.EnrollKey != "key-1" {
		t.Fatalf("enroll key = %q", got.EnrollKey)
	}

	re, err := s.ReEnrollAgent(ctx, "key-1", "second", t0.Add(-time.Hour))
	noErr(t, "re-enroll", err)
	if re.ID != a.ID || re.SecretHash != "second" {
		t.Fatalf("re-enrolled %+v, want %s with the new secret", re, a.ID)
	}
	_, err = s.AgentBySecretHash(ctx, "first")
	wantErr(t, "old secret", err, store.ErrNotFound)
	got, err = s.AgentBySecretHash(ctx, "second")
	noErr(t, "by new secret", err)
	if got.ID != a.ID {
		t.Fatalf("new secret resolves to %s", got.ID)
	}

	for name, tc := range map[string]struct {
		key       string
		notBefore time.Time
	}{
		"empty key": {"", t0.Add(-time.Hour)},
		"other key": {"key-2", t0.Add(-time.Hour)},
		"too late":  {"key-1", t0.Add(time.Second)},
	} {
		_, err := s.ReEnrollAgent(ctx, tc.key, "third", tc.notBefore)
		wantErr(t, name, err, store.ErrNotFound)
	}
	noErr(t, "revoke", s.RevokeAgent(ctx, a.ID, t0.Add(time.Minute)))
	_, err = s.ReEnrollAgent(ctx, "key-1", "fourth", t0.Add(-time.Hour))
	wantErr(t, "revoked agent", err, store.ErrNotFound)
}
