// Package client talks to the server's agent API: enrollment with a token
// and the long poll with the agent secret. It pins the server certificate
// when a fingerprint is configured.
package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tetherdesk/tether/shared/protocol"
	"github.com/tetherdesk/tether/shared/version"
)

// DefaultTimeout bounds one request. It must exceed the hold the server
// gives an agent that does not say how long it waits (25 s) by a wide
// margin; a held poll that says (HoldMS) gets its hold plus HoldMargin.
const DefaultTimeout = 70 * time.Second

// HoldMargin is how much longer than its hold a held poll may take: the
// server answers at the end of the hold, and the answer travels.
const HoldMargin = 30 * time.Second

const (
	maxResponseBytes = 16 << 20
	maxErrorBytes    = 64 << 10
)

// ErrFingerprintMismatch is returned (wrapped) when the server presents a
// certificate other than the pinned one.
var ErrFingerprintMismatch = errors.New("server certificate does not match the pinned fingerprint")

// Config configures a Client.
type Config struct {
	// Server is the base URL, http:// or https://.
	Server string
	// Fingerprint pins the server leaf certificate: SHA-256 of its DER, hex;
	// colons, spaces and case are ignored. Empty means system roots.
	Fingerprint string
	// Proxy picks the proxy of each request (netproxy.Setting.Func); nil:
	// the environment's.
	Proxy func(*http.Request) (*url.URL, error)
	// Timeout bounds each request; default DefaultTimeout.
	Timeout time.Duration
	// Logger; default discards.
	Logger *slog.Logger
	// Transport overrides the HTTP transport (tests). Fingerprint is then
	// ignored.
	Transport http.RoundTripper
}

// CheckAndSetDefaults validates the config and fills defaults.
func (c *Config) CheckAndSetDefaults() error {
	u, err := ParseServerURL(c.Server)
	if err != nil {
		return err
	}
	c.Server = u.String()
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// ErrPlainHTTP is returned (wrapped) for an http:// server URL whose host
// is not loopback.
var ErrPlainHTTP = errors.New("plain http:// is allowed only for a server on this machine")

// ParseServerURL checks that s is an absolute https URL — or http for a
// loopback host (127.0.0.1, ::1, localhost), for development and tests:
// anywhere else the agent's secret and session tokens would travel
// unencrypted — and strips a trailing slash so that paths join cleanly.
// Every server URL the agent takes (install, run, the config file, the
// service's start message to a helper) passes here.
func ParseServerURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("server URL not set")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("parsing server URL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want https://host[:port] (or http:// for loopback development)", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("server URL %q: must not carry credentials, a query or a fragment", s)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("server URL %q: %w (127.0.0.1, ::1 or localhost): the agent's secret would travel unencrypted; use https://%s", s, ErrPlainHTTP, u.Host)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// ParseFingerprint decodes a SHA-256 fingerprint written as hex, with or
// without colons or spaces, in any case.
func ParseFingerprint(s string) ([]byte, error) {
	clean := strings.NewReplacer(":", "", " ", "", "-", "").Replace(strings.TrimSpace(s))
	b, err := hex.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("fingerprint %q is not hex: %w", s, err)
	}
	if len(b) != sha256.Size {
		return nil, fmt.Errorf("fingerprint %q has %d bytes, want %d (SHA-256)", s, len(b), sha256.Size)
	}
	return b, nil
}

// APIError is a non-2xx answer from the server.
type APIError struct {
	Status  int
	Code    string // protocol.Code*, may be empty
	Message string
	// RetryAfter is the server's Retry-After, if any.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("server answered %d %s", e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Code != "" {
		msg += " (" + e.Code + ")"
	}
	return msg
}

// Client is an agent API client. It is safe for concurrent use.
type Client struct {
	base *url.URL
	http *http.Client
	long *http.Client // held polls: bounded by their own deadline
	log  *slog.Logger
}

// New builds a client.
func New(cfg Config) (*Client, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	base, _ := url.Parse(cfg.Server)
	rt := cfg.Transport
	if rt == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tlsCfg, err := tlsConfig(cfg.Fingerprint)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = tlsCfg
		if cfg.Proxy != nil {
			tr.Proxy = cfg.Proxy
		}
		rt = tr
		if base.Scheme == "http" {
			// Loopback only (ParseServerURL).
			if cfg.Fingerprint != "" {
				cfg.Logger.Warn("fingerprint is ignored for a plain http server URL", "component", "client", "server", cfg.Server)
			}
		}
	}
	return &Client{
		base: base,
		http: &http.Client{Transport: rt, Timeout: cfg.Timeout},
		long: &http.Client{Transport: rt},
		log:  cfg.Logger.With("component", "client"),
	}, nil
}

// tlsConfig pins the leaf certificate when a fingerprint is given. The pin
// replaces chain verification entirely: the server's certificate is
// self-signed by design, and nothing but the pinned certificate is trusted.
// No ClientSessionCache is set, so every handshake is a full one and
// VerifyPeerCertificate always runs.
func tlsConfig(fingerprint string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if fingerprint == "" {
		return cfg, nil
	}
	want, err := ParseFingerprint(fingerprint)
	if err != nil {
		return nil, err
	}
	cfg.InsecureSkipVerify = true // replaced by the pin check below
	cfg.VerifyPeerCertificate = func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		if len(rawCerts) == 0 {
			return fmt.Errorf("%w: no certificate presented", ErrFingerprintMismatch)
		}
		got := sha256.Sum256(rawCerts[0])
		if subtle.ConstantTimeCompare(got[:], want) != 1 {
			return fmt.Errorf("%w: got %s", ErrFingerprintMismatch, hex.EncodeToString(got[:]))
		}
		return nil
	}
	return cfg, nil
}

// Enroll exchanges the enrollment token for an identity.
func (c *Client) Enroll(ctx context.Context, req protocol.EnrollRequest) (protocol.EnrollResponse, error) {
	var resp protocol.EnrollResponse
	if err := c.do(ctx, protocol.PathEnroll, "", req, &resp); err != nil {
		return protocol.EnrollResponse{}, fmt.Errorf("enrolling: %w", err)
	}
	if resp.AgentID == "" || resp.Secret == "" {
		return protocol.EnrollResponse{}, errors.New("enrolling: server answer lacks agent_id or secret")
	}
	return resp, nil
}

// Poll sends one poll with the agent secret as bearer.
func (c *Client) Poll(ctx context.Context, secret string, req protocol.PollRequest) (protocol.PollResponse, error) {
	var resp protocol.PollResponse
	hc := c.http
	if req.Wait && req.HoldMS > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.HoldMS)*time.Millisecond+HoldMargin)
		defer cancel()
		hc = c.long
	}
	if err := c.doWith(ctx, hc, protocol.PathPoll, secret, req, &resp); err != nil {
		return protocol.PollResponse{}, fmt.Errorf("polling: %w", err)
	}
	return resp, nil
}

func (c *Client) do(ctx context.Context, path, bearer string, in, out any) error {
	return c.doWith(ctx, c.http, path, bearer, in, out)
}

func (c *Client) doWith(ctx context.Context, hc *http.Client, path, bearer string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encoding request: %w", err)
	}
	resp, err := c.sendWith(ctx, hc, http.MethodPost, path, bearer, bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return readAPIError(resp)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("reading answer: %w", err)
	}
	if len(data) > maxResponseBytes {
		return fmt.Errorf("answer larger than %d bytes", maxResponseBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding answer: %w", err)
	}
	return nil
}

// send makes one request to the server; a body is JSON.
func (c *Client) send(ctx context.Context, method, path, bearer string, body io.Reader) (*http.Response, error) {
	return c.sendWith(ctx, c.http, method, path, bearer, body)
}

func (c *Client) sendWith(ctx context.Context, hc *http.Client, method, path, bearer string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base.JoinPath(path).String(), body)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
	}
	req.Header.Set("User-Agent", "tether-agent/"+version.Version)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := hc.Do(req)
	if err != nil {
		// url.Error would repeat the URL; the caller adds context.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, err
	}
	return resp, nil
}

func readAPIError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	e := &APIError{Status: resp.StatusCode}
	var pe protocol.Error
	if json.Unmarshal(data, &pe) == nil && (pe.Error != "" || pe.Code != "") {
		e.Code, e.Message = pe.Code, pe.Error
	} else {
		// Not ours (a proxy, a load balancer): keep a short excerpt.
		e.Message = strings.TrimSpace(string(data[:min(len(data), 200)]))
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if secs, err := strconv.Atoi(s); err == nil && secs > 0 {
			e.RetryAfter = time.Duration(secs) * time.Second
		}
	}
	return e
}

// isLoopback: localhost or a loopback address (127.0.0.0/8, ::1, also
// written as an IPv4-mapped IPv6 address). Names other than localhost are
// not: they resolve wherever DNS says.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}

// TLSConfig returns the TLS configuration the client uses for fingerprint:
// the pinned leaf certificate when fingerprint is set, system roots
// otherwise. Other connections to the same server (the session helper's
// signalling websocket) use it to get the same pinning.
func TLSConfig(fingerprint string) (*tls.Config, error) { return tlsConfig(fingerprint) }

// RedeemCode enters a connection code for this endpoint, with the agent
// secret as bearer. A wrong, expired or throttled code is an *APIError
// whose Code is protocol.CodeWrongCode, protocol.CodeExpiredCode or
// protocol.CodeThrottled, with the server's message.
func (c *Client) RedeemCode(ctx context.Context, secret, code string) (protocol.RedeemCodeResponse, error) {
	var resp protocol.RedeemCodeResponse
	if err := c.do(ctx, protocol.PathRedeemCode, secret, protocol.RedeemCodeRequest{Code: code}, &resp); err != nil {
		return protocol.RedeemCodeResponse{}, fmt.Errorf("entering the connection code: %w", err)
	}
	return resp, nil
}

// Download GETs path with the agent secret as bearer and writes the body
// to w, refusing more than max bytes: an agent release for a self-update.
func (c *Client) Download(ctx context.Context, secret, path string, w io.Writer, max int64) error {
	resp, err := c.send(ctx, http.MethodGet, path, secret, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return readAPIError(resp)
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, max+1))
	if err != nil {
		return fmt.Errorf("downloading %s: %w", path, err)
	}
	if n > max {
		return fmt.Errorf("downloading %s: larger than %d bytes", path, max)
	}
	return nil
}
