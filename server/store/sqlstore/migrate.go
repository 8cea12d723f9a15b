package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
)

// Migrations are files NNNN_name.sql, applied in order, each in its own
// transaction together with its seed function and its schema_migrations row,
// so a failed migration leaves nothing behind and a restart skips what is done.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// seeds run after the migration with the same version, in its transaction.
var seeds = map[int]func(ctx context.Context, s *Store, tx *sql.Tx) error{
	1: seedDefaults,
}

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, p := range names {
		base := strings.TrimPrefix(p, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: name must be NNNN_name.sql", base)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %q and %q share version %d", prev, base, v)
		}
		seen[v] = base
		b, err := migrationFiles.ReadFile(p)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	for _, m := range ms {
		if err := s.inTx(ctx, func(tx *sql.Tx) error { return s.applyMigration(ctx, tx, m) }); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// checkSchema fails unless every migration has been applied: a read-only
// store cannot migrate.
func (s *Store) checkSchema(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	want := ms[len(ms)-1].version
	var have sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("read schema version (is this a Tether database?): %w", err)
	}
	if have.Int64 < int64(want) {
		return fmt.Errorf("database schema is at version %d, this program needs %d: start the server once to upgrade it", have.Int64, want)
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, tx *sql.Tx, m migration) error {
	// Several server nodes may start at once against one PostgreSQL; the
	// lock makes the check-then-apply below atomic across them. On SQLite
	// the immediate transaction already holds the write lock.
	if s.d.lockMigrations != "" {
		if _, err := tx.ExecContext(ctx, s.d.lockMigrations); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.d.types.Replace(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version {{bigint}} PRIMARY KEY,
		name    {{text}} NOT NULL,
		applied {{time}} NOT NULL
	)`)); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var one int
	err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM schema_migrations WHERE version = ?`), m.version).Scan(&one)
	if err == nil {
		return nil // already applied
	}
	if err != sql.ErrNoRows {
		return fmt.Errorf("check applied: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.d.types.Replace(m.sql)); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if seed := seeds[m.version]; seed != nil {
		if err := seed(ctx, s, tx); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)`),
		m.version, m.name, s.tv(nowUTC())); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	return nil
}

// syncBuiltinRoles gives the built-in roles the permissions this version
// defines (perm.DefaultRoles): a store made by an older version gets the
// new ones (users.read for the notification roles, say). Nobody may edit
// a built-in role, so nothing of an administrator's is overwritten.
func (s *Store) syncBuiltinRoles(ctx context.Context) error {
	for _, r := range perm.DefaultRoles() {
		ps := make([]string, len(r.Permissions))
		for i, p := range r.Permissions {
			ps[i] = string(p)
		}
		have, err := s.Role(ctx, r.Name)
		if err == nil && slices.Equal(have.Permissions, ps) {
			continue
		}
		if err := s.UpsertRole(ctx, store.Role{Name: r.Name, Permissions: ps}); err != nil {
			return fmt.Errorf("built-in role %q: %w", r.Name, err)
		}
	}
	return nil
}

// seedDefaults creates what every new store has: the Default group (its id
// is its name, so both GroupByID and GroupByName find it by
// store.DefaultGroup), the default roles, and global policy version 1.
func seedDefaults(ctx context.Context, s *Store, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO computer_groups (id, name) VALUES (?, ?)`),
		store.DefaultGroup, store.DefaultGroup); err != nil {
		return fmt.Errorf("default group: %w", err)
	}
	for _, r := range perm.DefaultRoles() {
		ps := make([]string, len(r.Permissions))
		for i, p := range r.Permissions {
			ps[i] = string(p)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO roles (name, permissions) VALUES (?, ?)`),
			r.Name, strList(ps)); err != nil {
			return fmt.Errorf("role %q: %w", r.Name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO policies (group_id, version, doc, updated) VALUES ('', 1, '{}', ?)`),
		s.tv(nowUTC())); err != nil {
		return fmt.Errorf("global policy: %w", err)
	}
	return nil
}
