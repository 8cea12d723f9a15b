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
	r, wr, err := os.Pipe()
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", fmt.Sprintf("%dx%dx%d", w, h, depth),
		"-nolisten", "tcp", "-noreset")
	cmd.ExtraFiles = []*os.File{wr}
	p, err := Start("Xvfb", cmd)
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
	case n := <-got:
		if _, err := strconv.Atoi(n); err != nil {
			exited := p.Exited()
			p.Stop(time.Second)
			return nil, "", fmt.Errorf("Xvfb wrote display %q (exited: %v); stderr:\n%s", n, exited, p.Stderr)
		}
		return p, ":" + n, nil
	case <-time.After(timeout):
		p.Stop(time.Second)
		return nil, "", fmt.Errorf("Xvfb named no display within %s; stderr:\n%s", timeout, p.Stderr)
	case <-ctx.Done():
		p.Stop(time.Second)
		return nil, "", ctx.Err()
	}
}
