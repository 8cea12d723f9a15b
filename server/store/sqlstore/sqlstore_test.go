package sqlstore_test

import (
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/server/store/sqlstore"
	"github.com/tetherdesk/tether/server/store/storetest"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

func openSQLite(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "tether.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, openSQLite)
}

// TestPostgres runs the suite with a fresh database per store, created in
// the cluster TETHER_TEST_POSTGRES points at (scripts/pg-test.sh start).
func TestPostgres(t *testing.T) {
	dsn := os.Getenv("TETHER_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("TETHER_TEST_POSTGRES is not set; run with TETHER_TEST_POSTGRES=$(scripts/pg-test.sh start)")
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlstore.OpenPostgres(t.Context(), testenv.FreshPostgres(t, dsn))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() }) // runs before the DROP registered earlier
		return s
	})
}

// TestReopen checks that migrations are recorded once, re-running them on
// reopen is a no-op, and data survives.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "tether.db")
	s, err := sqlstore.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, store.User{Name: "admin", PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutPolicy(ctx, "", []byte(`{"v":2}`), time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendAudit(ctx, store.AuditRecord{Actor: "admin", Type: "login"}); err != nil {
		t.Fatal(err)
	}
	migrations := countMigrations(t, s.DB())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for range 2 {
		s, err = sqlstore.OpenSQLite(ctx, path)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if got := countMigrations(t, s.DB()); got != migrations {
			t.Fatalf("schema_migrations has %d rows after reopen, want %d", got, migrations)
		}
		got, err := s.UserByName(ctx, "admin")
		if err != nil || got != u {
			t.Fatalf("user after reopen = %+v, %v; want %+v", got, err, u)
		}
		p, err := s.Policy(ctx, "")
		if err != nil || p.Version != 2 {
			t.Fatalf("policy after reopen = %+v, %v; want version 2 (the seed must not run again)", p, err)
		}
		gs, err := s.ListGroups(ctx)
		if err != nil || len(gs) != 1 {
			t.Fatalf("groups after reopen = %+v, %v; want only Default", gs, err)
		}
		if check, err := s.VerifyAudit(ctx); err != nil || !check.Intact() {
			t.Fatalf("verify after reopen = %v, %v", check, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func countMigrations(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no migrations recorded")
	}
	return n
}

// TestOpenBadPath checks that an unusable data directory fails at open with
// a message naming the path.
func TestOpenBadPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(dir, "ro")
	if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		rootOK     bool // root ignores directory permissions
	}{
		{"missing directory", filepath.Join(dir, "no", "such", "dir", "tether.db"), true},
		{"directory is a file", filepath.Join(file, "tether.db"), true},
		{"database path is a directory", readOnly, true},
		{"not a database file", garbage, true},
		{"unwritable directory", filepath.Join(readOnly, "tether.db"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.rootOK && os.Geteuid() == 0 {
				t.Skip("root can write anywhere")
			}
			s, err := sqlstore.OpenSQLite(t.Context(), tc.path)
			if err == nil {
				s.Close()
				t.Fatalf("open %s succeeded", tc.path)
			}
			if !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("error %q does not name the path %s", err, tc.path)
			}
			t.Logf("%s: %v", tc.name, err)
		})
	}
}

func TestOpenConfig(t *testing.T) {
	_, err := sqlstore.Open(t.Context(), sqlstore.Config{Driver: "mysql", DSN: "x"})
	if err == nil || !strings.Contains(err.Error(), "mysql") {
		t.Fatalf("unknown driver: %v", err)
	}
	_, err = sqlstore.Open(t.Context(), sqlstore.Config{Driver: "sqlite"})
	if err == nil {
		t.Fatal("empty DSN accepted")
	}
	s, err := sqlstore.Open(t.Context(), sqlstore.Config{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "odd ?#%name.db")})
	if err != nil {
		t.Fatalf("path with URI metacharacters: %v", err)
	}
	defer s.Close()
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserByID(t.Context(), "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing user: %v", err)
	}
}

// TestSharedFile opens several stores on one SQLite file at once, as a
// server and a CLI command might, and appends to the audit chain from all
// of them: migrations must run once and SQLITE_BUSY must not surface.
func TestSharedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tether.db")
	testShared(t, func(t *testing.T) *sqlstore.Store {
		s, err := sqlstore.OpenSQLite(t.Context(), path)
		if err != nil {
			t.Error(err)
		}
		return s
	})
}

// TestPostgresSharedDatabase is TestSharedFile for several server nodes
// starting against one PostgreSQL database.
func TestPostgresSharedDatabase(t *testing.T) {
	dsn := os.Getenv("TETHER_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("TETHER_TEST_POSTGRES is not set; run with TETHER_TEST_POSTGRES=$(scripts/pg-test.sh start)")
	}
	db := testenv.FreshPostgres(t, dsn)
	testShared(t, func(t *testing.T) *sqlstore.Store {
		s, err := sqlstore.OpenPostgres(t.Context(), db)
		if err != nil {
			t.Error(err)
		}
		return s
	})
}

func testShared(t *testing.T, open func(t *testing.T) *sqlstore.Store) {
	const nodes, appends = 4, 25
	stores := make([]*sqlstore.Store, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { stores[i] = open(t) })
	}
	wg.Wait()
	for _, s := range stores {
		if s == nil {
			t.FailNow()
		}
		t.Cleanup(func() { s.Close() })
	}
	for _, s := range stores {
		wg.Go(func() {
			for range appends {
				if _, err := s.AppendAudit(t.Context(), store.AuditRecord{Actor: "node", Type: "test"}); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.PutPolicy(t.Context(), "", []byte(`{}`), time.Now()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	s := stores[0]
	if n := countMigrations(t, s.DB()); n != countMigrations(t, stores[nodes-1].DB()) {
		t.Fatalf("migration rows differ between nodes")
	}
	if check, err := s.VerifyAudit(t.Context()); err != nil || check != (store.AuditCheck{Records: nodes * appends}) {
		t.Fatalf("verify = %v, %v", check, err)
	}
	recs, err := s.ListAudit(t.Context(), store.AuditFilter{Limit: 1})
	if err != nil || len(recs) != 1 || recs[0].Seq != nodes*appends {
		t.Fatalf("last audit record = %+v, %v; want seq %d", recs, err, nodes*appends)
	}
	p, err := s.Policy(t.Context(), "")
	if err != nil || p.Version != 1+nodes*appends {
		t.Fatalf("policy = %+v, %v; want version %d", p, err, 1+nodes*appends)
	}
	gs, err := s.ListGroups(t.Context())
	if err != nil || len(gs) != 1 {
		t.Fatalf("groups = %+v, %v; want the Default group seeded once", gs, err)
	}
	// Nodes flush signs of life independently: an older batch written
	// last keeps the newer time.
	a, err := s.CreateAgent(t.Context(), store.Agent{GroupID: store.DefaultGroup, SecretHash: "touch", Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	newer := time.Now().UTC().Add(time.Hour).Truncate(time.Millisecond) // after the enrollment's own
	if err := stores[1].TouchAgents(t.Context(), map[string]time.Time{a.ID: newer}); err != nil {
		t.Fatal(err)
	}
	if err := stores[2].TouchAgents(t.Context(), map[string]time.Time{a.ID: newer.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.AgentByID(t.Context(), a.ID); err != nil || !got.LastSeen.Equal(newer) {
		t.Fatalf("last seen %v (%v); want the newer %v", got.LastSeen, err, newer)
	}
}

// TestReadOnly opens an existing SQLite file for reading: the chain
// verifies, writes fail, and a missing file is an error, not a new store.
func TestReadOnly(t *testing.T) {
	ctx := t.Context()
	key := []byte("read-only test key")
	path := filepath.Join(t.TempDir(), "tether.db")
	if _, err := sqlstore.OpenSQLite(ctx, path, sqlstore.ReadOnly()); err == nil {
		t.Fatal("read-only open of a missing file succeeded")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only open created %s: %v", path, err)
	}
	s, err := sqlstore.OpenSQLite(ctx, path, sqlstore.WithAuditKey(key))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.AppendAudit(ctx, store.AuditRecord{Actor: "admin", Type: "login"}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	ro, err := sqlstore.OpenSQLite(ctx, path, sqlstore.WithAuditKey(key), sqlstore.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if check, err := ro.VerifyAudit(ctx); err != nil || check != (store.AuditCheck{Records: 3}) {
		t.Fatalf("verify = %v, %v", check, err)
	}
	if _, err := ro.AppendAudit(ctx, store.AuditRecord{Actor: "admin", Type: "logout"}); err == nil {
		t.Fatal("append through a read-only store succeeded")
	}
	ro.Close()

	// A schema older than the program cannot be read without migrating.
	s, err = sqlstore.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, s, `DELETE FROM schema_migrations WHERE version >= 6`)
	s.Close()
	if _, err := sqlstore.OpenSQLite(ctx, path, sqlstore.ReadOnly()); err == nil || !strings.Contains(err.Error(), "schema is at version 5") {
		t.Fatalf("read-only open of an old schema: %v", err)
	}
}

// TestAuditRekey turns an SQLite store into one written before the audit
// chain was keyed, and opens it with a key from several stores at once.
func TestAuditRekey(t *testing.T) {
	testRekey(t, func(t *testing.T) func(opts ...sqlstore.Option) (*sqlstore.Store, error) {
		path := filepath.Join(t.TempDir(), "tether.db")
		return func(opts ...sqlstore.Option) (*sqlstore.Store, error) {
			return sqlstore.OpenSQLite(t.Context(), path, opts...)
		}
	})
}

// TestPostgresAuditRekey is TestAuditRekey with several nodes starting
// against one PostgreSQL database.
func TestPostgresAuditRekey(t *testing.T) {
	dsn := os.Getenv("TETHER_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("TETHER_TEST_POSTGRES is not set; run with TETHER_TEST_POSTGRES=$(scripts/pg-test.sh start)")
	}
	testRekey(t, func(t *testing.T) func(opts ...sqlstore.Option) (*sqlstore.Store, error) {
		db := testenv.FreshPostgres(t, dsn)
		return func(opts ...sqlstore.Option) (*sqlstore.Store, error) {
			return sqlstore.OpenPostgres(t.Context(), db, opts...)
		}
	})
}

func testRekey(t *testing.T, newDB func(t *testing.T) func(opts ...sqlstore.Option) (*sqlstore.Store, error)) {
	key := []byte("0123456789abcdef0123456789abcdef")
	mustOpen := func(t *testing.T, open func(opts ...sqlstore.Option) (*sqlstore.Store, error), opts ...sqlstore.Option) *sqlstore.Store {
		t.Helper()
		s, err := open(opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	verify := func(t *testing.T, s *sqlstore.Store, want store.AuditCheck) {
		t.Helper()
		got, err := s.VerifyAudit(t.Context())
		if err != nil || got != want {
			t.Fatalf("verify = %+v, %v; want %+v", got, err, want)
		}
	}
	all := func(t *testing.T, s *sqlstore.Store) []store.AuditRecord {
		t.Helper()
		recs, err := s.ListAudit(t.Context(), store.AuditFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		slices.Reverse(recs)
		return recs
	}
	// legacyDB makes a store as it was before the chain was keyed: n
	// records chained with plain SHA-256, no anchor table, migration 6 not
	// applied. tamper runs on it before it is closed.
	legacyDB := func(t *testing.T, n int, tamper ...string) (func(opts ...sqlstore.Option) (*sqlstore.Store, error), []store.AuditRecord) {
		t.Helper()
		open := newDB(t)
		s, err := open()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for i := range n {
			if _, err := s.AppendAudit(t.Context(), store.AuditRecord{Actor: "admin", Type: "login", Details: []byte(fmt.Sprintf(`{"i":%d}`, i))}); err != nil {
				t.Fatal(err)
			}
		}
		prev := ""
		var recs []store.AuditRecord
		for _, r := range all(t, s) {
			r.PrevHash = prev
			r.Hash = store.LegacyAuditHash(r)
			prev = r.Hash
			recs = append(recs, r)
			exec(t, s, fmt.Sprintf(`UPDATE audit_log SET prev_hash = '%s', hash = '%s' WHERE seq = %d`, r.PrevHash, r.Hash, r.Seq))
		}
		exec(t, s, `DROP TABLE audit_anchor`, `DELETE FROM schema_migrations WHERE version = 6`)
		exec(t, s, tamper...)
		return open, recs
	}

	t.Run("intact legacy chain", func(t *testing.T) {
		open, legacy := legacyDB(t, 5)

		// Without a key (tests only) nothing is re-keyed.
		s := mustOpen(t, open)
		verify(t, s, store.AuditCheck{Records: 1, FirstBad: 1, Problem: "unkeyed legacy hash (chain not re-keyed)"})
		s.Close()

		// Several nodes start at once: one re-keys, the others find it done.
		const nodes = 4
		stores := make([]*sqlstore.Store, nodes)
		var wg sync.WaitGroup
		for i := range nodes {
			wg.Go(func() {
				s, err := open(sqlstore.WithAuditKey(key))
				if err != nil {
					t.Error(err)
					return
				}
				stores[i] = s
			})
		}
		wg.Wait()
		for _, s := range stores {
			if s == nil {
				t.FailNow()
			}
			s.Close()
		}
		for range 2 { // and again, one at a time
			s = mustOpen(t, open, sqlstore.WithAuditKey(key))
			verify(t, s, store.AuditCheck{Records: 6})
			recs := all(t, s)
			for i, r := range legacy {
				got := recs[i]
				if got.Seq != r.Seq || !got.Time.Equal(r.Time) || got.Actor != r.Actor || got.Type != r.Type || string(got.Details) != string(r.Details) {
					t.Fatalf("record %d changed: %+v, was %+v", r.Seq, got, r)
				}
				if got.Hash == r.Hash || got.Hash != store.AuditHash(key, got) {
					t.Fatalf("record %d not re-keyed: %+v", r.Seq, got)
				}
			}
			last := recs[len(recs)-1]
			if len(recs) != 6 || last.Type != store.AuditRekeyed || last.Actor != "server" {
				t.Fatalf("records after re-key: %d, last %+v", len(recs), last)
			}
			var d struct {
				Records int64  `json:"records"`
				Legacy  string `json:"legacy_last_hash"`
			}
			if err := json.Unmarshal(last.Details, &d); err != nil || d.Records != 5 || d.Legacy != legacy[4].Hash {
				t.Fatalf("re-key record details %s: %v", last.Details, err)
			}
			s.Close()
		}

		// The key matters: the test key does not verify the re-keyed chain.
		s = mustOpen(t, open)
		verify(t, s, store.AuditCheck{Records: 1, FirstBad: 1, Problem: "hash mismatch"})
	})

	t.Run("broken legacy chain", func(t *testing.T) {
		open, legacy := legacyDB(t, 5, `UPDATE audit_log SET details = '{"i":9}' WHERE seq = 3`)
		s := mustOpen(t, open, sqlstore.WithAuditKey(key))
		verify(t, s, store.AuditCheck{Records: 1, FirstBad: 1, Problem: "unkeyed legacy hash (chain not re-keyed)"})
		recs := all(t, s)
		if len(recs) != 5 {
			t.Fatalf("%d records, want the 5 untouched", len(recs))
		}
		for i, r := range recs {
			if r.Hash != legacy[i].Hash || r.PrevHash != legacy[i].PrevHash {
				t.Fatalf("record %d rewritten: %+v, was %+v", r.Seq, r, legacy[i])
			}
		}
	})

	t.Run("legacy chain that was re-keyed before", func(t *testing.T) {
		// A genuine legacy chain never holds a re-key record: someone
		// removed the anchor and rewrote the chain without the key.
		open := newDB(t)
		s := mustOpen(t, open)
		for _, typ := range []protocol.AuditType{"login", store.AuditRekeyed, "logout"} {
			if _, err := s.AppendAudit(t.Context(), store.AuditRecord{Actor: "server", Type: typ}); err != nil {
				t.Fatal(err)
			}
		}
		prev := ""
		for _, r := range all(t, s) {
			r.PrevHash = prev
			r.Hash = store.LegacyAuditHash(r)
			prev = r.Hash
			exec(t, s, fmt.Sprintf(`UPDATE audit_log SET prev_hash = '%s', hash = '%s' WHERE seq = %d`, r.PrevHash, r.Hash, r.Seq))
		}
		exec(t, s, `DELETE FROM audit_anchor`)
		s.Close()
		s = mustOpen(t, open, sqlstore.WithAuditKey(key))
		verify(t, s, store.AuditCheck{Records: 1, FirstBad: 1, Problem: "unkeyed legacy hash (chain not re-keyed)"})
	})
}

func exec(t *testing.T, s *sqlstore.Store, qs ...string) {
	t.Helper()
	for _, q := range qs {
		if _, err := s.DB().ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// BenchmarkTouchAgents measures one presence flush of 10,000 agents, the
// server's batch size at scale.
func BenchmarkTouchAgents(b *testing.B) {
	backends := map[string]func(b *testing.B) *sqlstore.Store{
		"sqlite": func(b *testing.B) *sqlstore.Store {
			s, err := sqlstore.OpenSQLite(b.Context(), filepath.Join(b.TempDir(), "tether.db"))
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
		"postgres": func(b *testing.B) *sqlstore.Store {
			dsn := os.Getenv("TETHER_TEST_POSTGRES")
			if dsn == "" {
				b.Skip("TETHER_TEST_POSTGRES is not set")
			}
			s, err := sqlstore.OpenPostgres(b.Context(), testenv.FreshPostgres(b, dsn))
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
	for name, open := range backends {
		b.Run(name, func(b *testing.B) {
			s := open(b)
			defer s.Close()
			const n = 10000
			seen := make(map[string]time.Time, n)
			for range n {
				a, err := s.CreateAgent(b.Context(), store.Agent{GroupID: store.DefaultGroup, SecretHash: rand.Text(), Hostname: "h"})
				if err != nil {
					b.Fatal(err)
				}
				seen[a.ID] = time.Now()
			}
			b.ResetTimer()
			for b.Loop() {
				if err := s.TouchAgents(b.Context(), seen); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestBuiltinRolesFollowTheCode: a store made by an older version (here,
// a built-in role's row changed behind its back) gets the built-in roles'
// permissions of this version when it is opened.
func TestBuiltinRolesFollowTheCode(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "tether.db")
	s, err := sqlstore.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertRole(ctx, store.Role{Name: perm.RoleNotifyOperator, Permissions: []string{string(perm.NotificationsRead)}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlstore.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Role(ctx, perm.RoleNotifyOperator)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := perm.DefaultRole(perm.RoleNotifyOperator)
	if len(r.Permissions) != len(want.Permissions) || !slices.Contains(r.Permissions, string(perm.UsersRead)) {
		t.Errorf("after reopening, %s has %v, want %v", r.Name, r.Permissions, want.Permissions)
	}
}
