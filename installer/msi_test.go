package installer

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// msiTable exports one table of an .msi with msiinfo, rows as tab-joined
// lines (the three header lines dropped).
func msiTable(t *testing.T, msi, table string) []string {
	t.Helper()
	out, err := exec.Command("msiinfo", "export", msi, table).CombinedOutput()
	if err != nil {
		t.Fatalf("msiinfo export %s: %v\n%s", table, err, out)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\r\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("msiinfo export %s: %q", table, out)
	}
	rows := lines[3:]
	for i := range rows {
		rows[i] = strings.TrimRight(rows[i], "\r")
	}
	return rows
}

func hasRow(rows []string, prefix string) bool {
	for _, r := range rows {
		if strings.HasPrefix(r, prefix) {
			return true
		}
	}
	return false
}

// TestMSITables builds the agent's MSI with wixl and reads its tables back
// with msiinfo: the file, the service and its control, the custom action
// that writes the config from the public properties, the major upgrade and
// the preset properties.
func TestMSITables(t *testing.T) {
	msi := filepath.Join(t.TempDir(), "tether-agent.msi")
	m := MSI{Version: "v1.2.3-4-gabcdef1", Binary: stubBinary(t, "tether-agent.exe"),
		Properties: map[string]string{PropServer: "https://tether.example:8443", PropToken: "tet_abc-DEF_1"}}
	if err := m.Build(t.Context(), msi); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ table, row string }{
		{"File", "AgentExe\tAgent\ttether-agent.exe\t"},
		{"Directory", "INSTALLDIR\tProgramFiles64Folder\tTether"},
		{"ServiceInstall", "AgentService\ttether-agent\tTether Agent\t16\t2\t1\t\t\tLocalSystem\t\tservice --config \"[CommonAppDataFolder]Tether\\agent.yaml\" --state \"[CommonAppDataFolder]Tether\\state\"\tAgent\t"},
		// 163: start on install, stop on install and uninstall, delete on uninstall.
		{"ServiceControl", "AgentServiceControl\ttether-agent\t163\t\t1\tAgent"},
		// 3090: an exe from the File table (18), deferred (1024), not impersonated (2048).
		{"CustomAction", `WriteConfig	3090	AgentExe	install --config-only --config "[CommonAppDataFolder]Tether\agent.yaml" --state "[CommonAppDataFolder]Tether\state" --server "[SERVER_URL]" --token "[ENROLL_TOKEN]" --fingerprint "[FINGERPRINT]"`},
		{"InstallExecuteSequence", "WriteConfig\tSERVER_URL AND NOT REMOVE\t"},
		{"Upgrade", "{" + UpgradeCode + "}\t\t1.2.3004\t\t1\t"},
		{"Property", "ProductVersion\t1.2.3004"},
		{"Property", "SERVER_URL\thttps://tether.example:8443"},
		{"Property", "ENROLL_TOKEN\ttet_abc-DEF_1"},
		{"Property", "MsiHiddenProperties\tENROLL_TOKEN"},
		{"Property", "SecureCustomProperties\t" + secureProperties},
	}
	for _, c := range checks {
		if rows := msiTable(t, msi, c.table); !hasRow(rows, c.row) {
			t.Errorf("%s lacks the row %q; it holds:\n%s", c.table, c.row, strings.Join(rows, "\n"))
		}
	}
	// The custom action runs the installed exe, so it must come after
	// InstallFiles and before StartServices (the service needs the config).
	// wixl's Before= gave it a different number from build to build.
	seq := map[string]int{}
	for _, row := range msiTable(t, msi, "InstallExecuteSequence") {
		if f := strings.Split(row, "\t"); len(f) == 3 {
			seq[f[0]], _ = strconv.Atoi(f[2])
		}
	}
	if !(seq["InstallFiles"] < seq["WriteConfig"] && seq["InstallServices"] < seq["WriteConfig"] && seq["WriteConfig"] < seq["StartServices"]) {
		t.Errorf("sequence: WriteConfig %d must lie after InstallFiles %d and InstallServices %d and before StartServices %d",
			seq["WriteConfig"], seq["InstallFiles"], seq["InstallServices"], seq["StartServices"])
	}
	if hasRow(msiTable(t, msi, "Property"), "FINGERPRINT\t") {
		t.Error("an unset property was preset")
	}
}

// TestMSIStamp presets properties in a built MSI, replacing earlier ones,
// and refuses values that could break out of the property.
func TestMSIStamp(t *testing.T) {
	msi := filepath.Join(t.TempDir(), "tether-agent.msi")
	m := MSI{Version: "v1.0.0", Binary: stubBinary(t, "tether-agent.exe"), Properties: map[string]string{PropServer: "https://old.example"}}
	if err := m.Build(t.Context(), msi); err != nil {
		t.Fatal(err)
	}
	err := Stamp(t.Context(), msi, map[string]string{PropServer: "https://new.example:8443", PropFingerprint: "ab:cd"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows := msiTable(t, msi, "Property")
	if !hasRow(rows, "SERVER_URL\thttps://new.example:8443") || hasRow(rows, "SERVER_URL\thttps://old.example") || !hasRow(rows, "FINGERPRINT\tab:cd") {
		t.Errorf("stamped properties:\n%s", strings.Join(rows, "\n"))
	}
	for _, bad := range []map[string]string{
		{PropServer: "https://x' OR '1'='1"},
		{PropToken: "[ProgramFilesFolder]"},
		{PropToken: `a" --server "https://evil`},
		{"OTHER": "x"},
	} {
		if err := Stamp(t.Context(), msi, bad, nil); err == nil {
			t.Errorf("Stamp(%v) accepted", bad)
		}
	}
}

func TestMSIVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":               "1.2.3000",
		"v1.2.3-4-gabc1234":    "1.2.3004",
		"pre-core-10-g8d3aa1d": "0.0.10",
		"8d3aa1d":              "0.0.0",
		"v300.1.70-2-gabcdef0": "255.1.65535",
		"v0.9.0-e2e":           "0.9.0",
	} {
		if got := MSIVersion(in); got != want {
			t.Errorf("MSIVersion(%q) = %s, want %s", in, got, want)
		}
	}
}
