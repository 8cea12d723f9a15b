// Package storetest is the one behaviour suite every store.Store
// implementation must pass. Backends call Run from their own tests.
package storetest

import (
	"crypto/rand"
	"database/sql"
	"errors"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/tetherdesk/tether/server/store"
)

// Run runs the suite. open must return a fresh, empty, migrated store on
// every call and arrange (with t.Cleanup) for it to be closed; its audit
// chain must be keyed with store.TestAuditKey (what a store opened without
// a key uses). Subtests run in parallel, each on its own store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Seed", testSeed},
		{"Times", testTimes},
		{"Users", testUsers},
		{"Roles", testRoles},
		{"Groups", testGroups},
		{"WebSessions", testWebSessions},
		{"APITokens", testAPITokens},
		{"EnrollmentTokens", testEnrollmentTokens},
		{"Agents", testAgents},
		{"ReEnrollAgent", testReEnrollAgent},
		{"SearchAgents", testSearchAgents},
		{"TouchAgents", testTouchAgents},
		{"ActionLifecycle", testActionLifecycle},
		{"ActionsConcurrent", testActionsConcurrent},
		{"Policies", testPolicies},
		{"PoliciesConcurrent", testPoliciesConcurrent},
		{"Audit", testAudit},
		{"AuditConcurrent", testAuditConcurrent},
		{"AuditEmpty", testAuditEmpty},
		{"AuditTamper", testAuditTamper},
		{"AuditScope", testAuditScope},
		{"Sessions", testSessions},
		{"SessionsConcurrent", testSessionsConcurrent},
		{"UserAdmin", testUserAdmin},
		{"RoleDelete", testRoleDelete},
		{"GroupAdmin", testGroupAdmin},
		{"ConnectionCodes", testConnectionCodes},
		{"Notifications", testNotifications},
		{"NotificationDeliveries", testNotificationDeliveries},
		{"NotificationsActive", testNotificationsActive},
		{"Settings", testSettings},
		{"Limits", testLimits},
		{"LimitsConcurrent", testLimitsConcurrent},
		{"Exclusive", testExclusive},
		{"Recordings", testRecordings},
		{"Transcripts", testTranscripts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// t0 has whole microseconds, the precision every backend keeps.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)

// rawDB is implemented by SQL stores that expose their handle for tests.
type rawDB interface{ DB() *sql.DB }

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// sameTime checks value and that the store hands back UTC.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Fatalf("%s: got %s (%s), want %s UTC", what, got.Format(time.RFC3339Nano), got.Location(), want.Format(time.RFC3339Nano))
	}
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9_-]{16,}$`)

func checkID(t *testing.T, what, id string) {
	t.Helper()
	if !idRE.MatchString(id) {
		t.Fatalf("%s: generated id %q is not a URL-safe random id", what, id)
	}
}

func mustUser(t *testing.T, s store.Store, name string) store.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), store.User{Name: name, PasswordHash: "$argon2id$" + name, Created: t0})
	noErr(t, "create user "+name, err)
	return u
}

func mustGroup(t *testing.T, s store.Store, name string) store.Group {
	t.Helper()
	g, err := s.CreateGroup(t.Context(), name)
	noErr(t, "create group "+name, err)
	return g
}

func mustAgent(t *testing.T, s store.Store, group, hostname string, ips ...string) store.Agent {
	t.Helper()
	a, err := s.CreateAgent(t.Context(), store.Agent{
		GroupID:    group,
		SecretHash: "secret-" + rand.Text(),
		Hostname:   hostname,
		IPs:        ips,
		OS:         "linux",
		Enrolled:   t0,
	})
	noErr(t, "create agent "+hostname, err)
	return a
}
