package installer

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// stubBinary stands in for a real binary: the packages' layout does not
// depend on what it holds.
func stubBinary(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho "+name+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func buildPackage(t *testing.T, p Linux, format string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), p.FileName(format))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := p.Build(format, f); err != nil {
		t.Fatal(err)
	}
	return path
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDebContents builds both .deb packages and reads them back with
// dpkg-deb: files, modes, the conffile that upgrades keep, the maintainer
// scripts, the version.
func TestDebContents(t *testing.T) {
	tests := []struct {
		c        Component
		files    []string // path and mode as dpkg-deb -c prints them
		conffile string
		scripts  []string
	}{
		{Agent, []string{
			"-rwxr-xr-x root/root ./usr/bin/tether-agent",
			"-rw-r--r-- root/root ./usr/lib/systemd/system/tether-agent.service",
			"-rw------- root/root ./etc/tether/agent.yaml",
			"-rw-r--r-- root/root ./usr/share/applications/tether-code.desktop",
		}, "/etc/tether/agent.yaml", []string{"postinst", "prerm", "postrm"}},
		{Server, []string{
			"-rwxr-xr-x root/root ./usr/bin/tether-server",
			"-rw-r--r-- root/root ./usr/lib/systemd/system/tether-server.service",
			"-rw-r----- root/root ./etc/tether/server.yaml",
		}, "/etc/tether/server.yaml", []string{"preinst", "postinst", "prerm", "postrm"}},
	}
	for _, tc := range tests {
		t.Run(string(tc.c), func(t *testing.T) {
			p := Linux{Component: tc.c, Version: "v1.4.2-3-gabcdef1", Arch: "amd64", Binary: stubBinary(t, string(tc.c))}
			deb := buildPackage(t, p, Deb)
			if got := filepath.Base(deb); got != string(tc.c)+"_1.4.2-4.gabcdef1_amd64.deb" {
				t.Errorf("file name %s", got)
			}
			listing := run(t, "dpkg-deb", "-c", deb)
			for _, want := range tc.files {
				mode, path, _ := strings.Cut(want, " root/root ")
				re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(mode) + ` root/root\s+\d+ \S+ \S+ ` + regexp.QuoteMeta(path) + `$`)
				if !re.MatchString(listing) {
					t.Errorf("%s lacks %s; it holds:\n%s", filepath.Base(deb), want, listing)
				}
			}
			if v := strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, "Version")); v != "1.4.2-4.gabcdef1" {
				t.Errorf("version %q", v)
			}
			ctl := t.TempDir()
			run(t, "dpkg-deb", "-e", deb, ctl)
			conf, _ := os.ReadFile(filepath.Join(ctl, "conffiles"))
			if strings.TrimSpace(string(conf)) != tc.conffile {
				t.Errorf("conffiles %q, want %s", conf, tc.conffile)
			}
			for _, s := range tc.scripts {
				fi, err := os.Stat(filepath.Join(ctl, s))
				if err != nil || fi.Mode()&0o111 == 0 {
					t.Errorf("maintainer script %s: %v", s, err)
				}
			}
			if prerm, _ := os.ReadFile(filepath.Join(ctl, "prerm")); !bytes.Contains(prerm, []byte("systemctl disable --now "+string(tc.c)+".service")) {
				t.Errorf("prerm does not stop %s:\n%s", tc.c, prerm)
			}
		})
	}
}

// TestRPMContents reads both .rpm packages back with rpm itself.
func TestRPMContents(t *testing.T) {
	for _, c := range []Component{Agent, Server} {
		t.Run(string(c), func(t *testing.T) {
			p := Linux{Component: c, Version: "v1.4.2", Arch: "amd64", Binary: stubBinary(t, string(c))}
			rpm := buildPackage(t, p, RPM)
			if got := filepath.Base(rpm); got != string(c)+"-1.4.2-1.x86_64.rpm" {
				t.Errorf("file name %s", got)
			}
			files := run(t, "rpm", "-qlp", rpm)
			for _, want := range []string{"/usr/bin/" + string(c), "/usr/lib/systemd/system/" + string(c) + ".service", ConfigPath(c)} {
				if !strings.Contains(files, want+"\n") {
					t.Errorf("%s lacks %s; it holds:\n%s", filepath.Base(rpm), want, files)
				}
			}
			if conf := run(t, "rpm", "-qcp", rpm); strings.TrimSpace(conf) != ConfigPath(c) {
				t.Errorf("config files %q", conf)
			}
			info := run(t, "rpm", "-qp", "--queryformat", "%{NAME} %{VERSION} %{RELEASE} %{ARCH}", rpm)
			if info != string(c)+" 1.4.2 1 x86_64" {
				t.Errorf("rpm header %q", info)
			}
			scripts := run(t, "rpm", "-qp", "--scripts", rpm)
			for _, want := range []string{"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet"} {
				if !strings.Contains(scripts, want) {
					t.Errorf("rpm lacks its %s:\n%s", want, scripts)
				}
			}
		})
	}
}

// TestUnitsVerify runs systemd-analyze verify on both units as the
// packages install them, with ExecStart pointing into the unpacked tree
// (verify insists that the program exists).
func TestUnitsVerify(t *testing.T) {
	root := t.TempDir()
	var units []string
	for _, c := range []Component{Agent, Server} {
		deb := buildPackage(t, Linux{Component: c, Version: "v1.0.0", Arch: "amd64", Binary: stubBinary(t, string(c))}, Deb)
		run(t, "dpkg-deb", "-x", deb, root)
		unit, err := os.ReadFile(filepath.Join(root, "usr/lib/systemd/system", string(c)+".service"))
		if err != nil {
			t.Fatal(err)
		}
		unit = bytes.ReplaceAll(unit, []byte("/usr/bin/"+string(c)), []byte(filepath.Join(root, "usr/bin", string(c))))
		path := filepath.Join(t.TempDir(), string(c)+".service")
		if err := os.WriteFile(path, unit, 0o644); err != nil {
			t.Fatal(err)
		}
		units = append(units, path)
	}
	cmd := exec.Command("systemd-analyze", append([]string{"verify"}, units...)...)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestServerUnitSandbox keeps the server unit's sandboxing: a unit that
// lost a line still verifies, so the lines are checked one by one.
func TestServerUnitSandbox(t *testing.T) {
	unit, err := linuxFiles.ReadFile("linux/tether-server.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"User=tether", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
		"PrivateTmp=yes", "PrivateDevices=yes", "ReadWritePaths=/var/lib/tether", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
		"SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).Match(unit) {
			t.Errorf("tether-server.service lacks %s", want)
		}
	}
}

// TestConfigStamped: a package built with a configuration carries it as
// it is.
func TestConfigStamped(t *testing.T) {
	cfg := []byte("server: \"https://tether.example:8443\"\ntoken: \"tok\"\n")
	deb := buildPackage(t, Linux{Component: Agent, Version: "v1.0.0", Arch: "amd64", Binary: stubBinary(t, "tether-agent"), Config: cfg}, Deb)
	root := t.TempDir()
	run(t, "dpkg-deb", "-x", deb, root)
	got, err := os.ReadFile(filepath.Join(root, "etc/tether/agent.yaml"))
	if err != nil || !bytes.Equal(got, cfg) {
		t.Fatalf("agent.yaml %q (%v), want %q", got, err, cfg)
	}
}

func TestPackageVersion(t *testing.T) {
	tests := []struct{ in, version, release string }{
		{"v1.2.3", "1.2.3", "1"},
		{"1.2.3", "1.2.3", "1"},
		{"v1.2.3-dirty", "1.2.3", "1.dirty"},
		{"v1.2.3-4-gabc1234", "1.2.3", "5.gabc1234"},
		{"v1.2.3-4-gabc1234-dirty", "1.2.3", "5.gabc1234.dirty"},
		{"pre-core-10-g8d3aa1d", "0.0.0", "10.g8d3aa1d"},
		{"pre-core-10-g8d3aa1d-dirty", "0.0.0", "10.g8d3aa1d.dirty"},
		{"8d3aa1d", "0.0.0", "0.g8d3aa1d"},
		{"dev", "0.0.0", "0"},
		{"v0.9.0-e2e", "0.9.0", "0.e2e"},
		{"v2.0.0-rc.1", "2.0.0", "0.rc.1"},
	}
	for _, tc := range tests {
		v, r := PackageVersion(tc.in)
		if v != tc.version || r != tc.release {
			t.Errorf("PackageVersion(%q) = %s, %s; want %s, %s", tc.in, v, r, tc.version, tc.release)
		}
	}
}

func TestBuildRefusesBadInput(t *testing.T) {
	bin := stubBinary(t, "tether-agent")
	tests := []struct {
		name   string
		p      Linux
		format string
		want   string
	}{
		{"unknown component", Linux{Component: "tether-x", Version: "v1.0.0", Arch: "amd64", Binary: bin}, Deb, "unknown component"},
		{"unknown format", Linux{Component: Agent, Version: "v1.0.0", Arch: "amd64", Binary: bin}, "apk", "unknown format"},
		{"no binary", Linux{Component: Agent, Version: "v1.0.0", Arch: "amd64", Binary: filepath.Join(t.TempDir(), "none")}, Deb, "no such file"},
	}
	for _, tc := range tests {
		var b bytes.Buffer
		err := tc.p.Build(tc.format, &b)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
		if b.Len() != 0 {
			t.Errorf("%s: wrote %d bytes", tc.name, b.Len())
		}
	}
}

// TestDesktopEntry: the code entry for desktops without a tray icon is a
// valid desktop entry that runs `tether-agent code`.
func TestDesktopEntry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tether-code.desktop")
	body, err := linuxFiles.ReadFile("linux/tether-code.desktop")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, body, 0o644)
	run(t, "desktop-file-validate", path)
	if !bytes.Contains(body, []byte("\nExec=/usr/bin/tether-agent code\n")) {
		t.Errorf("the entry does not run tether-agent code:\n%s", body)
	}
}
