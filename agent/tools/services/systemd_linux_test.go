package services

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/protocol"
)

// TestSystemd lists, stops, starts and restarts a unit through systemd's
// D-Bus interface, answered by a fake manager on a private bus (systemd
// itself does not run here).
func TestSystemd(t *testing.T) {
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		t.Fatalf("dbus-daemon is not installed (scripts/deps.sh test installs it): %v", err)
	}
	bus, addr, err := testenv.StartSessionBus(t.TempDir(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Stop(time.Second) })
	fake, err := testenv.ServeFakeSystemd(addr, map[string]testenv.FakeUnit{
		"cups.service":   {Description: "CUPS Scheduler", Active: "active", Sub: "running", FileState: "enabled"},
		"backup.service": {Description: "Nightly backup", Active: "inactive", Sub: "dead", FileState: "static"},
		"tmp.mount":      {Description: "Temporary Directory", Active: "active", Sub: "mounted"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	t.Setenv(BusEnv, addr)
	// The manager outlives the context it was opened in.
	openCtx, cancel := context.WithCancel(context.Background())
	m, err := Open(openCtx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()

	list, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []protocol.ServiceInfo{
		{Name: "backup.service", Description: "Nightly backup", State: "inactive", Sub: "dead", Startup: "static"},
		{Name: "cups.service", Description: "CUPS Scheduler", State: "active", Sub: "running", Startup: "enabled"},
	}
	if len(list) != len(want) || list[0] != want[0] || list[1] != want[1] {
		t.Fatalf("List = %+v, want the two services (no mount), by name", list)
	}
	if err := m.Stop(ctx, "cups"); err != nil { // the .service suffix is added
		t.Fatal(err)
	}
	if u, _ := fake.Unit("cups.service"); u.Active != "inactive" {
		t.Fatalf("after Stop: %+v", u)
	}
	if err := m.Start(ctx, "cups.service"); err != nil {
		t.Fatal(err)
	}
	if err := m.Restart(ctx, "backup.service"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(fake.Calls(), ", "); got != "StopUnit cups.service, StartUnit cups.service, RestartUnit backup.service" {
		t.Fatalf("calls: %s", got)
	}
	for _, bad := range []string{"tmp.mount", "-x", "../evil.service", ""} {
		if err := m.Stop(ctx, bad); err == nil {
			t.Errorf("Stop(%q) was not refused", bad)
		}
	}
	if err := m.Start(ctx, "nope.service"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("an unknown unit: %v", err)
	}
}
