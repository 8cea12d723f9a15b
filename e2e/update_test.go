//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/protocol"
)

// TestAgentUpdate is the self-update end to end. An agent at version A
// runs; the server gets release B; the global policy targets B at 100 %:
// the agent downloads it, checks the release key's signature, runs it on
// trial, and the same process (exec) reports B. Then release C, a binary
// that exits at once, is rolled back to B by itself; then a release
// signed with another key is refused. Every step is in the audit log, and
// the agent keeps working throughout (an echo action after each).
func TestAgentUpdate(t *testing.T) {
	s := startServer(t)
	keys, otherKeys := t.TempDir(), t.TempDir()
	runServerCmd(t, "release", "keygen", "--out", keys)
	runServerCmd(t, "release", "keygen", "--out", otherKeys)
	pub, err := os.ReadFile(filepath.Join(keys, "release.pub"))
	if err != nil {
		t.Fatal(err)
	}
	const vA, vB, vC, vD = "v9.0.0-a", "v9.0.0-b", "v9.0.0-c", "v9.0.0-d"
	dir := t.TempDir()
	buildAgent(t, filepath.Join(dir, "a"), vA, strings.TrimSpace(string(pub)))
	buildAgent(t, filepath.Join(dir, "b"), vB, strings.TrimSpace(string(pub)))
	addRelease := func(version, keyDir, bin string) {
		runServerCmd(t, "release", "add", "--data", s.data, "--version", version, "--key", filepath.Join(keyDir, "release.key"),
			"--file", "linux/amd64="+bin)
	}
	addRelease(vB, keys, filepath.Join(dir, "b"))
	addRelease(vC, keys, "/bin/false") // starts and exits at once
	addRelease(vD, otherKeys, filepath.Join(dir, "b"))

	// The agent runs from a folder of its own, as from /usr/bin: the update
	// replaces that file.
	home := t.TempDir()
	exe := filepath.Join(home, "tether-agent")
	if out, err := exec.Command("cp", filepath.Join(dir, "a"), exe).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	conf := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(conf, nil, 0o600)
	cmd := exec.Command(exe, "run", "--config", conf, "--server", s.url, "--token", s.enrollmentToken(),
		"--state", t.TempDir(), "--log-format", "json", "--log-level", "debug")
	a := startCmd(t, "tether-agent (self-updating)", cmd)
	ep := waitEndpoint(t, s.api, hostname(t))
	waitVersion(t, s, ep.ID, vA)

	target := func(version string) {
		t.Helper()
		doc := json.RawMessage(fmt.Sprintf(`{"agent_update":{"version":%q,"percent":100}}`, version))
		if err := s.api.do(http.MethodPut, "/api/v1/policies/global", "", doc, nil); err != nil {
			t.Fatal(err)
		}
	}
	works := func(what string) {
		t.Helper()
		st := s.api.queueEcho(t, ep.ID, what, 0)
		if got := s.api.waitActionFinished(t, st.ID); got.State != protocol.ActionDone {
			t.Errorf("echo %s: %+v", what, got)
		}
	}

	target(vB)
	waitVersion(t, s, ep.ID, vB)
	waitUpdateAudit(t, s, protocol.UpdateConfirmed, vB, "")
	if a.Exited() {
		t.Fatal("the agent process is gone after the update: the new binary should run in its place")
	}
	works("after B")

	// The console shows the rollout's progress where the target is set.
	tb := startBrowser(t).firstTab()
	tb.signIn(s.url, "admin", adminPassword(t, s))
	tb.goTo(s.url, "settings/policy", "settings")
	tb.waitJS(startTimeout, "the rollout", `(document.getElementById("rollouts") || {}).textContent === "Rollout: `+vB+`: 1 of 1 endpoints updated (1 targeted)"`)
	if v, err := evalJS[string](tb, `document.getElementById("policy-update-version").value`); err != nil || v != vB {
		t.Errorf("the policy form shows target %q (%v), want %s", v, err, vB)
	}
	if _, err := evalJS[bool](tb, `document.getElementById("policy-update").scrollIntoView(), true`); err != nil {
		t.Fatal(err)
	}
	tb.screenshot("console-agent-updates.png")

	target(vC)
	waitUpdateAudit(t, s, protocol.UpdateRolledBack, vC, "exited")
	works("after C was rolled back")
	waitVersion(t, s, ep.ID, vB)
	inPlace, _ := os.ReadFile(exe)
	wantB, _ := os.ReadFile(filepath.Join(dir, "b"))
	if !bytes.Equal(inPlace, wantB) {
		t.Errorf("the binary in place (%d bytes) is not B (%d bytes) after the rollback", len(inPlace), len(wantB))
	}

	target(vD)
	waitUpdateAudit(t, s, protocol.UpdateFailed, vD, "does not verify with the release key")
	works("after D was refused")
	waitVersion(t, s, ep.ID, vB)
}

// buildAgent builds the agent with a version and the release key.
func buildAgent(t *testing.T, out, version, pub string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ld := "-X github.com/tetherdesk/tether/shared/version.Version=" + version +
		" -X github.com/tetherdesk/tether/shared/release.PublicKey=" + pub
	cmd := exec.CommandContext(ctx, testenv.GoTool(), "build", "-ldflags", ld, "-o", out, "github.com/tetherdesk/tether/agent/cmd/tether-agent")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building agent %s: %v\n%s", version, err, b)
	}
}

func waitVersion(t *testing.T, s *server, id, version string) {
	t.Helper()
	testenv.Eventually(t, 2*time.Minute, "the endpoint to report "+version, func() (bool, error) {
		ep, err := s.api.endpoint(id)
		return err == nil && ep.AgentVersion == version && ep.Online, fmt.Errorf("version %q online %v (%v)", ep.AgentVersion, ep.Online, err)
	})
}

// waitUpdateAudit waits for an agent.update record of phase for version
// whose error says want.
func waitUpdateAudit(t *testing.T, s *server, phase protocol.UpdatePhase, version, want string) {
	t.Helper()
	testenv.Eventually(t, 2*time.Minute, fmt.Sprintf("an agent.update %s record for %s", phase, version), func() (bool, error) {
		var list struct{ Records []protocol.AuditRecord }
		if err := s.api.do(http.MethodGet, "/api/v1/audit?type=agent.update", "", nil, &list); err != nil {
			return false, err
		}
		var seen []string
		for _, r := range list.Records {
			var d map[string]string
			_ = json.Unmarshal(r.Details, &d)
			if d["phase"] == string(phase) && d["to"] == version && strings.Contains(d["error"], want) {
				return true, nil
			}
			seen = append(seen, string(r.Details))
		}
		return false, fmt.Errorf("records: %s", strings.Join(seen, "; "))
	})
}
