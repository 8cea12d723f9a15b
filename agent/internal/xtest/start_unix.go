//go:build unix

package xtest

import (
	"context"
	"fmt"
	"os/exec"

	"github.com/tetherdesk/tether/internal/testenv"
)

// Start launches Xvfb on a free display number (testenv.StartXvfb: Xvfb
// picks it and says which) and waits until it accepts connections.
func Start(opts Options) (*Server, error) {
	opts.setDefaults()
	if _, err := exec.LookPath("Xvfb"); err != nil {
		return nil, ErrNoXvfb
	}
	p, display, err := testenv.StartXvfb(context.Background(), opts.Width, opts.Height, opts.Depth, opts.StartTimeout)
	if err != nil {
		return nil, fmt.Errorf("xtest: %w", err)
	}
	return &Server{Display: display, Opts: opts, proc: p}, nil
}
