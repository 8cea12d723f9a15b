// Package cluster joins server nodes: a NATS connection for what one node
// must tell the others at once (an action queued for an agent whose poll
// another node holds, policies changed), and the node's name. The store
// (PostgreSQL) stays the one source of truth; what goes over NATS is a
// nudge to look at it again, so a message lost while NATS is away costs a
// delay, never data.
package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// Embedded is the Config.URL that starts a NATS server inside this
// process (development, tests, a cluster on one machine).
const Embedded = "embedded"

// Config says how a node joins the others.
type Config struct {
	// URL is the NATS server ("nats://host:4222", several comma-separated
	// for a cluster) or Embedded.
	URL string
	// Listen is the embedded server's address (host:port; port 0 picks a
	// free one).
	Listen string
	// Node is this node's name; empty: the host name.
	Node   string
	Logger *slog.Logger
}

// Bus is a node's connection to the others.
type Bus struct {
	nc   *nats.Conn
	srv  *natsserver.Server
	node string
	log  *slog.Logger

	mu          sync.Mutex
	onReconnect []func()
	reconnects  atomic.Int64
	alone       atomic.Bool // the first connection attempt failed
}

// Open joins the cluster. It waits for the first connection only briefly:
// a node whose NATS is not up yet serves on its own and connects when it
// comes (the client retries for ever).
func Open(cfg Config) (*Bus, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Node == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("cluster: node name: %w", err)
		}
		cfg.Node = h
	}
	b := &Bus{node: cfg.Node, log: cfg.Logger.With("component", "cluster")}
	url := cfg.URL
	if url == Embedded {
		srv, err := startEmbedded(cfg.Listen, cfg.Node)
		if err != nil {
			return nil, err
		}
		b.srv, url = srv, srv.ClientURL()
		b.log.Info("embedded NATS server listening", "url", url)
	}
	nc, err := nats.Connect(url,
		nats.Name("tether-server "+cfg.Node),
		nats.NoEcho(), // a node acts on its own changes directly
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.RetryOnFailedConnect(true),
		nats.PingInterval(5*time.Second),
		nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if c.IsClosed() {
				return // this node is leaving
			}
			b.log.Warn("NATS connection lost; other nodes' changes reach this one late until it is back", "err", err)
		}),
		nats.ReconnectHandler(func(*nats.Conn) { b.reconnected() }),
		nats.ConnectHandler(func(*nats.Conn) {
			// Where the first attempt failed, the node served alone
			// until now, as after a loss.
			if b.alone.Load() {
				b.reconnected()
			}
		}),
	)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("cluster: connecting to NATS at %s: %w", url, err)
	}
	b.nc = nc
	if !nc.IsConnected() {
		b.alone.Store(true)
		b.log.Warn("NATS is not reachable yet; this node serves alone until it is", "url", url)
	}
	b.register()
	return b, nil
}

// register exports the node's metrics: its name, whether it reaches NATS,
// and how often it came back after a loss.
func (b *Bus) register() {
	labels := prometheus.Labels{"node": b.node}
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tether_node_nats_connected", ConstLabels: labels,
			Help: "1 while this server node reaches NATS (the other nodes), 0 while it does not."}, func() float64 {
			if b.Connected() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tether_node_nats_reconnects_total", ConstLabels: labels,
			Help: "Times this server node's NATS connection came back after a loss."}, func() float64 { return float64(b.Reconnects()) }),
	} {
		// A second bus in one process (tests) keeps the first's metrics.
		_ = prometheus.Register(c)
	}
}

func startEmbedded(listen, node string) (*natsserver.Server, error) {
	if listen == "" {
		listen = "127.0.0.1:4222"
	}
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("cluster: embedded NATS address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("cluster: embedded NATS port %q: %w", portStr, err)
	}
	if port == 0 {
		port = natsserver.RANDOM_PORT
	}
	srv, err := natsserver.NewServer(&natsserver.Options{ServerName: node, Host: host, Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		return nil, fmt.Errorf("cluster: embedded NATS: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("cluster: embedded NATS did not start listening on %s", listen)
	}
	return srv, nil
}

// Node is this node's name.
func (b *Bus) Node() string { return b.node }

// Connected reports whether the node reaches NATS now.
func (b *Bus) Connected() bool { return b.nc != nil && b.nc.IsConnected() }

// Reconnects counts how often the connection came back after a loss.
func (b *Bus) Reconnects() int64 { return b.reconnects.Load() }

// URL is the NATS server the node is connected to ("" while it is not).
func (b *Bus) URL() string {
	if b.nc == nil {
		return ""
	}
	return b.nc.ConnectedUrlRedacted()
}

// Publish sends data to the other nodes' subscribers of subject. While
// NATS is away the client buffers a little and then drops: callers send
// nudges whose loss costs a delay.
func (b *Bus) Publish(subject string, data []byte) error {
	if err := b.nc.Publish(subject, data); err != nil {
		return fmt.Errorf("cluster: publish %s: %w", subject, err)
	}
	return nil
}

// Subscribe calls fn with each message other nodes publish on subject.
// The client subscribes again by itself after a reconnect.
func (b *Bus) Subscribe(subject string, fn func(data []byte)) (func(), error) {
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) { fn(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("cluster: subscribe %s: %w", subject, err)
	}
	// Nudges are small and handled at once; a slow handler must not make
	// the client drop the connection, so allow a deep queue.
	if err := sub.SetPendingLimits(1<<20, 64<<20); err != nil {
		return nil, errors.Join(fmt.Errorf("cluster: subscribe %s: %w", subject, err), sub.Unsubscribe())
	}
	// Once the server has the subscription, what others publish reaches
	// it; while NATS is away the client sends it on reconnecting.
	if b.nc.IsConnected() {
		if err := b.nc.FlushTimeout(2 * time.Second); err != nil {
			b.log.Warn("NATS did not confirm a subscription", "subject", subject, "err", err)
		}
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// OnReconnect registers fn to run each time the connection comes back:
// what other nodes said meanwhile was lost, so the node looks again.
func (b *Bus) OnReconnect(fn func()) {
	b.mu.Lock()
	b.onReconnect = append(b.onReconnect, fn)
	b.mu.Unlock()
}

func (b *Bus) reconnected() {
	b.reconnects.Add(1)
	b.log.Info("NATS connection back", "url", b.URL())
	b.mu.Lock()
	fns := append([]func(){}, b.onReconnect...)
	b.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// Close leaves the cluster (and stops the embedded server).
func (b *Bus) Close() {
	if b.nc != nil {
		b.nc.Close()
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
}
