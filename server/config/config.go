// Package config reads the server's configuration from a file, TETHER_*
// environment variables and flags, in rising precedence, with one table of
// keys and defaults that the README documents.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Key documents one setting.
type Key struct {
	Name    string // file key; the flag is --name with _ as -
	Default string
	Doc     string
}

// Env is the environment variable of a key.
func (k Key) Env() string { return "TETHER_" + strings.ToUpper(k.Name) }

// Flag is the command-line flag of a key.
func (k Key) Flag() string { return "--" + strings.ReplaceAll(k.Name, "_", "-") }

// Keys lists every server setting.
var Keys = []Key{
	{"data", "./tether-data", "data directory: SQLite store, TLS certificate, first administrator's password file"},
	{"listen", ":8443", "address to listen on (host:port)"},
	{"db", "", "PostgreSQL URL (postgres://...); empty uses SQLite in the data directory"},
	{"insecure_http", "false", "serve plain HTTP; refused unless listen is a loopback address"},
	{"tls_hosts", "", "extra DNS names or IPs for the self-signed certificate, comma-separated"},
	{"tls_cert", "", "PEM certificate to use instead of the self-signed one"},
	{"tls_key", "", "PEM key for tls_cert"},
	{"public_url", "", "URL agents and browsers use to reach the server; derived from listen when empty"},
	{"poll_hold", "2m", "the longest an agent poll is held when nothing is pending (agents say how long they wait; older agents get at most 25s); keep it below the idle timeout of any load balancer or proxy in front of the server"},
	{"admin_name", "admin", "name of the first administrator, created on first start"},
	{"code_ttl", "15m", "how long a broker session's connection code stays valid (between 10s and 1h)"},
	{"turn_listen", ":3478", "embedded TURN relay address (host:port, UDP and TCP; port 0 picks a free one); off disables the relay"},
	{"turn_on_listen", "true", "also serve the TURN relay over TCP and TLS on the listen port, so TCP 443 alone carries sessions"},
	{"turn_relay_ip", "", "address in relayed candidates and TURN URLs; empty: 127.0.0.1 when turn_listen or listen is loopback, else the host's first non-loopback IPv4"},
	{"ice_relay_only", "false", "tell both sides of every session to use relayed (TURN) candidates only"},
	{"turn_allow_private", "auto", "let the TURN relay reach private addresses (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7): true, false, or auto (true only when turn_listen or listen is loopback); loopback, link-local, multicast and cloud metadata addresses are always refused"},
	{"metrics_listen", "", "serve /metrics on this separate address (host:port, plain HTTP) instead of the main one"},
	{"metrics_token", "", "bearer token /metrics requires; empty: /metrics answers loopback clients only"},
	{"enroll_rate", "600", "enrollments allowed per 10 minutes from one network address (an IPv6 /64) and with one enrollment token; raise it for a large rollout behind one NAT address"},
	{"login_concurrency", "0", "password checks (argon2id, 64 MiB each) allowed at once; 0 sizes it to the memory; beyond it sign-in answers 503 with Retry-After"},
	{"sign_gpg_key", "", "OpenPGP private key file that signs the .deb and .rpm installers the console downloads; empty: unsigned"},
	{"sign_gpg_passphrase", "", "passphrase of sign_gpg_key (better given as the environment variable than in a file)"},
	{"sign_cert", "", "code-signing certificate (PEM) for Authenticode on the .msi installers the console downloads; empty: unsigned"},
	{"sign_key", "", "private key (PEM) of sign_cert"},
	{"nats", "", "NATS joining several server nodes on one PostgreSQL store: nats://host:4222 (comma-separated for a NATS cluster), or embedded for a NATS server inside this process on nats_listen; empty: a single node"},
	{"nats_listen", "127.0.0.1:4222", "address of the embedded NATS server (nats embedded); other nodes connect to it with nats://this-address"},
	{"node_name", "", "this node's name in /readyz, metrics and logs; empty: the host name and the listen port"},
	{"trusted_proxies", "", "load balancers in front of the server (addresses or CIDR ranges, comma-separated) whose X-Forwarded-For names the client: the last address in it that is not one of them; empty: the connection's own address"},
	{"recording_dir", "", "directory of session recordings (WebM files, and uploads in progress); empty: recordings/ in the data directory; off: store no recordings (uploads answer 503). Nodes sharing one PostgreSQL store need one directory they all reach"},
	{"recording_max_bytes", "2147483648", "largest session recording upload accepted, in bytes (at least 1048576); a larger one answers 413"},
	{"log_level", "info", "debug, info, warn or error"},
	{"log_format", "text", "text or json"},
}

// Config is the resolved server configuration.
type Config struct {
	Data         string
	Listen       string
	DB           string
	InsecureHTTP bool
	TLSHosts     []string
	TLSCert      string
	TLSKey       string
	PublicURL    string
	PollHold     time.Duration
	CodeTTL      time.Duration
	AdminName    string
	LogLevel     string
	LogFormat    string
	TURNListen   string // "" when the relay is off
	TURNRelayIP  net.IP // nil: derived from TURNListen
	TURNOnListen bool
	ICERelayOnly bool
	// TURNAllowPrivate is resolved from turn_allow_private ("auto": true
	// only when the relay or the server listens on loopback).
	TURNAllowPrivate bool
	MetricsListen    string
	MetricsToken     string
	// NATS joins this node to others ("" alone, "embedded", nats://...).
	NATS             string
	NATSListen       string
	NodeName         string
	TrustedProxies   []netip.Prefix
	LoginConcurrency int
	EnrollRate       int
	// RecordingDir holds session recordings: recording_dir, or recordings/
	// in Data when that is empty; "" when recording_dir is off.
	RecordingDir      string
	RecordingMaxBytes int64
	// Signing of the installers downloaded from the console.
	SignGPGKey, SignGPGPassphrase string
	SignCert, SignKey             string
}

// Flags registers every key on fs, plus --config.
func Flags(fs *pflag.FlagSet) {
	fs.String("config", "", "configuration file (YAML, TOML or JSON)")
	for _, k := range Keys {
		name := strings.ReplaceAll(k.Name, "_", "-")
		if k.Default == "false" {
			fs.Bool(name, false, k.Doc)
		} else {
			fs.String(name, k.Default, k.Doc)
		}
	}
}

// Load resolves the configuration from fs (already parsed), the
// environment and the file named by --config.
func Load(fs *pflag.FlagSet) (Config, error) {
	v := viper.New()
	v.SetEnvPrefix("TETHER")
	for _, k := range Keys {
		v.SetDefault(k.Name, k.Default)
		if err := v.BindEnv(k.Name, k.Env()); err != nil {
			return Config{}, fmt.Errorf("bind %s: %w", k.Env(), err)
		}
		if f := fs.Lookup(strings.ReplaceAll(k.Name, "_", "-")); f != nil && f.Changed {
			if err := v.BindPFlag(k.Name, f); err != nil {
				return Config{}, fmt.Errorf("bind %s: %w", k.Flag(), err)
			}
		}
	}
	if f, _ := fs.GetString("config"); f != "" {
		v.SetConfigFile(f)
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("read config %s: %w", f, err)
		}
	}
	hold, err := time.ParseDuration(v.GetString("poll_hold"))
	if err != nil || hold <= 0 || hold > 10*time.Minute {
		return Config{}, fmt.Errorf("poll_hold %q: must be a duration between 1ms and 10m", v.GetString("poll_hold"))
	}
	ttl, err := time.ParseDuration(v.GetString("code_ttl"))
	if err != nil || ttl < 10*time.Second || ttl > time.Hour {
		return Config{}, fmt.Errorf("code_ttl %q: must be a duration between 10s and 1h", v.GetString("code_ttl"))
	}
	c := Config{
		CodeTTL: ttl,
		Data:    v.GetString("data"), Listen: v.GetString("listen"), DB: v.GetString("db"),
		InsecureHTTP: v.GetBool("insecure_http"), TLSCert: v.GetString("tls_cert"), TLSKey: v.GetString("tls_key"),
		PublicURL: v.GetString("public_url"), PollHold: hold, AdminName: v.GetString("admin_name"),
		LogLevel: v.GetString("log_level"), LogFormat: v.GetString("log_format"),
		TURNListen: v.GetString("turn_listen"), ICERelayOnly: v.GetBool("ice_relay_only"),
		TURNOnListen: v.GetBool("turn_on_listen"),
		SignGPGKey:   v.GetString("sign_gpg_key"), SignGPGPassphrase: v.GetString("sign_gpg_passphrase"),
		SignCert: v.GetString("sign_cert"), SignKey: v.GetString("sign_key"),
		NATS: strings.TrimSpace(v.GetString("nats")), NATSListen: strings.TrimSpace(v.GetString("nats_listen")),
		NodeName: strings.TrimSpace(v.GetString("node_name")),
	}
	for _, f := range strings.Split(v.GetString("trusted_proxies"), ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return Config{}, fmt.Errorf("trusted_proxies %q: want addresses or CIDR ranges", f)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, p.Masked())
	}
	if strings.EqualFold(c.TURNListen, "off") {
		c.TURNListen = ""
	}
	c.MetricsListen, c.MetricsToken = strings.TrimSpace(v.GetString("metrics_listen")), v.GetString("metrics_token")
	if n, err := strconv.Atoi(strings.TrimSpace(v.GetString("login_concurrency"))); err != nil || n < 0 || n > 1024 {
		return Config{}, fmt.Errorf("login_concurrency %q: want a number between 0 (sized to memory) and 1024", v.GetString("login_concurrency"))
	} else {
		c.LoginConcurrency = n
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v.GetString("enroll_rate"))); err != nil || n < 1 || n > 1_000_000 {
		return Config{}, fmt.Errorf("enroll_rate %q: want a number of enrollments per 10 minutes, 1 to 1000000", v.GetString("enroll_rate"))
	} else {
		c.EnrollRate = n
	}
	switch rd := strings.TrimSpace(v.GetString("recording_dir")); {
	case strings.EqualFold(rd, "off"):
	case rd == "":
		c.RecordingDir = filepath.Join(c.Data, "recordings")
	default:
		c.RecordingDir = rd
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(v.GetString("recording_max_bytes")), 10, 64); err != nil || n < 1<<20 {
		return Config{}, fmt.Errorf("recording_max_bytes %q: want a number of bytes, at least 1048576", v.GetString("recording_max_bytes"))
	} else {
		c.RecordingMaxBytes = n
	}
	switch ap := strings.ToLower(strings.TrimSpace(v.GetString("turn_allow_private"))); ap {
	case "true", "false":
		c.TURNAllowPrivate = ap == "true"
	case "auto", "":
		turnHost, _, _ := net.SplitHostPort(c.TURNListen)
		httpHost, _, _ := net.SplitHostPort(c.Listen)
		c.TURNAllowPrivate = IsLoopback(turnHost) || IsLoopback(httpHost)
	default:
		return Config{}, fmt.Errorf("turn_allow_private %q: want true, false or auto", ap)
	}
	if ip := strings.TrimSpace(v.GetString("turn_relay_ip")); ip != "" {
		if c.TURNRelayIP = net.ParseIP(ip); c.TURNRelayIP == nil {
			return Config{}, fmt.Errorf("turn_relay_ip %q: not an IP address", ip)
		}
	}
	for _, h := range strings.Split(v.GetString("tls_hosts"), ",") {
		if h = strings.TrimSpace(h); h != "" {
			c.TLSHosts = append(c.TLSHosts, h)
		}
	}
	return c, c.Check()
}

// Check validates the combination of settings.
func (c Config) Check() error {
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("listen %q: %w", c.Listen, err)
	}
	if c.InsecureHTTP && !IsLoopback(host) {
		return fmt.Errorf("insecure_http is allowed only on a loopback address, not %q: plain HTTP would expose passwords and agent secrets", c.Listen)
	}
	if (c.SignCert == "") != (c.SignKey == "") {
		return errors.New("sign_cert and sign_key must be given together")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("tls_cert and tls_key must be given together")
	}
	if c.DB != "" && !strings.HasPrefix(c.DB, "postgres://") && !strings.HasPrefix(c.DB, "postgresql://") {
		return fmt.Errorf("db must be a postgres:// URL")
	}
	if c.NATS != "" {
		if c.DB == "" {
			return errors.New("nats joins nodes that share one store: it needs db (PostgreSQL); SQLite serves a single node")
		}
		if c.NATS == "embedded" {
			if _, _, err := net.SplitHostPort(c.NATSListen); err != nil {
				return fmt.Errorf("nats_listen %q: %w", c.NATSListen, err)
			}
		} else {
			for _, u := range strings.Split(c.NATS, ",") {
				if u = strings.TrimSpace(u); !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
					return fmt.Errorf("nats %q: want embedded or nats:// URLs", u)
				}
			}
		}
	}
	if c.TURNListen != "" {
		if _, _, err := net.SplitHostPort(c.TURNListen); err != nil {
			return fmt.Errorf("turn_listen %q: %w", c.TURNListen, err)
		}
	} else if c.ICERelayOnly {
		return errors.New("ice_relay_only needs the TURN relay (turn_listen is off)")
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			return fmt.Errorf("metrics_listen %q: %w", c.MetricsListen, err)
		}
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("log_format %q: want text or json", c.LogFormat)
	}
	return nil
}

// IsLoopback reports whether host is localhost or a loopback IP.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
