package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// GoTool finds the go command: PATH first, then the running toolchain.
func GoTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// BuildBinaries compiles the given main packages (module-relative, e.g.
// ./server/cmd/tether-server, or full import paths) into dir with one go
// build, run in the module root that `go env GOMOD` names.
func BuildBinaries(ctx context.Context, dir string, pkgs ...string) error {
	return BuildBinariesEnv(ctx, dir, nil, pkgs...)
}

// WindowsBuildEnv cross-compiles for Windows x64 with cgo through mingw,
// as make build does.
var WindowsBuildEnv = []string{"GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=1", "CC=x86_64-w64-mingw32-gcc"}

// BuildBinariesEnv is BuildBinaries with env added to the go command's
// environment (WindowsBuildEnv, for one).
func BuildBinariesEnv(ctx context.Context, dir string, env []string, pkgs ...string) error {
	root, err := ModuleRoot(ctx)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, GoTool(), append([]string{"build", "-o", dir + string(os.PathSeparator)}, pkgs...)...)
	cmd.Dir = root
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", strings.Join(pkgs, " "), err, out)
	}
	return nil
}

// ModuleRoot is the directory of the module's go.mod, as `go env GOMOD`
// names it.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, GoTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	return filepath.Dir(gomod), nil
}
