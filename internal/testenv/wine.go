//go:build linux

package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

//go:embed wine/processprng.c
var processPrngC []byte

// Wine is a private Wine prefix for running Windows programs in a test: a
// clone of a base prefix made once per machine and Wine version (see
// WineBase), so that each test starts from the same fresh registry.
type Wine struct {
	Prefix  string // WINEPREFIX
	Display string // DISPLAY its windows open on; "" for none

	// keep is a cmd.exe waiting on a pipe's input: Wine shuts its
	// "machine" down (services included) when the last program ends, and
	// a machine the test runs services on must stay up between commands.
	keep     *exec.Cmd
	keepOpen *os.File
}

// WineBase returns the base prefix under cacheDir, making it if there is
// none yet: wineboot, then the ProcessPrng shim in system32 (Go's runtime
// needs bcryptprimitives.dll, which Wine 8 lacks). Test packages that run at
// once take turns on a lock, so it is made once. Making it takes about half
// a minute.
func WineBase(ctx context.Context, cacheDir string) (string, error) {
	for _, prog := range []string{"wine", "wineserver", "x86_64-w64-mingw32-gcc"} {
		if _, err := exec.LookPath(prog); err != nil {
			return "", fmt.Errorf("wine prefix: %s is not installed (scripts/deps.sh test installs it): %w", prog, err)
		}
	}
	ver, err := exec.CommandContext(ctx, "wine", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("wine --version: %w", err)
	}
	sum := sha256.Sum256(append(ver, processPrngC...))
	base := filepath.Join(cacheDir, "prefix-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(cacheDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := flock(ctx, lock); err != nil {
		return "", fmt.Errorf("wine prefix: lock %s: %w", cacheDir, err)
	}
	if _, err := os.Stat(filepath.Join(base, "system.reg")); err == nil {
		return base, nil
	}
	// On a loaded machine (make test runs packages side by side on two
	// cores) wineboot's wait for the boot event can time out, leaving a
	// prefix that cannot load kernel32.dll: a second try on a fresh
	// prefix makes it.
	var (
		tmp string
		w   *Wine
	)
	for try := 1; ; try++ {
		if tmp, err = os.MkdirTemp(cacheDir, "making-"); err != nil {
			return "", err
		}
		defer os.RemoveAll(tmp)
		w = &Wine{Prefix: filepath.Join(tmp, "prefix")}
		out, err := w.Command(ctx, "wineboot", "-i").CombinedOutput()
		if err == nil {
			break
		}
		w.server(ctx, "-k").Run()
		if try == 2 || ctx.Err() != nil {
			return "", fmt.Errorf("wineboot -i (try %d): %w\n%s", try, err, out)
		}
	}
	// wineboot returns before wineserver has written the registry out.
	if out, err := w.server(ctx, "-w").CombinedOutput(); err != nil {
		return "", fmt.Errorf("wineserver -w: %w\n%s", err, out)
	}
	src := filepath.Join(tmp, "processprng.c")
	if err := os.WriteFile(src, processPrngC, 0o644); err != nil {
		return "", err
	}
	dll := filepath.Join(w.Prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll")
	gcc := exec.CommandContext(ctx, "x86_64-w64-mingw32-gcc", "-O2", "-shared", "-s", "-o", dll, src, "-ladvapi32")
	if out, err := gcc.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the ProcessPrng shim: %w\n%s", err, out)
	}
	if err := os.Rename(w.Prefix, base); err != nil {
		return "", err
	}
	return base, nil
}

// flock takes an exclusive lock on f, giving up when ctx ends.
func flock(ctx context.Context, f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// NewWine copies the base prefix (WineBase under cacheDir) into dir (about
// 750 MB, a second) and returns it with display for its windows, kept up
// (services running) until Close, which stops every process in it. Hard links would be quicker but are not safe:
// Wine rewrites its registry files and .ini files in place.
func NewWine(ctx context.Context, cacheDir, dir, display string) (*Wine, error) {
	base, err := WineBase(ctx, cacheDir)
	if err != nil {
		return nil, err
	}
	prefix := filepath.Join(dir, "wineprefix")
	if out, err := exec.CommandContext(ctx, "cp", "-a", base, prefix).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("clone the wine prefix: %w\n%s", err, out)
	}
	w := &Wine{Prefix: prefix, Display: display}
	r, wr, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	w.keep = w.Command(context.Background(), "cmd")
	w.keep.Stdin = r
	err = w.keep.Start()
	r.Close()
	if err != nil {
		wr.Close()
		return nil, fmt.Errorf("wine cmd (to keep the prefix up): %w", err)
	}
	w.keepOpen = wr
	// The keeper starts the prefix's server and services; wait for it, so
	// that no test's program does and holds on to its output.
	// Its output goes nowhere, so that the server it may start holds no
	// pipe of ours.
	if err := w.Command(ctx, "cmd", "/c", "exit").Run(); err != nil {
		w.Close()
		return nil, fmt.Errorf("wine cmd /c exit: %w", err)
	}
	return w, nil
}

// Env is the environment a Windows program runs with in this prefix: no
// Wine debug output (TETHER_WINEDEBUG sets WINEDEBUG when diagnosing), no
// Mono or Gecko install prompts.
func (w *Wine) Env() []string {
	debug := "-all"
	if v := os.Getenv("TETHER_WINEDEBUG"); v != "" {
		debug = v
	}
	env := []string{}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "WINEPREFIX", "WINEDEBUG", "WINEDLLOVERRIDES", "DISPLAY", "WAYLAND_DISPLAY":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "WINEPREFIX="+w.Prefix, "WINEDEBUG="+debug,
		"WINEDLLOVERRIDES=mscoree,mshtml=", "DISPLAY="+w.Display)
}

// Command is `wine args...` in this prefix. A program that starts Wine's
// server or services hands them its stdout and stderr, which then stay
// open after it ends: Wait gives up on them 10 s after the program ends
// (and returns exec.ErrWaitDelay, which IgnoreWaitDelay forgives).
func (w *Wine) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "wine", args...)
	cmd.Env = w.Env()
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

func (w *Wine) server(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "wineserver", args...)
	cmd.Env = w.Env()
	return cmd
}

// Path is where a Windows path on drive C (C:\Program Files\…) lies on the
// Linux side.
func (w *Wine) Path(win string) string {
	p := strings.ReplaceAll(win, `\`, "/")
	if len(p) >= 2 && (p[0] == 'C' || p[0] == 'c') && p[1] == ':' {
		p = p[2:]
	}
	return filepath.Join(w.Prefix, "drive_c", filepath.FromSlash(p))
}

// Close stops every process in the prefix (wineserver -k) and waits for its
// wineserver to end, so that nothing outlives the test.
func (w *Wine) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if w.keep != nil {
		w.keepOpen.Close()
		defer w.keep.Wait()
	}
	err := w.server(ctx, "-k").Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		err = nil // no wineserver was running
	}
	if err == nil {
		err = w.server(ctx, "-w").Run()
		if errors.As(err, &exit) {
			err = nil
		}
	}
	return err
}

// Processes lists the Linux pids of the Windows processes running in this
// prefix whose command line contains name (case-insensitive), e.g.
// "tether-agent.exe". Wine 8's tasklist prints nothing, so this reads
// /proc: each Wine process carries WINEPREFIX in its environment.
func (w *Wine) Processes(name string) []int {
	name = strings.ToLower(name)
	want := []byte("WINEPREFIX=" + w.Prefix + "\x00")
	dirs, _ := os.ReadDir("/proc")
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", d.Name(), "environ"))
		if err != nil || !bytes.Contains(env, want) {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err == nil && strings.Contains(strings.ToLower(string(cmd)), name) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// IgnoreWaitDelay is err, or nil when it only says that Wine's server kept
// the output pipes open after the program ended (see Command).
func IgnoreWaitDelay(err error) error {
	if errors.Is(err, exec.ErrWaitDelay) {
		return nil
	}
	return err
}

// StartWine gives a test a private Wine prefix (a copy of the base made
// once in the module's bin/wine) on its own 1024x768 Xvfb; the test's
// cleanup stops every Windows process in it and the display.
func StartWine(t testing.TB, ctx context.Context) *Wine {
	t.Helper()
	root, err := ModuleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	xvfb, display, err := StartXvfb(ctx, 1024, 768, 24, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { xvfb.Stop(5 * time.Second) })
	w, err := NewWine(ctx, filepath.Join(root, "bin", "wine"), t.TempDir(), display)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("stop wine: %v", err)
		}
	})
	return w
}
