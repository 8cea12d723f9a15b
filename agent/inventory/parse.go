package inventory

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// The parsers below are pure functions kept free of build tags so that they
// are tested on every platform, whichever OS file uses them.

// parseOSRelease returns a human-readable OS name from os-release(5)
// content: PRETTY_NAME, else NAME and VERSION_ID.
func parseOSRelease(data string) string {
	vals := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		vals[k] = unquoteShell(v)
	}
	if v := vals["PRETTY_NAME"]; v != "" {
		return v
	}
	return strings.TrimSpace(vals["NAME"] + " " + vals["VERSION_ID"])
}

// unquoteShell handles the quoting os-release allows: "..." with backslash
// escapes, '...' verbatim, or a bare word.
func unquoteShell(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return v[1 : len(v)-1]
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		var b strings.Builder
		inner := v[1 : len(v)-1]
		for i := 0; i < len(inner); i++ {
			if inner[i] == '\\' && i+1 < len(inner) {
				i++
			}
			b.WriteByte(inner[i])
		}
		return b.String()
	}
	return v
}

// parseSwVers turns macOS `sw_vers` output into "macOS 14.5 (23F79)".
func parseSwVers(out string) string {
	vals := map[string]string{}
	for line := range strings.Lines(out) {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			vals[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	s := strings.TrimSpace(vals["ProductName"] + " " + vals["ProductVersion"])
	if b := vals["BuildVersion"]; b != "" && s != "" {
		s += " (" + b + ")"
	}
	return s
}

// parseWho returns the user names (first column) of `who` output, which is
// how logged-in users are read where utmp's layout is not ours to decode.
func parseWho(out string) []string {
	var users []string
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 0 {
			users = append(users, f[0])
		}
	}
	return users
}

// formatWindowsVersion builds "Windows 11 Pro 23H2 (build 22631.3880)" from
// the CurrentVersion registry values. ProductName still says "Windows 10"
// on Windows 11, which is told apart by build number 22000 and later.
func formatWindowsVersion(product, display, build string, ubr uint64) string {
	if n, err := strconv.Atoi(build); err == nil && n >= 22000 {
		if rest, ok := strings.CutPrefix(product, "Windows 10"); ok {
			product = "Windows 11" + rest
		}
	}
	s := strings.TrimSpace(product + " " + display)
	if build != "" {
		b := build
		if ubr > 0 {
			b = fmt.Sprintf("%s.%d", build, ubr)
		}
		s = strings.TrimSpace(s + " (build " + b + ")")
	}
	return s
}
