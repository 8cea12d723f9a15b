package installer

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// plistDict reads the top dictionary of a property list: each key's value
// as strings (a string, each string of an array, or "true"/"false").
func plistDict(t *testing.T, b []byte) map[string][]string {
	t.Helper()
	var doc struct {
		Dict struct {
			Items []struct {
				XMLName xml.Name
				Value   string   `xml:",chardata"`
				Strings []string `xml:"string"`
			} `xml:",any"`
		} `xml:"dict"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("plist: %v", err)
	}
	out := map[string][]string{}
	items := doc.Dict.Items
	for i := 0; i+1 < len(items); i += 2 {
		k, v := items[i], items[i+1]
		if k.XMLName.Local != "key" {
			t.Fatalf("plist: %s where a key belongs", k.XMLName.Local)
		}
		switch v.XMLName.Local {
		case "string":
			out[k.Value] = []string{v.Value}
		case "array":
			out[k.Value] = v.Strings
		case "true", "false":
			out[k.Value] = []string{v.XMLName.Local}
		default:
			t.Fatalf("plist: %s holds a %s", k.Value, v.XMLName.Local)
		}
	}
	return out
}

// TestMacPayload checks the .pkg's inputs, which cannot be built into a
// .pkg here (pkgbuild is macOS's): the payload layout, the LaunchDaemon
// (the label and paths the agent's own `install` uses on macOS, started at
// boot and kept alive), the scripts' syntax, and the pkgbuild command.
func TestMacPayload(t *testing.T) {
	dir := t.TempDir()
	cfg := []byte("server: \"https://tether.example:8443\"\n")
	cmd, err := MacPayload(dir, stubBinary(t, "tether-agent"), "v1.2.3", cfg)
	if err != nil {
		t.Fatal(err)
	}
	for path, mode := range map[string]os.FileMode{
		"root/usr/local/bin/tether-agent":                            0o755,
		"root/Library/LaunchDaemons/tether-agent.plist":              0o644,
		"root/Library/Application Support/Tether/agent.yaml.default": 0o600,
		"scripts/preinstall":                                         0o755,
		"scripts/postinstall":                                        0o755,
	} {
		fi, err := os.Stat(filepath.Join(dir, path))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v (%v), want mode %v", path, fi.Mode(), err, mode)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "root/Library/Application Support/Tether/agent.yaml.default")); string(b) != string(cfg) {
		t.Errorf("the config carried: %q", b)
	}
	plist, _ := os.ReadFile(filepath.Join(dir, "root/Library/LaunchDaemons/tether-agent.plist"))
	d := plistDict(t, plist)
	want := map[string][]string{
		"Label":            {"tether-agent"},
		"ProgramArguments": {"/usr/local/bin/tether-agent", "service", "--config", "/Library/Application Support/Tether/agent.yaml"},
		"RunAtLoad":        {"true"},
		"KeepAlive":        {"true"},
	}
	for k, v := range want {
		if !slices.Equal(d[k], v) {
			t.Errorf("plist %s = %q, want %q", k, d[k], v)
		}
	}
	// The config path is the agent's default on macOS (agent/config,
	// paths_darwin.go), which this Linux test cannot import.
	src, err := os.ReadFile("../agent/config/paths_darwin.go")
	if err != nil || !strings.Contains(string(src), `"/Library/Application Support/Tether/agent.yaml"`) {
		t.Errorf("paths_darwin.go no longer names the config path the plist uses: %v", err)
	}
	for _, s := range []string{"preinstall", "postinstall"} {
		if out, err := exec.Command("sh", "-n", filepath.Join(dir, "scripts", s)).CombinedOutput(); err != nil {
			t.Errorf("%s: %v %s", s, err, out)
		}
	}
	if want := "pkgbuild --root root --scripts scripts --identifier com.tetherdesk.tether-agent --version 1.2.3 --install-location / tether-agent-1.2.3.pkg"; cmd != want {
		t.Errorf("command %q", cmd)
	}
}
