//go:build unix

package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// ServerConfig says how to start `tether-server serve`.
type ServerConfig struct {
	Bin, Data string
	// Listen is the address to serve on; default 127.0.0.1:0 (a free port).
	Listen string
	// Args are further serve flags.
	Args []string
	// Prepare sets what else the command needs (Env, a Stderr log file)
	// before it starts.
	Prepare func(*exec.Cmd)
	// Name labels the process in logs; default "tether-server".
	Name string
	// Timeout bounds the wait for the listening line and for /readyz;
	// default 60s.
	Timeout time.Duration
}

// Server is a running tether-server on plain HTTP.
type Server struct {
	*Proc
	Bin, Data string
	URL       string // http://host:port
	Addr      string // host:port
}

var consoleLine = regexp.MustCompile(`listening; console: (https?://\S+?)/?$`)

// StartServer starts serve and waits until it prints where it listens and
// /readyz answers 200. On failure the process is stopped and the error
// carries its log.
func StartServer(ctx context.Context, cfg ServerConfig) (*Server, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Name == "" {
		cfg.Name = "tether-server"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	args := append([]string{"serve", "--data", cfg.Data, "--listen", cfg.Listen, "--insecure-http"}, cfg.Args...)
	cmd := exec.Command(cfg.Bin, args...)
	if cfg.Prepare != nil {
		cfg.Prepare(cmd)
	}
	p, err := Start(cfg.Name, cmd)
	if err != nil {
		return nil, err
	}
	s := &Server{Proc: p, Bin: cfg.Bin, Data: cfg.Data}
	fail := func(err error) (*Server, error) {
		p.Stop(time.Second)
		return nil, fmt.Errorf("%s: %w; stderr:\n%s", cfg.Name, err, tail(p.Stderr.String(), 4096))
	}
	var u string
	err = Poll(ctx, cfg.Timeout, func() (bool, error) {
		if p.Exited() {
			return false, fmt.Errorf("exited with status %d before listening", p.State().ExitCode())
		}
		for _, l := range p.Stdout.Lines() {
			if m := consoleLine.FindStringSubmatch(l); m != nil {
				u = m[1]
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fail(fmt.Errorf("no listening line: %w", err))
	}
	pu, err := url.Parse(u)
	if err != nil {
		return fail(fmt.Errorf("console URL %q: %w", u, err))
	}
	s.URL, s.Addr = "http://"+pu.Host, pu.Host
	if err := s.WaitReady(ctx, cfg.Timeout); err != nil {
		return fail(err)
	}
	return s, nil
}

// WaitReady waits until GET /readyz answers 200.
func (s *Server) WaitReady(ctx context.Context, timeout time.Duration) error {
	c := &http.Client{Timeout: 10 * time.Second}
	err := Poll(ctx, timeout, func() (bool, error) {
		if s.Exited() {
			return false, fmt.Errorf("exited with status %d", s.State().ExitCode())
		}
		resp, err := c.Get(s.URL + "/readyz")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("/readyz: %s", resp.Status)
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	return nil
}

// EnrollmentToken makes a token with `tether-server token create` on the
// server's data directory (the server may be running). env is the
// command's environment (nil: this process's).
func (s *Server) EnrollmentToken(ctx context.Context, env []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Bin, "token", "create", "--data", s.Data)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("tether-server token create: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	tok := strings.TrimSpace(string(out))
	if tok == "" || strings.ContainsAny(tok, " \n") {
		return "", fmt.Errorf("tether-server token create printed %q; want one token", out)
	}
	return tok, nil
}

// AdminPassword is the first administrator's password, from the data
// directory.
func (s *Server) AdminPassword() (string, error) {
	b, err := os.ReadFile(filepath.Join(s.Data, "initial-admin-password"))
	if err != nil {
		return "", fmt.Errorf("read admin password: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
