//go:build linux

package wintest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/internal/wineskip"
)

// winPkg is a package with Windows-only tests: its directory relative to
// the module root and the names of those tests.
type winPkg struct {
	Dir   string
	Tests []string
}

// windowsTests finds, under root, every test file that a GOOS=windows build
// compiles and a GOOS=linux build does not, and the Test functions in them.
func windowsTests(root string) ([]winPkg, error) {
	win, lin := build.Default, build.Default
	win.GOOS, lin.GOOS = "windows", "linux"
	win.CgoEnabled, lin.CgoEnabled = true, true
	byDir := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin" || name == "dist" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		dir, name := filepath.Split(path)
		onWin, err := win.MatchFile(dir, name)
		if err != nil {
			return err
		}
		onLin, err := lin.MatchFile(dir, name)
		if err != nil {
			return err
		}
		if !onWin || onLin {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Clean(dir))
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil && isTestName(fn.Name.Name) {
				byDir[rel] = append(byDir[rel], fn.Name.Name)
			}
		}
		return nil
	})
	var pkgs []winPkg
	for dir, tests := range byDir {
		sort.Strings(tests)
		pkgs = append(pkgs, winPkg{Dir: dir, Tests: tests})
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].Dir < pkgs[j].Dir })
	return pkgs, err
}

func isTestName(s string) bool {
	rest, ok := strings.CutPrefix(s, "Test")
	return ok && (rest == "" || !('a' <= rest[0] && rest[0] <= 'z'))
}

func TestWindowsTestsFound(t *testing.T) {
	root := moduleRoot(t)
	pkgs, err := windowsTests(root)
	if err != nil {
		t.Fatal(err)
	}
	// A known test in each of the packages that have them: if the finder
	// misses one, the Wine run would pass while running nothing.
	want := map[string]string{
		"agent/capture":    "TestDXGIStructLayout",
		"agent/ipc":        "TestPipeSDDLParses",
		"agent/supervisor": "TestWTSDesktops",
	}
	for dir, test := range want {
		found := false
		for _, p := range pkgs {
			if p.Dir == dir {
				for _, n := range p.Tests {
					found = found || n == test
				}
			}
		}
		if !found {
			t.Errorf("windowsTests did not find %s in %s; found %v", test, dir, pkgs)
		}
	}
}

// elapsedRE finds a top-level test's time in its "--- PASS: T (1.23s)" line.
var elapsedRE = regexp.MustCompile(`(?m)^--- (?:PASS|FAIL|SKIP): \S+ \(([0-9.]+)s\)`)

// skipRE is the form of a skip message from internal/wineskip: the Wine
// version, the Windows API and the note.
var skipRE = regexp.MustCompile(regexp.QuoteMeta(wineskip.Marker) + ` [^:\n]+: [^:\n]+: \S.*`)

// TestWindowsUnderWine builds every package's Windows-only tests and runs
// them under Wine, one subtest per Windows test.
func TestWindowsUnderWine(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the Wine run takes about a minute")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root := moduleRoot(t)
	pkgs, err := windowsTests(root)
	if err != nil {
		t.Fatal(err)
	}
	// While working on one package: TETHER_WINTEST_PKG=agent/desktop.
	if only := os.Getenv("TETHER_WINTEST_PKG"); only != "" {
		pkgs = slices.DeleteFunc(pkgs, func(p winPkg) bool { return p.Dir != only })
		t.Logf("TETHER_WINTEST_PKG: only %s", only)
	}
	bin := t.TempDir()
	args := []string{"test", "-c", "-o", bin + "/"}
	for _, p := range pkgs {
		args = append(args, "./"+filepath.ToSlash(p.Dir))
	}
	build := exec.CommandContext(ctx, testenv.GoTool(), args...)
	build.Dir = root
	build.Env = append(os.Environ(), testenv.WindowsBuildEnv...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	wine := testenv.StartWine(t, ctx)
	t.Logf("wine prefix ready after %s", time.Since(start).Round(100*time.Millisecond))

	// The packages run side by side in the one prefix, as their tests would
	// on one Windows machine.
	results := make([]map[string]*result, len(pkgs))
	errs := make([]error, len(pkgs))
	var wg sync.WaitGroup
	for i, p := range pkgs {
		wg.Go(func() {
			exe := filepath.Join(bin, filepath.Base(p.Dir)+".test.exe")
			results[i], errs[i] = runUnderWine(ctx, wine, exe, filepath.Join(root, p.Dir), p)
		})
	}
	wg.Wait()

	var ran, passed int
	var skips []string
	for i, p := range pkgs {
		for _, name := range p.Tests {
			r := results[i][name]
			ran++
			t.Run(p.Dir+"/"+name, func(t *testing.T) {
				switch {
				case r == nil:
					t.Fatalf("did not run under Wine (%v); the test binary said:\n%s", errs[i], results[i][""].output())
				case r.action == "pass":
					passed++
					t.Logf("passed under Wine in %.2fs", r.elapsed)
				case r.action == "skip":
					msg := skipRE.FindString(r.output())
					if msg == "" {
						t.Fatalf("skipped without naming the Windows API Wine lacks (use internal/wineskip.If):\n%s", r.output())
					}
					skips = append(skips, p.Dir+"/"+name+": "+msg)
					t.Skip(msg)
				default:
					t.Fatalf("%s under Wine:\n%s", r.action, r.output())
				}
			})
		}
	}
	t.Logf("Windows tests under Wine: %d tests in %d packages, %d passed, %d skipped, in %s",
		ran, len(pkgs), passed, len(skips), time.Since(start).Round(100*time.Millisecond))
	for _, s := range skips {
		t.Logf("skip: %s", s)
	}
}

// result is what test2json reported for one top-level test ("" for the
// binary as a whole).
type result struct {
	action  string
	elapsed float64
	out     strings.Builder
}

func (r *result) output() string {
	if r == nil {
		return ""
	}
	return r.out.String()
}

// event is one line of test2json's output.
type event struct {
	Action  string
	Test    string
	Output  string
	Elapsed float64
}

// runUnderWine runs one test binary under wine, limited to p's tests, with
// its verbose output turned into events by go tool test2json, and returns
// the outcome of each top-level test.
func runUnderWine(ctx context.Context, w *testenv.Wine, exe, dir string, p winPkg) (map[string]*result, error) {
	res := map[string]*result{"": {}}
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	run := w.Command(ctx, exe, "-test.v=test2json", "-test.timeout=3m",
		"-test.run=^("+strings.Join(p.Tests, "|")+")$")
	run.Dir = dir // for testdata, as go test runs a test
	conv := exec.CommandContext(ctx, testenv.GoTool(), "tool", "test2json", "-p", p.Dir)
	pipe, err := run.StdoutPipe()
	if err != nil {
		return res, err
	}
	var stderr strings.Builder
	run.Stderr = &stderr
	conv.Stdin = pipe
	out, err := conv.StdoutPipe()
	if err != nil {
		return res, err
	}
	if err := run.Start(); err != nil {
		return res, fmt.Errorf("wine %s: %w", exe, err)
	}
	if err := conv.Start(); err != nil {
		return res, fmt.Errorf("go tool test2json: %w", err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		name, _, _ := strings.Cut(e.Test, "/")
		r := res[name]
		if r == nil {
			r = &result{}
			res[name] = r
		}
		r.out.WriteString(e.Output)
		if e.Test == name {
			switch e.Action {
			case "pass", "fail", "skip":
				r.action, r.elapsed = e.Action, e.Elapsed
				if m := elapsedRE.FindStringSubmatch(r.out.String()); r.elapsed == 0 && m != nil {
					// test2json leaves Elapsed out of these events;
					// the test's own line has it.
					r.elapsed, _ = strconv.ParseFloat(m[1], 64)
				}
			}
		}
	}
	_, _ = io.Copy(io.Discard, out)
	convErr := conv.Wait()
	runErr := testenv.IgnoreWaitDelay(run.Wait())
	if stderr.Len() > 0 {
		res[""].out.WriteString("stderr:\n" + stderr.String())
	}
	if runErr != nil {
		return res, fmt.Errorf("wine %s: %w", filepath.Base(exe), runErr)
	}
	return res, convErr
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := testenv.ModuleRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return root
}
