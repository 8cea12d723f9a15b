//go:build unix

package testenv

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// StartXvfb starts Xvfb at w x h x depth on a free display number (Xvfb
// picks it and writes it to -displayfd) and returns it with the DISPLAY
// value, ":N". It waits at most timeout for the display number; on failure
// the process is stopped and the error carries its stderr.
func StartXvfb(ctx context.Context, w, h, depth int, timeout time.Duration) (*Proc, string, error) {
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", fmt.Sprintf("%dx%dx%d", w, h, depth),
		"-nolisten", "tcp", "-noreset", "+extension", "XTEST")
	p, n, err := startReadingFD3(ctx, "Xvfb", cmd, timeout)
	if err != nil {
		return nil, "", err
	}
	if _, err := strconv.Atoi(n); err != nil {
		exited := p.Exited()
		p.Stop(time.Second)
		return nil, "", fmt.Errorf("Xvfb wrote display %q (exited: %v); stderr:\n%s", n, exited, p.Stderr)
	}
	return p, ":" + n, nil
}

// startReadingFD3 starts cmd with a pipe as its file descriptor 3 and
// returns the first line it writes there (trimmed): where a server says
// which display or address it took. It waits at most timeout; on failure
// the process is stopped and the error carries its stderr.
func startReadingFD3(ctx context.Context, name string, cmd *exec.Cmd, timeout time.Duration) (*Proc, string, error) {
	r, wr, err := os.Pipe()
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	cmd.ExtraFiles = []*os.File{wr}
	p, err := Start(name, cmd)
	wr.Close()
	if err != nil {
		return nil, "", err
	}
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	select {
	case line := <-got:
		return p, line, nil
	case <-time.After(timeout):
		p.Stop(time.Second)
		return nil, "", fmt.Errorf("%s wrote nothing on fd 3 within %s; stderr:\n%s", name, timeout, p.Stderr)
	case <-ctx.Done():
		p.Stop(time.Second)
		return nil, "", ctx.Err()
	}
}
