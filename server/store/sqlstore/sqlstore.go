// Package sqlstore implements store.Store over database/sql for SQLite
// (modernc.org/sqlite, pure Go) and PostgreSQL (pgx). Queries are written once
// with ? placeholders and rebound to $n for PostgreSQL; only the schema types
// and a few locking clauses differ per dialect.
package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers driver "pgx"
	"modernc.org/sqlite"               // registers driver "sqlite"

	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/server/store/auditchain"
)

// Drivers accepted in Config.Driver.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Config selects and tunes the database.
type Config struct {
	// Driver is DriverSQLite or DriverPostgres ("pgx" is accepted too).
	Driver string
	// DSN is the database file path for SQLite (the directory must exist;
	// the file is created) or a pgx connection string for PostgreSQL.
	DSN string
	// MaxOpenConns bounds the PostgreSQL pool, or the SQLite reader pool
	// (SQLite always has exactly one writer connection). 0 picks a default.
	MaxOpenConns int
	// AuditKey keys the audit chain (HMAC-SHA256); keep it outside the
	// database. Empty means store.TestAuditKey, a public key for tests: a
	// chain under it proves nothing, and a legacy (unkeyed) chain is not
	// re-keyed with it. Every node sharing a database needs the same key.
	AuditKey []byte
	// ReadOnly opens an existing store for reading, for tools such as
	// "audit verify": no migrations (the schema must be current), no
	// re-key, and on SQLite a file that must exist, opened read-only.
	ReadOnly bool
}

// Option adjusts the Config built by OpenSQLite and OpenPostgres.
type Option func(*Config)

// WithAuditKey sets Config.AuditKey.
func WithAuditKey(key []byte) Option {
	return func(c *Config) { c.AuditKey = key }
}

// ReadOnly sets Config.ReadOnly.
func ReadOnly() Option {
	return func(c *Config) { c.ReadOnly = true }
}

// CheckAndSetDefaults validates c and fills defaults.
func (c *Config) CheckAndSetDefaults() error {
	switch strings.ToLower(c.Driver) {
	case DriverSQLite, "sqlite3":
		c.Driver = DriverSQLite
	case DriverPostgres, "postgresql", "pgx":
		c.Driver = DriverPostgres
	default:
		return fmt.Errorf("sqlstore: unknown driver %q (want %q or %q)", c.Driver, DriverSQLite, DriverPostgres)
	}
	if c.DSN == "" {
		return errors.New("sqlstore: empty DSN")
	}
	if c.MaxOpenConns <= 0 {
		if c.Driver == DriverSQLite {
			c.MaxOpenConns = max(4, runtime.NumCPU())
		} else {
			c.MaxOpenConns = 20
		}
	}
	return nil
}

// Store is a store.Store backed by SQLite or PostgreSQL.
type Store struct {
	w *sql.DB // writes and transactions; one connection on SQLite
	r *sql.DB // plain reads; a separate query-only pool on SQLite, w on PostgreSQL
	d *dialect
	// audit holds the audit chain's keys.
	audit auditchain.Keys
	// stmts are the prepared reads every agent poll runs (readStmt).
	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt
}

// readStmt is query prepared once on the reader pool. Every agent poll
// runs a few reads; parsing them each time was a fifth of an idle fleet's
// cost on SQLite. database/sql prepares it again on each new connection.
func (s *Store) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if st := s.stmts[query]; st != nil {
		return st, nil
	}
	st, err := s.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[query] = st
	return st, nil
}

var _ store.Store = (*Store)(nil)

// Open opens (creating and migrating as needed) the store described by cfg.
// With an AuditKey, an audit chain written before the chain was keyed is
// re-keyed once (see rekeyLegacyAudit).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	var (
		s   *Store
		err error
	)
	if cfg.Driver == DriverSQLite {
		s, err = openSQLite(ctx, cfg)
	} else {
		s, err = openPostgres(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	s.audit = auditchain.NewKeys(cfg.AuditKey)
	if !cfg.ReadOnly {
		if err := s.syncBuiltinRoles(ctx); err != nil {
			s.Close()
			return nil, fmt.Errorf("open %s store: %w", cfg.Driver, err)
		}
	}
	if len(cfg.AuditKey) > 0 && !cfg.ReadOnly {
		if err := s.rekeyLegacyAudit(ctx); err != nil {
			s.Close()
			return nil, fmt.Errorf("open %s store: %w", cfg.Driver, err)
		}
	}
	return s, nil
}

// OpenSQLite opens or creates the SQLite database file at path (typically
// DATADIR/tether.db) and migrates it. Without WithAuditKey the audit chain
// uses store.TestAuditKey, which is for tests only.
func OpenSQLite(ctx context.Context, path string, opts ...Option) (*Store, error) {
	cfg := Config{Driver: DriverSQLite, DSN: path}
	for _, o := range opts {
		o(&cfg)
	}
	return Open(ctx, cfg)
}

// OpenPostgres connects to PostgreSQL at dsn and migrates the database.
// Without WithAuditKey the audit chain uses store.TestAuditKey, which is
// for tests only.
func OpenPostgres(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg := Config{Driver: DriverPostgres, DSN: dsn}
	for _, o := range opts {
		o(&cfg)
	}
	return Open(ctx, cfg)
}

func openSQLite(ctx context.Context, cfg Config) (*Store, error) {
	path, err := filepath.Abs(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", cfg.DSN, err)
	}
	// SQLite's own message for a missing directory is "unable to open
	// database file"; say which directory instead.
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("open sqlite %q: data directory: %w", path, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("open sqlite %q: data directory %q is not a directory", path, dir)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("open sqlite %q: is a directory, want a database file path", path)
	}
	base := sqliteURI(path)
	if cfg.ReadOnly {
		return openSQLiteReadOnly(ctx, cfg, path, base)
	}

	// One writer connection: writes queue in Go instead of racing for the
	// SQLite write lock, so SQLITE_BUSY cannot happen inside this process;
	// BEGIN IMMEDIATE and busy_timeout cover other processes on the same
	// file (a CLI run next to the server). WAL lets readers run alongside.
	w, err := sql.Open("sqlite", base+"?_busy_timeout=10000&_journal_mode=WAL&_foreign_keys=1&_synchronous=NORMAL&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	// Connect first so an unusable file fails with SQLite's own reason
	// rather than as a migration error.
	if err := pingSQLite(ctx, w); err != nil {
		w.Close()
		if _, statErr := os.Stat(path); errors.Is(statErr, os.ErrNotExist) {
			return nil, fmt.Errorf("open sqlite %q: cannot create the database file (is %s writable?): %w", path, dir, err)
		}
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	s := &Store{w: w, r: w, d: sqliteDialect}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}

	// Readers are opened after migration so the file is already in WAL mode
	// and has its schema; query_only makes an accidental write fail loudly.
	r, err := sql.Open("sqlite", base+"?_busy_timeout=10000&_foreign_keys=1&_query_only=1")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %q readers: %w", path, err)
	}
	r.SetMaxOpenConns(cfg.MaxOpenConns)
	r.SetMaxIdleConns(cfg.MaxOpenConns)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open sqlite %q readers: %w", path, err)
	}
	s.r = r
	return s, nil
}

// pingSQLite connects. Switching a new file to WAL needs a lock that
// SQLite refuses at once, busy handler or not, while another process
// opening the same file holds its own (its deadlock rule): the connection
// is tried again for as long as busy_timeout would have waited.
func pingSQLite(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	wait := 5 * time.Millisecond
	for {
		err := db.PingContext(ctx)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// isBusy reports SQLITE_BUSY (any extended code).
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == 5
}

// openSQLiteReadOnly opens one query-only pool on an existing file.
func openSQLiteReadOnly(ctx context.Context, cfg Config, path, base string) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	db, err := sql.Open("sqlite", base+"?mode=ro&_busy_timeout=10000&_foreign_keys=1&_query_only=1")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	db.SetMaxOpenConns(cfg.MaxOpenConns)
	s := &Store{w: db, r: db, d: sqliteDialect}
	if err := s.checkSchema(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	return s, nil
}

// sqliteURI turns an absolute path into a file: URI, which keeps odd
// characters in the path ('?', '#', '%') intact: file:///srv/tether.db, or
// file:///C:/ProgramData/tether.db on Windows.
func sqliteURI(path string) string {
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return (&url.URL{Scheme: "file", Path: p}).String()
}

// pgConnectTimeout bounds one connection attempt when the DSN does not:
// with the database host gone, requests answer 503 in seconds instead of
// waiting for the operating system to give up on the connection.
const pgConnectTimeout = "5"

// withConnectTimeout adds connect_timeout to a URL or keyword/value DSN
// that has none.
func withConnectTimeout(dsn string) string {
	if strings.Contains(dsn, "connect_timeout") {
		return dsn
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return dsn // pgx reports it
		}
		q := u.Query()
		q.Set("connect_timeout", pgConnectTimeout)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return strings.TrimSpace(dsn) + " connect_timeout=" + pgConnectTimeout
}

func openPostgres(ctx context.Context, cfg Config) (*Store, error) {
	db, err := sql.Open("pgx", withConnectTimeout(cfg.DSN))
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(cfg.MaxOpenConns)
	db.SetMaxIdleConns(cfg.MaxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	s := &Store{w: db, r: db, d: postgresDialect}
	prepare := s.migrate
	if cfg.ReadOnly {
		prepare = s.checkSchema
	}
	if err := prepare(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return s, nil
}

// DB returns the underlying write pool, for tests that need raw SQL (for
// example to tamper with the audit log). Queries must use the dialect's
// placeholders.
func (s *Store) DB() *sql.DB { return s.w }

// Dialect reports DriverSQLite or DriverPostgres.
func (s *Store) Dialect() string { return s.d.name }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// Close closes all connections.
func (s *Store) Close() error {
	s.stmtMu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = nil
	s.stmtMu.Unlock()
	var errR error
	if s.r != s.w {
		errR = s.r.Close()
	}
	return errors.Join(s.w.Close(), errR)
}

// dialect holds what differs between SQLite and PostgreSQL.
type dialect struct {
	name string
	// dollar rebinds ? placeholders to $1, $2, ...
	dollar bool
	// types replaces {{tokens}} in migration files.
	types *strings.Replacer
	// forUpdate is appended to SELECTs that lock rows they will update.
	forUpdate string
	// lockAudit serializes audit appends across server nodes.
	lockAudit string
	// lockMigrations serializes migrations across server nodes.
	lockMigrations string
	// lockKey locks one rate-limit key (its one argument) until the
	// transaction ends, across server nodes.
	lockKey string
}

var sqliteDialect = &dialect{
	name: DriverSQLite,
	types: strings.NewReplacer(
		"{{text}}", "TEXT",
		"{{time}}", "TEXT", // fixed-width RFC 3339 UTC, sorts as text
		"{{bool}}", "INTEGER",
		"{{false}}", "0",
		"{{bigint}}", "INTEGER",
		"{{serial_pk}}", "INTEGER PRIMARY KEY AUTOINCREMENT",
		"{{agents_storage}}", "",
	),
	// One writer connection and BEGIN IMMEDIATE already serialize these.
}

var postgresDialect = &dialect{
	name:   DriverPostgres,
	dollar: true,
	types: strings.NewReplacer(
		// Byte-order collation so ordering and LIKE prefix scans agree with
		// SQLite whatever the database's default locale is.
		"{{text}}", `TEXT COLLATE "C"`,
		"{{time}}", "TIMESTAMPTZ",
		"{{bool}}", "BOOLEAN",
		"{{false}}", "FALSE",
		"{{bigint}}", "BIGINT",
		"{{serial_pk}}", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
		"{{agents_storage}}", " WITH (fillfactor = 70)",
	),
	forUpdate: " FOR UPDATE",
	// SHARE ROW EXCLUSIVE conflicts with itself but not with plain SELECTs,
	// so appends queue while readers proceed.
	lockAudit:      "LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE",
	lockMigrations: "SELECT pg_advisory_xact_lock(7465746865720001)", // "tether" + 1
	lockKey:        "SELECT pg_advisory_xact_lock(hashtextextended($1, 7465746865720002))",
}

// q rebinds a query written with ? placeholders for the dialect. Queries
// here never contain a literal '?', so no quote tracking is needed.
func (s *Store) q(query string) string {
	if !s.d.dollar || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// placeholders returns "?, ?, ?" with n marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// inTx runs fn in a write transaction, retrying PostgreSQL serialization
// failures and deadlocks (several nodes may touch the same rows).
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	const attempts = 5
	for i := 1; ; i++ {
		err := s.txOnce(ctx, fn)
		if err == nil || i == attempts || !retryable(err) {
			return err
		}
		// Jittered backoff so the contenders do not collide again.
		d := time.Duration(i*i)*5*time.Millisecond + mrand.N(5*time.Millisecond)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(d):
		}
	}
}

func (s *Store) txOnce(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the original error matters more
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", mapErr(err))
	}
	return nil
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01" // serialization_failure, deadlock_detected
	}
	return false
}

// mapErr turns driver errors into the store's sentinels, keeping the driver
// error in the chain for the message.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case 2067, 1555: // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		case 787: // SQLITE_CONSTRAINT_FOREIGNKEY
			return fmt.Errorf("%w: referenced row missing: %w", store.ErrNotFound, err)
		}
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%w: referenced row missing: %w", store.ErrNotFound, err)
		}
	}
	return err
}

// notFoundIfNone returns ErrNotFound when an UPDATE or DELETE matched nothing.
func notFoundIfNone(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

var idEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// newID returns 16 random bytes as 26 lower-case base32hex characters:
// URL-safe and, being fixed width, sortable.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// Times are stored in UTC with microsecond precision, PostgreSQL's
// resolution, so both backends return exactly what was stored.
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func nowUTC() time.Time { return normTime(time.Now()) }

// sqliteTime is fixed width so text comparison orders chronologically.
const sqliteTime = "2006-01-02T15:04:05.000000Z07:00"

// tv converts a time to the dialect's column value.
func (s *Store) tv(t time.Time) any {
	t = normTime(t)
	if s.d.dollar {
		return t
	}
	return t.Format(sqliteTime)
}

// ntv converts an optional time.
func (s *Store) ntv(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.tv(*t)
}

func normTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	n := normTime(*t)
	return &n
}

// timeCol scans a time column of either dialect.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	t, err := parseTime(src)
	if err != nil {
		return err
	}
	if t == nil {
		return errors.New("unexpected NULL time")
	}
	*c.t = *t
	return nil
}

// nullTimeCol scans a nullable time column into a *time.Time.
type nullTimeCol struct{ t **time.Time }

func (c nullTimeCol) Scan(src any) error {
	t, err := parseTime(src)
	if err != nil {
		return err
	}
	*c.t = t
	return nil
}

func parseTime(src any) (*time.Time, error) {
	var t time.Time
	switch v := src.(type) {
	case nil:
		return nil, nil
	case time.Time:
		t = v
	case string:
		p, err := time.Parse(sqliteTime, v)
		if err != nil {
			return nil, fmt.Errorf("parse time %q: %w", v, err)
		}
		t = p
	case []byte:
		p, err := time.Parse(sqliteTime, string(v))
		if err != nil {
			return nil, fmt.Errorf("parse time %q: %w", v, err)
		}
		t = p
	default:
		return nil, fmt.Errorf("unsupported time column type %T", src)
	}
	t = normTime(t)
	return &t, nil
}

// rawJSON returns a JSON value as a nullable text column.
func rawJSON(m json.RawMessage) any {
	if m == nil {
		return nil
	}
	return string(m)
}

// jsonCol scans a nullable text column into a json.RawMessage (nil for NULL).
type jsonCol struct{ m *json.RawMessage }

func (c jsonCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.m = nil
	case string:
		*c.m = json.RawMessage(v)
	case []byte:
		*c.m = append(json.RawMessage(nil), v...)
	default:
		return fmt.Errorf("unsupported JSON column type %T", src)
	}
	return nil
}

// strList encodes a string slice as a JSON array ("[]" for nil).
func strList(v []string) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v) // []string always marshals
	return string(b)
}

// listCol scans a JSON array column; an empty array becomes nil so a value
// round-trips the same whether the caller passed nil or an empty slice.
type listCol struct{ v *[]string }

func (c listCol) Scan(src any) error {
	var b json.RawMessage
	if err := (jsonCol{&b}).Scan(src); err != nil {
		return err
	}
	if b == nil {
		*c.v = nil
		return nil
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("decode list: %w", err)
	}
	if len(out) == 0 {
		out = nil
	}
	*c.v = out
	return nil
}

// likeEscape escapes LIKE wildcards so user input matches literally; the
// queries say ESCAPE '\'.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// chunks splits ids so IN lists stay well under parameter limits.
func chunks(ids []string, n int) [][]string {
	var out [][]string
	for len(ids) > n {
		out = append(out, ids[:n])
		ids = ids[n:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}

func anySlice(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
