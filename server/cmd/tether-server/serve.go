package main

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"github.com/tetherdesk/tether/installer"
	"github.com/tetherdesk/tether/server/api"
	"github.com/tetherdesk/tether/server/app"
	"github.com/tetherdesk/tether/server/cluster"
	"github.com/tetherdesk/tether/server/config"
	"github.com/tetherdesk/tether/server/console"
	hubpkg "github.com/tetherdesk/tether/server/hub"
	"github.com/tetherdesk/tether/server/park"
	"github.com/tetherdesk/tether/server/portmux"
	"github.com/tetherdesk/tether/server/releases"
	"github.com/tetherdesk/tether/server/signal"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/server/store/sqlstore"
	"github.com/tetherdesk/tether/server/tlsutil"
	"github.com/tetherdesk/tether/server/turnrelay"
	"github.com/tetherdesk/tether/shared/protocol"
	"github.com/tetherdesk/tether/shared/version"
)

// AdminPasswordFile holds the first administrator's generated password in
// the data directory (mode 0600), so a local operator can read it again.
const AdminPasswordFile = "initial-admin-password"

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// DBFile is the SQLite store's file in the data directory.
const DBFile = "tether.db"

// openStore opens PostgreSQL when dsn is set, else SQLite in dataDir, with
// the audit chain keyed by auditKey (see auditKey).
func openStore(ctx context.Context, dataDir, dsn string, auditKey []byte, opts ...sqlstore.Option) (store.Store, error) {
	opts = append([]sqlstore.Option{sqlstore.WithAuditKey(auditKey)}, opts...)
	if dsn != "" {
		return sqlstore.OpenPostgres(ctx, dsn, opts...)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	return sqlstore.OpenSQLite(ctx, filepath.Join(dataDir, DBFile), opts...)
}

// auditKey is the audit chain's key, derived from the server secret: it
// lives outside the database, so whoever can write the database cannot
// rewrite the chain.
func auditKey(secret []byte) []byte { return subKey(secret, "audit chain") }

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	config.Flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	cfg, err := config.Load(fs)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat).With("component", "server")

	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	secret, err := loadOrCreateSecret(cfg.Data)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg.Data, cfg.DB, auditKey(secret))
	if err != nil {
		return err
	}
	defer st.Close()

	// The certificate and the listener come first: the service tells
	// installers the public URL and the certificate's fingerprint, and the
	// relay shares the port.
	var tlsCfg *tls.Config
	fingerprint := ""
	if !cfg.InsecureHTTP {
		var cert tls.Certificate
		if cfg.TLSCert != "" {
			cert, err = tlsutil.Load(cfg.TLSCert, cfg.TLSKey)
		} else {
			cert, err = tlsutil.LoadOrCreate(cfg.Data, cfg.TLSHosts)
		}
		if err != nil {
			return err
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		fingerprint = tlsutil.Fingerprint(cert)
	}
	raw, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	// One port for HTTPS and TURN over TCP and TLS: the mux sorts each
	// connection by its first bytes.
	mux := portmux.New(raw, tlsCfg, log)
	defer mux.Close()
	go mux.Serve()
	ln := mux.HTTP()
	scheme := "https"
	if tlsCfg == nil {
		scheme = "http"
	}
	// The relay asks the service whether a credential's session and user
	// still stand; the service is made further down.
	var relaySvc atomic.Pointer[app.Service]
	authorize := func(sessionID, subject string) bool {
		s := relaySvc.Load()
		if s == nil {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return s.RelayAllowed(ctx, sessionID, subject)
	}
	relay, err := startTURN(cfg, secret, authorize, mux, log)
	if err != nil {
		return err
	}
	if relay != nil {
		defer relay.Close()
	}
	if relay == nil || !cfg.TURNOnListen {
		mux.TURN().Close() // a STUN message on the port is then dropped
	}
	// Several nodes: NATS carries wake-ups and cache invalidations
	// between them; one node needs neither.
	var (
		bus             *cluster.Bus
		wake            hubpkg.Notifier // nil: the service's own
		policiesChanged func()
	)
	if cfg.NATS != "" {
		node := cfg.NodeName
		if node == "" {
			h, _ := os.Hostname()
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			node = h + ":" + port
		}
		if bus, err = cluster.Open(cluster.Config{URL: cfg.NATS, Listen: cfg.NATSListen, Node: node, Logger: log}); err != nil {
			return err
		}
		defer bus.Close()
		clustered, err := hubpkg.NewClustered(bus, log)
		if err != nil {
			return err
		}
		defer clustered.Close()
		wake = clustered
		policiesChanged = func() {
			if err := bus.Publish(policiesSubject, nil); err != nil {
				log.Warn("telling the other nodes of a policy change (they see it within 2 s anyway)", "err", err)
			}
		}
		log.Info("joining other server nodes through NATS", "node", node, "nats", cfg.NATS)
	}
	sigCfg := signal.Config{Logger: log, RelayOnly: cfg.ICERelayOnly}
	if relay != nil {
		sigCfg.ICE = relay.ICEServers
	}
	hub, err := signal.New(sigCfg)
	if err != nil {
		return err
	}
	// The signalling's session events reach every node's sockets.
	var sigRelay signal.Relay = hub
	var clusteredRelay *signal.Clustered
	if bus != nil {
		if clusteredRelay, err = signal.NewClustered(hub, bus); err != nil {
			hub.Close()
			return err
		}
		sigRelay = clusteredRelay
	}
	defer sigRelay.Close()

	if cfg.RecordingDir != "" {
		if err := os.MkdirAll(cfg.RecordingDir, 0o700); err != nil {
			return fmt.Errorf("create the recordings directory: %w", err)
		}
	}

	url := cfg.PublicURL
	if url == "" {
		url = scheme + "://" + displayAddr(ln.Addr().String())
	}

	svc, err := app.New(app.Config{Store: st, Hub: wake, PoliciesChanged: policiesChanged, Logger: log, Now: serverClock(log), PollHold: cfg.PollHold, CodeTTL: cfg.CodeTTL, Events: sigRelay, SecretKey: subKey(secret, "session agent tokens"),
		PublicURL: strings.TrimSuffix(url, "/"), Fingerprint: fingerprint, HashConcurrency: cfg.LoginConcurrency,
		EnrollPerAddress: cfg.EnrollRate, EnrollPerToken: cfg.EnrollRate,
		RecordingDir: cfg.RecordingDir, RecordingMaxBytes: cfg.RecordingMaxBytes,
		Releases: releases.Open(filepath.Join(cfg.Data, ReleasesDir)), Signing: signing(cfg)})
	if err != nil {
		return err
	}
	defer svc.Close()
	relaySvc.Store(svc)
	if clusteredRelay != nil {
		clusteredRelay.SetViewerKeep(func(userID string) func(string) bool {
			return svc.ViewerKeep(context.Background(), userID)
		})
	}
	if bus != nil {
		unsub, err := bus.Subscribe(policiesSubject, func([]byte) { svc.ClearPolicies() })
		if err != nil {
			return err
		}
		defer unsub()
		bus.OnReconnect(svc.ClearPolicies)
	}

	// The audit chain as found at start: its newest records and its anchor.
	// A broken chain is reported (log, /readyz, metrics), and the server
	// serves on; "tether-server audit verify" checks the whole chain.
	if check, err := svc.CheckAuditChain(ctx, app.AuditTailRecords); err != nil {
		log.Error("audit chain check failed", "err", err)
	} else if !check.Intact() {
		log.Error("audit chain broken (run tether-server audit verify)", "seq", check.FirstBad, "problem", check.Problem)
	} else {
		log.Info("audit chain intact", "records_checked", check.Records)
	}

	if pw, made, err := svc.BootstrapAdmin(ctx, cfg.AdminName); err != nil {
		return fmt.Errorf("create first administrator: %w", err)
	} else if made {
		pwFile := filepath.Join(cfg.Data, AdminPasswordFile)
		if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", pwFile, err)
		}
		fmt.Fprintf(stdout, "First administrator created.\n  name:     %s\n  password: %s\n  (also in %s; shown once here)\n", cfg.AdminName, pw, pwFile)
	}

	if fingerprint != "" {
		fmt.Fprintf(stdout, "TLS certificate SHA-256 fingerprint: %s\n", fingerprint)
	}

	// Held polls wait parked, off net/http's goroutines.
	lot, err := park.New(log, idleTimeout)
	if err != nil {
		return fmt.Errorf("park: %w", err)
	}
	defer lot.Close()
	ln = lot.Listener(ln)
	apiCfg := api.Config{Service: svc, Park: lot, Logger: log, SecureCookies: tlsCfg != nil, Extra: console.Register, Signal: sigRelay,
		MetricsToken: cfg.MetricsToken, MetricsElsewhere: cfg.MetricsListen != "", TrustedProxies: cfg.TrustedProxies}
	if bus != nil {
		apiCfg.Cluster = bus
	}
	handler, err := api.Handler(apiCfg)
	if err != nil {
		return err
	}
	if cfg.MetricsListen != "" {
		stopMetrics, err := serveMetrics(cfg.MetricsListen, cfg.MetricsToken, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	fmt.Fprintf(stdout, "Tether server %s listening; console: %s/\n", version.Version, strings.TrimSuffix(url, "/"))

	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	svc.Close()      // releases held polls at once
	sigRelay.Close() // closes signalling websockets (hijacked: Shutdown does not wait for them)
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// idleTimeout is how long a connection may wait for its next request,
// in net/http or parked.
const idleTimeout = 2 * time.Minute

// policiesSubject tells the other nodes to drop their cached effective
// policies.
const policiesSubject = "tether.policies"

// SecretFile holds the server's random secret (mode 0600) from which the
// TURN credential key, the session agent token key and the audit chain key
// are derived; nodes sharing one PostgreSQL need the same file, and so do
// the offline commands run against that database.
const SecretFile = "server-secret"

// readSecret reads DIR/server-secret; os.ErrNotExist when there is none.
func readSecret(dir string) ([]byte, error) {
	path := filepath.Join(dir, SecretFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read server secret: %w", err)
	}
	sec, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(sec) < 32 {
		return nil, fmt.Errorf("%s: want at least 64 hex digits", path)
	}
	return sec, nil
}

// loadOrCreateSecret reads DIR/server-secret, creating it on first start.
func loadOrCreateSecret(dir string) ([]byte, error) {
	sec, err := readSecret(dir)
	if !errors.Is(err, os.ErrNotExist) {
		return sec, err
	}
	path := filepath.Join(dir, SecretFile)
	sec = make([]byte, 32)
	if _, err := rand.Read(sec); err != nil {
		return nil, fmt.Errorf("make server secret: %w", err)
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(sec)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write server secret: %w", err)
	}
	return sec, nil
}

// subKey derives an independent key for one purpose from the secret.
func subKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// startTURN starts the embedded relay unless turn_listen is off. A relay
// that cannot listen (the port is taken) is logged and left out, unless
// media must be relayed (ice_relay_only), which then fails the start.
func startTURN(cfg config.Config, secret []byte, authorize func(sessionID, subject string) bool, mux *portmux.Mux, log *slog.Logger) (*turnrelay.Server, error) {
	if cfg.TURNListen == "" {
		return nil, nil
	}
	relayIP := cfg.TURNRelayIP
	if relayIP == nil {
		turnHost, _, _ := net.SplitHostPort(cfg.TURNListen)
		httpHost, _, _ := net.SplitHostPort(cfg.Listen)
		if config.IsLoopback(turnHost) || config.IsLoopback(httpHost) {
			relayIP = net.IPv4(127, 0, 0, 1).To4()
		} else if relayIP = turnrelay.DefaultRelayIP(turnHost); relayIP == nil {
			log.Warn("no non-loopback IPv4 address for the TURN relay; using 127.0.0.1 (set turn_relay_ip)")
			relayIP = net.IPv4(127, 0, 0, 1).To4()
		}
	}
	rc := turnrelay.Config{Listen: cfg.TURNListen, RelayIP: relayIP, Secret: subKey(secret, "turn credentials"), Logger: log,
		AllowPrivate: cfg.TURNAllowPrivate, Authorize: authorize}
	if cfg.TURNOnListen {
		rc.Streams, rc.PublicTLS = []net.Listener{mux.TURN()}, mux.TLS()
		rc.PublicStream = publicStream(cfg.PublicURL, relayIP, mux.HTTP().Addr())
		_, turnPort, _ := net.SplitHostPort(cfg.TURNListen)
		_, httpPort, _ := net.SplitHostPort(mux.HTTP().Addr().String())
		rc.UDPOnly = turnPort == httpPort // TCP on that port is the mux's
	}
	relay, err := turnrelay.Start(rc)
	if err != nil {
		if cfg.ICERelayOnly {
			return nil, err
		}
		log.Error("TURN relay not started; sessions connect only where a direct path exists", "err", err)
		return nil, nil
	}
	return relay, nil
}

// publicStream is host:port of the HTTPS port as clients reach it: the
// public URL's, else the relay address with the port listened on.
func publicStream(publicURL string, relayIP net.IP, listen net.Addr) string {
	if u, err := neturl.Parse(publicURL); err == nil && u.Hostname() != "" {
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80"}[u.Scheme]
		}
		if port == "" {
			port = "443"
		}
		return net.JoinHostPort(u.Hostname(), port)
	}
	_, port, _ := net.SplitHostPort(listen.String())
	return net.JoinHostPort(relayIP.String(), port)
}

// serveMetrics serves /metrics alone on addr (metrics_listen), plain HTTP:
// to anyone who reaches that address, or with token to its bearers.
func serveMetrics(addr, token string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics_listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", api.MetricsHandler(token, false))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	log.Info("metrics listening", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}

// displayAddr turns a wildcard listen address into one a browser can open.
func displayAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		} else {
			host = "localhost"
		}
	}
	return net.JoinHostPort(host, port)
}

// storeFlags are shared by the offline subcommands.
func storeFlags(fs *pflag.FlagSet) (data, db *string) {
	return fs.String("data", "./tether-data", "data directory: the server secret, and the SQLite store unless --db is given"),
		fs.String("db", "", "PostgreSQL URL instead of SQLite")
}

// offlineSecret is the server secret for a command that writes to the
// store outside the server. It is created only with a new SQLite store (the
// command runs before the server's first start); otherwise a missing secret
// is an error, since a secret made up here would key the audit records this
// command writes differently from the server's.
func offlineSecret(data, db string) ([]byte, error) {
	sec, err := readSecret(data)
	if !errors.Is(err, os.ErrNotExist) {
		return sec, err
	}
	if db == "" {
		if _, serr := os.Stat(filepath.Join(data, DBFile)); errors.Is(serr, os.ErrNotExist) {
			if err := os.MkdirAll(data, 0o700); err != nil {
				return nil, fmt.Errorf("create data directory: %w", err)
			}
			return loadOrCreateSecret(data)
		}
	}
	return nil, fmt.Errorf("no %s in %s: the audit chain's key derives from the server's secret; pass --data with a copy of the server's data directory (or of its %s)", SecretFile, data, SecretFile)
}

func offlineService(ctx context.Context, data, db string, stderr io.Writer) (*app.Service, func(), error) {
	secret, err := offlineSecret(data, db)
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(ctx, data, db, auditKey(secret))
	if err != nil {
		return nil, nil, err
	}
	svc, err := app.New(app.Config{Store: st, Logger: newLogger(stderr, "warn", "text")})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return svc, func() { svc.Close(); st.Close() }, nil
}

func userAdd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("user add", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	data, db := storeFlags(fs)
	name := fs.String("name", "", "account name")
	roles := fs.StringArray("role", nil, `role name, or "Role@Group" to scope it to one computer group; repeatable`)
	pwStdin := fs.Bool("password-stdin", false, "read the password from standard input (first line)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *name == "" || len(*roles) == 0 || !*pwStdin {
		fmt.Fprintln(stderr, "user add needs --name, at least one --role and --password-stdin")
		return errUsage
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	svc, done, err := offlineService(ctx, *data, *db, stderr)
	if err != nil {
		return err
	}
	defer done()
	u, err := svc.AddUser(ctx, protocol.CreateUserRequest{Name: *name, Password: strings.TrimRight(line, "\r\n"), Roles: *roles})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "user %s created with roles: %s\n", u.Name, strings.Join(u.Roles, ", "))
	return nil
}

func tokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("token create", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	data, db := storeFlags(fs)
	group := fs.String("group", store.DefaultGroup, "computer group the token enrolls into")
	ttl := fs.Int("ttl-hours", 0, "hours until the token expires (0: never)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	svc, done, err := offlineService(ctx, *data, *db, stderr)
	if err != nil {
		return err
	}
	defer done()
	t, err := svc.IssueEnrollmentToken(ctx, protocol.CreateTokenRequest{Group: *group, TTLHours: *ttl}, "cli", true)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, t.Token)
	return nil
}

func printVersion(w io.Writer) error {
	_, err := fmt.Fprintf(w, "tether-server %s (agent protocol %d)\n", version.Version, protocol.Version)
	return err
}

// signing is what signs the installers the console downloads.
func signing(cfg config.Config) installer.Signing {
	s := installer.Signing{GPGKey: cfg.SignGPGKey, GPGPassphrase: cfg.SignGPGPassphrase}
	if cfg.SignCert != "" {
		s.Authenticode = &installer.Authenticode{Cert: cfg.SignCert, Key: cfg.SignKey}
	}
	return s
}
