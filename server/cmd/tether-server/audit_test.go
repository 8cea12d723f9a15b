package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// TestAuditVerify runs a real server so that the audit log holds real
// records, stops it, and checks "audit verify" on copies of its data
// directory: untouched, one byte of a record's details flipped, a record
// deleted from the middle, and the newest two records deleted.
func TestAuditVerify(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	srv := startServe(t, data)
	srv.drive()
	srv.stop()

	verify := func(dir string) (string, error) {
		t.Helper()
		var out, errs bytes.Buffer
		err := run(t.Context(), []string{"audit", "verify", "--data", dir}, strings.NewReader(""), &out, &errs)
		if errs.Len() > 0 {
			t.Errorf("audit verify wrote to stderr: %s", errs.String())
		}
		return out.String(), err
	}

	out, err := verify(copyDir(t, data))
	if err != nil {
		t.Fatalf("audit verify on an untouched copy: %v (%s)", err, out)
	}
	m := regexp.MustCompile(`^audit chain intact: (\d+) records\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("audit verify on an untouched copy said %q", out)
	}
	var n int64
	fmt.Sscan(m[1], &n)
	if n < 6 {
		t.Fatalf("only %d audit records; the server was driven for more", n)
	}
	t.Logf("untouched: %s", strings.TrimSpace(out))

	// The record to flip: the one nearest the middle whose details end in
	// a string value ("...x"}), whose last character gets one bit flipped.
	mid := n / 2
	flipSeq := int64(0)
	func() {
		db := openDB(t, data)
		defer db.Close()
		rows, err := db.Query(`SELECT seq, details FROM audit_log WHERE seq > 1 AND seq < ? ORDER BY seq`, n)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var seq int64
			var d string
			if err := rows.Scan(&seq, &d); err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(d, `"}`) && len(d) > 3 && (flipSeq == 0 || abs(seq-mid) < abs(flipSeq-mid)) {
				flipSeq = seq
			}
		}
		if flipSeq == 0 {
			t.Fatal("no record in the middle with a string in its details")
		}
	}()

	tests := []struct {
		name   string
		tamper func(db *sql.DB) error
		want   string
	}{
		{"flipped byte in details", func(db *sql.DB) error {
			var d []byte
			if err := db.QueryRow(`SELECT details FROM audit_log WHERE seq = ?`, flipSeq).Scan(&d); err != nil {
				return err
			}
			d[len(d)-3] ^= 0x01
			_, err := db.Exec(`UPDATE audit_log SET details = ? WHERE seq = ?`, string(d), flipSeq)
			return err
		}, fmt.Sprintf("audit chain broken at seq %d: hash mismatch\n", flipSeq)},
		{"deleted middle record", func(db *sql.DB) error {
			_, err := db.Exec(`DELETE FROM audit_log WHERE seq = ?`, mid)
			return err
		}, fmt.Sprintf("audit chain broken at seq %d: missing record %d\n", mid, mid)},
		{"deleted last two records", func(db *sql.DB) error {
			_, err := db.Exec(`DELETE FROM audit_log WHERE seq > ?`, n-2)
			return err
		}, fmt.Sprintf("audit chain broken at seq %d: tail truncated: anchor says %d, last record is %d\n", n-1, n, n-2)},
	}
	copies := map[string]string{}
	for _, tc := range tests {
		dir := copyDir(t, data) // the parent's: a subtest's TempDir goes with it
		copies[tc.name] = dir
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, dir)
			if err := tc.tamper(db); err != nil {
				t.Fatal(err)
			}
			db.Close()
			out, err := verify(dir)
			if !errors.Is(err, errReported) || exitCode(err) != 1 {
				t.Fatalf("audit verify: err %v, exit %d; want exit 1", err, exitCode(err))
			}
			if out != tc.want {
				t.Fatalf("audit verify said %q, want %q", out, tc.want)
			}
			t.Logf("%s: %s", tc.name, strings.TrimSpace(out))
		})
	}

	// A server started on a broken copy says so on /readyz, and serves.
	dir := copies["deleted last two records"]
	if dir == "" {
		t.FailNow()
	}
	srv = startServe(t, dir)
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if st := srv.do("GET", "/readyz", nil, &ready); st != http.StatusOK {
		t.Fatalf("readyz: %d", st)
	}
	want := fmt.Sprintf("broken at seq %d: tail truncated: anchor says %d, last record is %d", n-1, n, n-2)
	if ready.Status != "ready" || ready.Checks["store"] != "ok" || ready.Checks["audit_chain"] != want {
		t.Fatalf("readyz = %+v, want ready with audit_chain %q\n%s", ready, want, srv.stderr)
	}
	srv.stop()
	if !strings.Contains(srv.stderr.String(), "audit chain broken") {
		t.Errorf("the server's log does not report the broken chain:\n%s", srv.stderr.String())
	}

	// Without the server secret there is no key, and nothing to say.
	dir = copyDir(t, data)
	if err := os.Remove(filepath.Join(dir, SecretFile)); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(dir); err == nil || errors.Is(err, errReported) || !strings.Contains(err.Error(), SecretFile) {
		t.Fatalf("audit verify without the secret: %q, %v", out, err)
	}
	// Nor without a store: verify must not create an empty, intact one.
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, SecretFile), []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(empty); err == nil || errors.Is(err, errReported) {
		t.Fatalf("audit verify without a store: %q, %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(empty, DBFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("audit verify created a store: %v", err)
	}
}

// TestAuditVerifyPostgres is the --db path: a server on PostgreSQL, then
// audit verify with the secret from --data and the store from --db.
func TestAuditVerifyPostgres(t *testing.T) {
	dsn := os.Getenv("TETHER_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("TETHER_TEST_POSTGRES is not set; run with TETHER_TEST_POSTGRES=$(scripts/pg-test.sh start)")
	}
	db := testenv.FreshPostgres(t, dsn)
	data := filepath.Join(t.TempDir(), "data")
	srv := startServe(t, data, "--db", db)
	srv.drive()
	srv.stop()

	verify := func() (string, error) {
		var out bytes.Buffer
		err := run(t.Context(), []string{"audit", "verify", "--data", data, "--db", db}, strings.NewReader(""), &out, io.Discard)
		return out.String(), err
	}
	out, err := verify()
	if err != nil || out != "audit chain intact: 7 records\n" {
		t.Fatalf("audit verify: %q, %v", out, err)
	}
	pg, err := sql.Open("pgx", db)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if _, err := pg.Exec(`DELETE FROM audit_log WHERE seq > 5`); err != nil {
		t.Fatal(err)
	}
	out, err = verify()
	if exitCode(err) != 1 || out != "audit chain broken at seq 6: tail truncated: anchor says 7, last record is 5\n" {
		t.Fatalf("audit verify after truncation: %q, %v", out, err)
	}
}

// served is a tether-server serve running in this process.
type served struct {
	t        *testing.T
	url      string
	password string // the first administrator's, on a new data directory
	stdout   *testenv.Lines
	stderr   *testenv.Lines
	cancel   context.CancelFunc
	done     chan error
	hc       *http.Client
	csrf     string
}

var listeningRE = regexp.MustCompile(`listening; console: (http://\S+?)/?$`)

func startServe(t *testing.T, data string, flags ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{t: t, stdout: &testenv.Lines{}, stderr: &testenv.Lines{}, cancel: cancel, done: make(chan error, 1)}
	go func() {
		args := append([]string{"serve", "--data", data, "--insecure-http", "--listen", "127.0.0.1:0", "--turn-listen", "off"}, flags...)
		s.done <- run(ctx, args, strings.NewReader(""), s.stdout, s.stderr)
	}()
	t.Cleanup(s.stop)
	deadline := time.Now().Add(30 * time.Second)
	for s.url == "" {
		for _, l := range s.stdout.Lines() {
			if m := listeningRE.FindStringSubmatch(l); m != nil {
				s.url = m[1]
			}
			if pw, ok := strings.CutPrefix(strings.TrimSpace(l), "password:"); ok {
				s.password = strings.TrimSpace(pw)
			}
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("serve ended early: %v\n%s\n%s", err, s.stdout, s.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s\n%s", s.stdout, s.stderr)
		}
		time.Sleep(10 * time.Millisecond) // polling the output, not synchronising on time
	}
	jar, _ := cookiejar.New(nil)
	s.hc = &http.Client{Jar: jar, Timeout: 30 * time.Second}
	return s
}

// stop cancels the server and waits for it to end.
func (s *served) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		s.t.Error("serve did not stop")
	}
}

// drive makes audit records the way people do: a failed sign-in, the
// administrator's sign-in, a user created, that user's sign-in and
// sign-out.
func (s *served) drive() {
	t := s.t
	t.Helper()
	if s.password == "" {
		t.Fatalf("no first administrator password in the output:\n%s", s.stdout)
	}
	if st := s.do("POST", "/api/v1/login", protocol.LoginRequest{Name: "admin", Password: "wrong"}, nil); st != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", st)
	}
	s.login("admin", s.password)
	if st := s.do("POST", "/api/v1/users", protocol.CreateUserRequest{Name: "tech", Password: "correct horse battery", Roles: []string{perm.RoleScreenShareAgent}}, nil); st/100 != 2 {
		t.Fatalf("create user: %d", st)
	}
	s.do("POST", "/api/v1/logout", nil, nil)
	jar, _ := cookiejar.New(nil)
	s.hc.Jar, s.csrf = jar, ""
	s.login("tech", "correct horse battery")
	if st := s.do("POST", "/api/v1/logout", nil, nil); st/100 != 2 {
		t.Fatalf("logout: %d", st)
	}
}

func (s *served) login(name, password string) {
	s.t.Helper()
	var me protocol.Me
	if st := s.do("POST", "/api/v1/login", protocol.LoginRequest{Name: name, Password: password}, &me); st != http.StatusOK {
		s.t.Fatalf("login %s: %d", name, st)
	}
	s.csrf = me.CSRFToken
}

func (s *served) do(method, path string, body, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.csrf != "" {
		req.Header.Set(protocol.HeaderCSRF, s.csrf)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// copyDir copies the regular files of dir into a new directory.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// openDB opens a data directory's SQLite file directly (modernc.org/sqlite,
// registered by sqlstore), as someone editing it behind the server would.
func openDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	return db
}

func abs(x int64) int64 { return max(x, -x) }

// TestOfflineCommandsKey: offline commands key their audit records with the
// server secret. On a new data directory they create it (the server then
// uses the same); with a store but no secret they refuse, since a new
// secret would key their records differently from the server's.
func TestOfflineCommandsKey(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cmd := func(args ...string) (string, error) {
		var out, errs bytes.Buffer
		err := run(t.Context(), append(args, "--data", data), strings.NewReader(""), &out, &errs)
		return out.String() + errs.String(), err
	}
	if out, err := cmd("token", "create"); err != nil {
		t.Fatalf("token create on a new data directory: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(data, SecretFile)); err != nil {
		t.Fatalf("no server secret made: %v", err)
	}
	if out, err := cmd("token", "create"); err != nil {
		t.Fatalf("token create again: %v\n%s", err, out)
	}
	out, err := cmd("audit", "verify")
	if err != nil || !strings.HasPrefix(out, "audit chain intact: ") {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	if err := os.Remove(filepath.Join(data, SecretFile)); err != nil {
		t.Fatal(err)
	}
	if out, err := cmd("token", "create"); err == nil || !strings.Contains(err.Error(), SecretFile) {
		t.Fatalf("token create with a store but no secret: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(data, SecretFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a new secret was made for an existing store: %v", err)
	}
}
