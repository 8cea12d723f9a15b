package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func load(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	Flags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return Load(fs)
}

func TestDefaults(t *testing.T) {
	c, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":8443" || c.PollHold != 2*time.Minute || c.InsecureHTTP || c.Data != "./tether-data" || c.EnrollRate != 600 {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestInsecureHTTPOnlyOnLoopback(t *testing.T) {
	for _, tc := range []struct {
		listen string
		ok     bool
	}{{"127.0.0.1:8080", true}, {"[::1]:8080", true}, {"localhost:8080", true}, {":8080", false}, {"0.0.0.0:8080", false}, {"10.0.0.1:80", false}} {
		_, err := load(t, "--listen", tc.listen, "--insecure-http")
		if (err == nil) != tc.ok {
			t.Errorf("listen %s: err = %v, want ok=%v", tc.listen, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "loopback") {
			t.Errorf("error does not say why: %v", err)
		}
	}
}

func TestPrecedenceFileEnvFlag(t *testing.T) {
	f := filepath.Join(t.TempDir(), "server.yaml")
	if err := os.WriteFile(f, []byte("listen: 127.0.0.1:1111\npoll_hold: 5s\ndata: /from/file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TETHER_POLL_HOLD", "7s")
	t.Setenv("TETHER_DATA", "/from/env")
	c, err := load(t, "--config", f, "--data", "/from/flag")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:1111" || c.PollHold != 7*time.Second || c.Data != "/from/flag" {
		t.Fatalf("got listen=%s hold=%s data=%s", c.Listen, c.PollHold, c.Data)
	}
}

func TestBadValues(t *testing.T) {
	for _, args := range [][]string{{"--poll-hold", "soon"}, {"--db", "mysql://x"}, {"--tls-cert", "c.pem"}, {"--listen", "nocolon"}, {"--log-format", "xml"},
		{"--turn-allow-private", "maybe"}, {"--login-concurrency", "-1"}, {"--login-concurrency", "lots"}, {"--metrics-listen", "nocolon"},
		{"--enroll-rate", "0"}, {"--enroll-rate", "many"}, {"--trusted-proxies", "10.0.0.1, lb.example"},
		{"--recording-max-bytes", "1000"}, {"--recording-max-bytes", "2G"}} {
		if _, err := load(t, args...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestTrustedProxies(t *testing.T) {
	c, err := load(t, "--trusted-proxies", " 10.1.2.3/16, 127.0.0.1,::ffff:192.0.2.7 ")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range c.TrustedProxies {
		got = append(got, p.String())
	}
	if want := "10.1.0.0/16 127.0.0.1/32 192.0.2.7/32"; strings.Join(got, " ") != want {
		t.Fatalf("trusted proxies %v, want %s", got, want)
	}
}

// TestTURNAllowPrivate: private peers are reachable through the relay only
// when asked, or by default when the server runs on loopback (development).
func TestTURNAllowPrivate(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--listen", "127.0.0.1:8443"}, true},
		{[]string{"--turn-listen", "127.0.0.1:3478"}, true},
		{[]string{"--listen", "127.0.0.1:8443", "--turn-allow-private", "false"}, false},
		{[]string{"--turn-allow-private", "true"}, true},
	} {
		c, err := load(t, tc.args...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if c.TURNAllowPrivate != tc.want {
			t.Errorf("%v: TURNAllowPrivate = %v, want %v", tc.args, c.TURNAllowPrivate, tc.want)
		}
	}
}

func TestRecordingSettings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     string
		dir     string
		maxSize int64
	}{
		{"defaults: in the data directory, 2 GiB", []string{"--data", "/srv/tether"}, "", filepath.Join("/srv/tether", "recordings"), 2 << 30},
		{"a directory of its own", []string{"--recording-dir", "/mnt/shared/rec", "--recording-max-bytes", "1048576"}, "", "/mnt/shared/rec", 1 << 20},
		{"off", []string{"--recording-dir", "off"}, "", "", 2 << 30},
		{"from the environment", nil, "/from/env", "/from/env", 2 << 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("TETHER_RECORDING_DIR", tc.env)
			}
			c, err := load(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if c.RecordingDir != tc.dir || c.RecordingMaxBytes != tc.maxSize {
				t.Fatalf("recording_dir %q, recording_max_bytes %d; want %q, %d", c.RecordingDir, c.RecordingMaxBytes, tc.dir, tc.maxSize)
			}
		})
	}
}
