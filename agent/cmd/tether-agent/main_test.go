package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/tetherdesk/tether/agent/agenttest"
	"github.com/tetherdesk/tether/agent/runner"
)

// TestMain lets the test binary act as tether-agent itself, so that a test
// can check a real process's exit code and stderr without `go build`.
func TestMain(m *testing.M) {
	if os.Getenv("TETHER_AGENT_TEST_MAIN") == "1" {
		os.Args = append([]string{"tether-agent"}, os.Args[1:]...)
		main()
		return
	}
	// `run` starts a session helper (this executable's `session` command)
	// when DISPLAY is set; the test binary is not that executable.
	os.Unsetenv("DISPLAY")
	os.Exit(m.Run())
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, exitOK},
		{"help", pflag.ErrHelp, exitOK},
		{"bad token", fmt.Errorf("%w: expired", runner.ErrBadToken), exitBadToken},
		{"bad token wrapped twice", fmt.Errorf("starting: %w", fmt.Errorf("%w: expired", runner.ErrBadToken)), exitBadToken},
		{"bad secret", fmt.Errorf("%w: revoked", runner.ErrBadSecret), exitBadSecret},
		{"usage", usageError{errors.New("unknown flag")}, exitUsage},
		{"no token", runner.ErrNoToken, exitUsage},
		{"other", errors.New("disk full"), exitFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

// emptyConfig returns an explicit empty config file, so that a config on
// the machine running the tests cannot interfere.
func emptyConfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCLIRejectedCredentials(t *testing.T) {
	srv := agenttest.New(t, agenttest.Options{Hold: 10 * time.Millisecond})
	tests := []struct {
		name     string
		setup    func(t *testing.T, stateDir string)
		args     []string
		wantCode int
		wantLine string
	}{
		{
			name:     "bad token",
			args:     []string{"--token", "wrong"},
			wantCode: exitBadToken,
			wantLine: "enrollment token rejected by server: enrollment token unknown or expired",
		},
		{
			name: "revoked agent",
			setup: func(t *testing.T, dir string) {
				// Enroll for real, stop as on SIGINT (exit 0), then have the
				// server forget the agent.
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				codes := make(chan int, 1)
				go func() {
					codes <- cli(ctx, []string{"run", "--server", srv.URL, "--token", "good-token", "--state", dir, "--config", emptyConfig(t)},
						io.Discard, io.Discard)
				}()
				srv.WaitFor(t, 10*time.Second, "the agent polling", func() bool {
					for _, p := range srv.Polls() {
						if p.Status == http.StatusOK {
							return true
						}
					}
					return false
				})
				cancel()
				select {
				case code := <-codes:
					if code != exitOK {
						t.Fatalf("interrupted run exited %d, want 0", code)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("run did not stop after cancel")
				}
				srv.Revoke()
			},
			wantCode: exitBadSecret,
			wantLine: "agent credentials rejected by server: agent unknown or revoked (agent revoked or unknown to the server; to re-enroll: tether-agent uninstall --purge, then install with a new token)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			args := append([]string{"run", "--server", srv.URL, "--state", dir, "--config", emptyConfig(t)}, tt.args...)
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			code := cli(ctx, args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit code = %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if last := lines[len(lines)-1]; last != tt.wantLine {
				t.Errorf("last stderr line = %q, want %q", last, tt.wantLine)
			}
		})
	}
}

func TestProcessExitsWithCode3OnBadToken(t *testing.T) {
	srv := agenttest.New(t, agenttest.Options{})
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "run", "--server", srv.URL, "--token", "wrong",
		"--state", t.TempDir(), "--config", emptyConfig(t))
	cmd.Env = append(os.Environ(), "TETHER_AGENT_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitBadToken {
		t.Fatalf("exit = %v, want code %d; stderr:\n%s", err, exitBadToken, stderr.String())
	}
	want := "enrollment token rejected by server: enrollment token unknown or expired\n"
	if !strings.HasSuffix(stderr.String(), want) {
		t.Errorf("stderr = %q, want it to end with %q", stderr.String(), want)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "no command given"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown flag", []string{"run", "--bogus"}, "unknown flag: --bogus"},
		{"no server", []string{"run", "--state", "x"}, "server not set"},
		{"bad level", []string{"run", "--server", "http://127.0.0.1:1", "--log-level", "loud"}, `log_level "loud"`},
		{"bad url", []string{"run", "--server", "ftp://x"}, "want https://host"},
		{"missing explicit config", []string{"run", "--config", "/nonexistent/agent.yaml"}, "reading config file"},
		{"install without server", []string{"install", "--token", "t"}, "install needs --server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := tt.args
			if len(args) > 0 && args[0] != "frobnicate" && !contains(args, "--config") {
				args = append(args, "--config", emptyConfig(t))
			}
			code := cli(t.Context(), args, &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("exit code = %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.want)
			}
		})
	}
}

// TestPlainHTTPServerRefused: wherever a server URL comes from — a flag
// of install or run, the config file, the environment — http:// to a host
// other than this machine is a usage error that says what to do, before
// anything is written, installed or sent; status shows the same error.
func TestPlainHTTPServerRefused(t *testing.T) {
	file := func(t *testing.T, server string) string {
		p := filepath.Join(t.TempDir(), "agent.yaml")
		if err := os.WriteFile(p, []byte("server: "+server+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name   string
		args   func(t *testing.T) []string
		env    string // TETHER_SERVER
		status bool   // a report, not a refusal: exit 0, the error on stdout
	}{
		{name: "install flag", args: func(t *testing.T) []string {
			return []string{"install", "--server", "http://tether.example", "--token", "t", "--config", filepath.Join(t.TempDir(), "agent.yaml")}
		}},
		{name: "run flag", args: func(t *testing.T) []string {
			return []string{"run", "--server", "http://10.0.0.5:8080", "--token", "t", "--state", t.TempDir(), "--config", emptyConfig(t)}
		}},
		{name: "config file", args: func(t *testing.T) []string {
			return []string{"run", "--token", "t", "--state", t.TempDir(), "--config", file(t, "http://tether.example:8080")}
		}},
		{name: "environment", env: "http://tether.example", args: func(t *testing.T) []string {
			return []string{"run", "--token", "t", "--state", t.TempDir(), "--config", emptyConfig(t)}
		}},
		{name: "status of a config file", status: true, args: func(t *testing.T) []string {
			return []string{"status", "--state", t.TempDir(), "--config", file(t, "http://192.168.1.10")}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("TETHER_SERVER", tt.env)
			}
			var stdout, stderr bytes.Buffer
			code := cli(t.Context(), tt.args(t), &stdout, &stderr)
			want, out := exitUsage, stderr.String()
			if tt.status {
				want, out = exitOK, stdout.String()
			}
			if code != want {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, want, stderr.String())
			}
			for _, w := range []string{"use https://", "127.0.0.1, ::1 or localhost"} {
				if !strings.Contains(out, w) {
					t.Errorf("output %q does not say %q", out, w)
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestVersion(t *testing.T) {
	var stdout bytes.Buffer
	if code := cli(t.Context(), []string{"version"}, &stdout, &bytes.Buffer{}); code != exitOK {
		t.Fatalf("exit code = %d", code)
	}
	if !strings.HasPrefix(stdout.String(), "tether-agent ") {
		t.Errorf("version output = %q", stdout.String())
	}
}
