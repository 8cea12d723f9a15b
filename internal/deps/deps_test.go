package deps

import (
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"mvdan.cc/sh/v3/syntax"
)

// root is the repository, two levels up from this package.
const root = "../.."

// use is one place that starts a program, and the deps.sh profile the
// program must be in for that place to work.
type use struct {
	program, where, profile string
}

// dynamic are the exec calls whose program is not a literal, with why that
// is not an outside program. A new one fails the test until it is listed.
var dynamic = map[string]string{
	"agent/cmd/tether-agent/main_test.go:TestProcessExitsWithCode3OnBadToken": "the tether-agent the test built",
	"agent/update/trial.go:Trial":                           "the agent's new binary, on trial",
	"agent/supervisor/processes.go:defaultCommand":          "the agent's own executable, as the session helper",
	"agent/supervisor/supervisor_test.go:start":             "the test binary itself (os.Args[0])",
	"agent/tools/terminal/terminal_unix.go:startPTY":        "the endpoint user's own shell (SHELL, else /bin/sh) for a technician's terminal; the tests run /bin/sh",
	"e2e/broker_test.go:enterCode":                          "the tether-agent the test built",
	"e2e/failover_test.go:pgCtl":                            "pg_ctl (a row of its own) from /usr/lib/postgresql/*/bin, as the failover test's private cluster needs",
	"e2e/harness_test.go:startAgentOpts":                    "the tether-agent the test built",
	"e2e/netpaths_test.go:startLabServer":                   "the tether-server the test built",
	"e2e/installer_test.go:TestInstallerFromConsole":        "the tether-agent the .deb installed",
	"e2e/installer_test.go:runServerCmd":                    "the tether-server the test built",
	"e2e/update_test.go:TestAgentUpdate":                    "the tether-agent the test built",
	"e2e/update_test.go:buildAgent":                         "the go tool (GoTool)",
	"e2e/screenshare_test.go:TestScreenShareRelayOnly":      "the tether-server the test built",
	"installer/sign_test.go:TestAuthenticode":               "the go tool (GoTool)",
	"internal/deps/deps_test.go:TestRowsMatchDebian":        "the table's own programs",
	"internal/testenv/build.go:BuildBinariesEnv":            "the go tool (GoTool)",
	"internal/testenv/build.go:ModuleRoot":                  "the go tool (GoTool)",
	"internal/wintest/wintest_test.go:TestWindowsUnderWine": "the go tool (GoTool)",
	"internal/wintest/wintest_test.go:runUnderWine":         "the go tool (GoTool), test2json",
	"internal/testenv/server.go:StartServer":                "the tether-server its caller built",
	"internal/testenv/wayland.go:StartMutterMonitors":       "dbus-daemon, pipewire, wireplumber and mutter (rows of their own)",
	"internal/testenv/wayland.go:StartPortals":              "xdg-desktop-portal and xdg-desktop-portal-gnome from /usr/libexec (rows of their own)",
	"internal/testenv/server.go:EnrollmentToken":            "the tether-server its caller built",
	"server/turnrelay/uclient_test.go:startUclient":         "turnutils_uclient, found by needTool",
	"server/turnrelay/uclient_test.go:startEchoPeer":        "turnutils_peer, found by needTool",
}

func TestEveryProgramHasARow(t *testing.T) {
	rows := map[string]Program{}
	for i, p := range Programs {
		if i > 0 && Programs[i-1].Name >= p.Name {
			t.Errorf("Programs: %q after %q; keep the table sorted", p.Name, Programs[i-1].Name)
		}
		rows[p.Name] = p
	}
	uses, unresolved := goUses(t)
	uses = append(uses, scriptUses(t)...)
	for _, u := range unresolved {
		t.Errorf("%s starts a program this test cannot name; use a string literal, or add to dynamic in %s: %q: \"why it is not an outside program\",",
			u, "internal/deps/deps_test.go", u)
	}
	profiles := depsProfiles(t)
	seen := map[string]bool{}
	for _, u := range uses {
		p, ok := rows[u.program]
		if !ok && slices.Contains(shellWords, u.program) {
			continue // coreutils and the like: every Debian system has them
		}
		if !ok {
			if !seen[u.program] {
				t.Errorf("%s starts %q, which has no row; add to internal/deps/doc.go:\n\t{%q, \"<Debian package: dpkg -S $(command -v %s)>\", []string{%q}, \"\"},\nand add that package to the %s profile in scripts/deps.sh",
					u.where, u.program, u.program, u.program, u.profile, u.profile)
				seen[u.program] = true
			}
			continue
		}
		if p.Package == "" || slices.Contains(p.Profiles, "essential") || slices.Contains(p.Profiles, "system") {
			continue
		}
		if !slices.Contains(p.Profiles, u.profile) && !slices.Contains(p.Profiles, "base") {
			t.Errorf("%s starts %q under the %s profile; its row lists %v: add %q to its row and %s to %s in scripts/deps.sh",
				u.where, u.program, u.profile, p.Profiles, u.profile, p.Package, u.profile)
		}
	}
	for _, p := range Programs {
		for _, prof := range p.Profiles {
			if prof == "essential" || prof == "system" {
				continue
			}
			pkgs, ok := profiles[prof]
			if !ok {
				t.Errorf("row %q: scripts/deps.sh has no profile %q", p.Name, prof)
			} else if !pkgs[p.Package] && !profiles["base"][p.Package] {
				t.Errorf("row %q: scripts/deps.sh's %s profile does not install %s", p.Name, prof, p.Package)
			}
		}
	}
}

// TestRowsMatchDebian checks each row's package against dpkg where the
// program is installed here, so a row cannot name the wrong package.
func TestRowsMatchDebian(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("not a Debian system: dpkg-query is missing")
	}
	// One dpkg-query for every path: it reads its whole database each time.
	var paths []string
	for _, p := range Programs {
		if path, err := exec.LookPath(p.Name); err == nil && p.Package != "" {
			for _, q := range []string{path, resolve(path)} {
				// /bin is a link to /usr/bin on Debian 12; dpkg knows one of them.
				paths = append(paths, q, strings.Replace(q, "/usr/bin/", "/bin/", 1), strings.Replace(q, "/usr/sbin/", "/sbin/", 1))
			}
		}
	}
	out, _ := exec.Command("dpkg-query", append([]string{"-S"}, paths...)...).Output() // exits 1 when some path has no package
	owners := map[string]map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkgs, path, ok := strings.Cut(line, ": ")
		if !ok || strings.HasPrefix(line, "diversion ") {
			continue
		}
		base := filepath.Base(path)
		if owners[base] == nil {
			owners[base] = map[string]bool{}
		}
		for _, x := range strings.Split(pkgs, ", ") {
			owners[base][strings.Split(x, ":")[0]] = true
		}
	}
	for _, p := range Programs {
		path, err := exec.LookPath(p.Name)
		if err != nil || p.Package == "" {
			continue // not installed here: the profile test above still holds
		}
		own := owners[p.Name]
		for k := range owners[filepath.Base(resolve(path))] {
			if own == nil {
				own = map[string]bool{}
			}
			own[k] = true
		}
		if len(own) == 0 {
			continue // an alternative or a file no package owns
		}
		if !own[p.Package] && !dependsOnOne(p.Package, own) {
			t.Errorf("row %q says package %s; dpkg says %s is from %v", p.Name, p.Package, path, keys(own))
		}
		if slices.Contains(p.Profiles, "essential") {
			out, _ := exec.Command("dpkg-query", "-W", "-f", "${Essential} ${Priority}", p.Package).Output()
			if f := strings.Fields(string(out)); len(f) != 2 || (f[0] != "yes" && f[1] != "required") {
				t.Errorf("row %q: %s is neither essential nor of priority required (%q); name the deps.sh profile that installs it", p.Name, p.Package, out)
			}
		}
	}
}

// dependsOnOne: pkg is a metapackage (postgresql) that pulls in one of
// owners (postgresql-15).
func dependsOnOne(pkg string, owners map[string]bool) bool {
	out, _ := exec.Command("dpkg-query", "-W", "-f", "${Depends}", pkg).Output()
	for _, dep := range strings.Split(string(out), ",") {
		for _, alt := range strings.Split(dep, "|") {
			if f := strings.Fields(alt); len(f) > 0 && owners[f[0]] {
				return true
			}
		}
	}
	return false
}

func resolve(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// depsProfiles reads scripts/deps.sh's PKGS table: profile → packages.
func depsProfiles(t *testing.T) map[string]map[string]bool {
	b, err := os.ReadFile(filepath.Join(root, "scripts/deps.sh"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s*\[([a-z]+)\]="([^"]*)"`)
	out := map[string]map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = map[string]bool{}
		for _, p := range strings.Fields(m[2]) {
			out[m[1]][p] = true
		}
	}
	if len(out) == 0 {
		t.Fatal("no PKGS table found in scripts/deps.sh")
	}
	return out
}

// profileOf names the deps.sh profile a Go file's programs belong to.
func profileOf(rel string) []string {
	switch {
	case strings.HasPrefix(rel, "bench/"):
		return []string{"bench"}
	case strings.HasSuffix(rel, "_test.go"), strings.HasPrefix(rel, "internal/testenv/"), strings.Contains(rel, "/internal/xtest/"):
		return []string{"test"}
	default:
		// The product: make run starts it, and the tests run it too.
		return []string{"run", "test"}
	}
}

// wrapper is a function that passes one of its parameters to exec as the
// program: its callers name the program.
type wrapper struct {
	dir, name string
	arg       int
	method    bool
}

func wrapperOf(rel string, fn *ast.FuncDecl, arg int) wrapper {
	return wrapper{filepath.Dir(rel), fn.Name.Name, arg, fn.Recv != nil}
}

// calls tells whether c, in the file rel with imports, may call w.
func (w wrapper) calledBy(c *ast.CallExpr, rel string, imports map[string]bool) bool {
	switch f := c.Fun.(type) {
	case *ast.Ident:
		return !w.method && f.Name == w.name && filepath.Dir(rel) == w.dir
	case *ast.SelectorExpr:
		if f.Sel.Name != w.name {
			return false
		}
		if x, ok := f.X.(*ast.Ident); ok && imports[x.Name] {
			return !w.method && filepath.Base(w.dir) == x.Name
		}
		return w.method
	}
	return false
}

func importNames(f *ast.File) map[string]bool {
	m := map[string]bool{}
	for _, im := range f.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		name := filepath.Base(p)
		if im.Name != nil {
			name = im.Name.Name
		}
		m[name] = true
	}
	return m
}

// goUses collects the programs the Go code starts: literal first arguments
// of exec.Command, exec.CommandContext and exec.LookPath, names bound to
// literals (constants, `for _, bin := range []string{...}`), and literal
// arguments of functions that pass a parameter on as the program.
func goUses(t *testing.T) (uses []use, unresolved []string) {
	ctx := build.Default
	ctx.GOOS, ctx.GOARCH, ctx.CgoEnabled = "linux", "amd64", true
	type file struct {
		rel string
		f   *ast.File
	}
	var files []file
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "bin" || name == "dist") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		if ok, err := ctx.MatchFile(filepath.Dir(path), name); err != nil || !ok {
			return nil // not built on Linux (Windows or macOS code)
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		files = append(files, file{filepath.ToSlash(rel), f})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	wrappers := map[wrapper]bool{}
	usedDynamic := map[string]bool{}
	defer func() {
		for k := range dynamic {
			if !usedDynamic[k] {
				t.Errorf("dynamic lists %s, which starts no program any more: take it out", k)
			}
		}
	}()
	add := func(program, where string, rel string) {
		for _, prof := range profileOf(rel) {
			uses = append(uses, use{program, where, prof})
		}
	}
	// Pass 1: exec calls.
	for _, fl := range files {
		forEachCall(fl.f, func(fn *ast.FuncDecl, call *ast.CallExpr) {
			idx := execArg(call)
			if idx < 0 || idx >= len(call.Args) {
				return
			}
			where := fmt.Sprintf("%s:%d", fl.rel, fset.Position(call.Pos()).Line)
			names, param, ok := literal(call.Args[idx], fn)
			switch {
			case ok:
				for _, n := range names {
					add(n, where, fl.rel)
				}
			case param >= 0:
				wrappers[wrapperOf(fl.rel, fn, param)] = true
				fallthrough
			default:
				key := fl.rel + ":" + funcName(fn)
				if _, listed := dynamic[key]; !listed && param < 0 {
					unresolved = append(unresolved, key)
				}
				usedDynamic[key] = true
			}
		})
	}
	// Pass 2, to a fixed point: literal arguments of wrappers.
	for changed := true; changed; {
		changed = false
		for _, fl := range files {
			imports := importNames(fl.f)
			forEachCall(fl.f, func(fn *ast.FuncDecl, call *ast.CallExpr) {
				for w := range wrappers {
					if w.arg >= len(call.Args) || !w.calledBy(call, fl.rel, imports) {
						continue
					}
					names, param, ok := literal(call.Args[w.arg], fn)
					if ok {
						for _, n := range names {
							add(n, fmt.Sprintf("%s:%d", fl.rel, fset.Position(call.Pos()).Line), fl.rel)
						}
					} else if nw := wrapperOf(fl.rel, fn, param); param >= 0 && !wrappers[nw] {
						wrappers[nw] = true
						changed = true
					}
				}
			})
		}
	}
	return uses, unresolved
}

func forEachCall(f *ast.File, visit func(*ast.FuncDecl, *ast.CallExpr)) {
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			if c, ok := n.(*ast.CallExpr); ok {
				visit(fn, c)
			}
			return true
		})
	}
}

func funcName(fn *ast.FuncDecl) string {
	if fn == nil {
		return "?"
	}
	return fn.Name.Name
}

// execArg is the index of the program argument when c calls os/exec.
func execArg(c *ast.CallExpr) int {
	sel, ok := c.Fun.(*ast.SelectorExpr)
	if !ok {
		return -1
	}
	if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "exec" {
		return -1
	}
	switch sel.Sel.Name {
	case "Command", "LookPath":
		return 0
	case "CommandContext":
		return 1
	}
	return -1
}

// literal resolves e to program names: a string literal, a constant or
// variable initialised with one, a range variable over a []string literal.
// When e is a parameter of fn, it returns that parameter's index.
func literal(e ast.Expr, fn *ast.FuncDecl) (names []string, param int, ok bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if s, err := strconv.Unquote(e.Value); err == nil {
			return []string{s}, -1, true
		}
	case *ast.Ident:
		if fn != nil {
			i := 0
			for _, f := range fn.Type.Params.List {
				for _, n := range f.Names {
					if n.Name == e.Name {
						if _, variadic := f.Type.(*ast.Ellipsis); !variadic {
							return nil, i, false
						}
					}
					i++
				}
				if len(f.Names) == 0 {
					i++
				}
			}
		}
		if e.Obj == nil || e.Obj.Decl == nil {
			break
		}
		switch d := e.Obj.Decl.(type) {
		case *ast.ValueSpec:
			for i, n := range d.Names {
				if n.Name == e.Name && i < len(d.Values) {
					return literal(d.Values[i], nil)
				}
			}
		case *ast.AssignStmt:
			// for _, bin := range []string{...}: the parser records the
			// range as an assignment from a RANGE expression.
			if u, isRange := d.Rhs[0].(*ast.UnaryExpr); isRange && u.Op == token.RANGE {
				if cl, isLit := u.X.(*ast.CompositeLit); isLit {
					var out []string
					for _, el := range cl.Elts {
						if s, _, ok := literal(el, nil); ok {
							out = append(out, s...)
						}
					}
					return out, -1, true
				}
				break
			}
			for i, l := range d.Lhs {
				if id, isID := l.(*ast.Ident); isID && id.Name == e.Name {
					if len(d.Rhs) == len(d.Lhs) {
						if c, isCall := d.Rhs[i].(*ast.CallExpr); isCall && execArg(c) >= 0 {
							return nil, -1, true // bound to exec.LookPath("x"), counted there
						}
						return literal(d.Rhs[i], nil)
					}
					if c, isCall := d.Rhs[0].(*ast.CallExpr); isCall && execArg(c) >= 0 {
						return nil, -1, true
					}
				}
			}
		}
	}
	return nil, -1, false
}

// scriptProfiles names the deps.sh profile each script's programs need.
var scriptProfiles = map[string]string{
	"scripts/deps.sh":        "base",
	"scripts/run.sh":         "run",
	"scripts/pg-test.sh":     "test",
	"scripts/fresh-check.sh": "fresh",
	".ci/run":                "base",
}

// shellWords are builtins and the programs of essential packages that
// every Debian system has (coreutils, util-linux, findutils, ...).
var shellWords = strings.Fields(`echo printf cd export local declare read trap wait kill exec eval source . true false
	test [ [[ shift break continue command type unset readonly let set exit return
	cat cp mv rm mkdir rmdir ln chmod chown ls head tail sort uniq cut tr tee touch find grep sed pwd
	date dirname basename id seq sleep mktemp env uname wc xargs printenv mount umount chroot sh bash flock su sha256sum`)

// scriptUses collects the commands the scripts run (parsed with a real
// shell parser), past builtins, the scripts' own functions, paths and
// what every Debian system has.
func scriptUses(t *testing.T) []use {
	var out []use
	for rel, prof := range scriptProfiles {
		f, err := os.Open(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		prog, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(f, rel)
		f.Close()
		if err != nil {
			t.Fatalf("parse %s: %v", rel, err)
		}
		funcs := map[string]bool{}
		syntax.Walk(prog, func(n syntax.Node) bool {
			if fd, ok := n.(*syntax.FuncDecl); ok {
				funcs[fd.Name.Value] = true
			}
			return true
		})
		syntax.Walk(prog, func(n syntax.Node) bool {
			c, ok := n.(*syntax.CallExpr)
			if !ok || len(c.Args) == 0 {
				return true
			}
			args := c.Args
			// command -v X, runuser -u U -- X: X is the program.
			if w := args[0].Lit(); (w == "command" || w == "runuser") && len(args) > 1 {
				for i, a := range args[1:] {
					if a.Lit() == "--" || (w == "command" && !strings.HasPrefix(a.Lit(), "-")) {
						args = args[1+i:]
						if args[0].Lit() == "--" {
							args = args[1:]
						}
						break
					}
				}
			}
			if len(args) == 0 {
				return true
			}
			w := args[0].Lit()
			if w == "" || strings.Contains(w, "/") || funcs[w] || slices.Contains(shellWords, w) {
				return true
			}
			out = append(out, use{w, fmt.Sprintf("%s:%d", rel, c.Pos().Line()), prof})
			return true
		})
	}
	return out
}
