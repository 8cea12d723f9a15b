// Package api is the server's HTTP surface: thin handlers that decode a
// request, call one app.Service method and encode the answer, behind
// middleware for authentication, CSRF, metrics and an authorization guard.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tetherdesk/tether/server/app"
	"github.com/tetherdesk/tether/server/config"
	"github.com/tetherdesk/tether/server/park"
	"github.com/tetherdesk/tether/server/signal"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/protocol"
)

var (
	httpRequests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_http_requests_total", Help: "HTTP requests by route and status.",
	}, []string{"route", "code"})
	httpDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "tether_http_request_seconds", Help: "HTTP request duration by route; a held poll parked off net/http counts until it is parked (its hold is in tether_agent_polls_total).",
		Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 30},
	}, []string{"route"})
)

// Config configures the HTTP handler.
type Config struct {
	Service *app.Service
	Logger  *slog.Logger
	// SecureCookies sets the Secure flag on the session cookie (under TLS).
	SecureCookies bool
	// Extra registers more routes (the console).
	Extra func(mux *http.ServeMux)
	// Signal serves the signalling websockets; nil answers them 503.
	Signal signal.Relay
	// MetricsToken, when set, is the bearer token /metrics requires;
	// otherwise /metrics answers loopback clients only. MetricsElsewhere
	// drops /metrics from this handler (served on metrics_listen).
	MetricsToken     string
	MetricsElsewhere bool
	// Cluster, when set, names this node and says whether it reaches the
	// others (NATS); /readyz reports both.
	Cluster Cluster
	// TrustedProxies are the load balancers whose X-Forwarded-For names
	// the client (ClientAddr).
	TrustedProxies []netip.Prefix
	// Park, when set, holds agents' polls off net/http's goroutines; the
	// http.Server must serve its Listener. Nil holds them in the handler.
	Park *park.Lot
}

// Cluster is what /readyz tells of a node among several (cluster.Bus).
type Cluster interface {
	Node() string
	Connected() bool
}

// Handler returns the server's root handler.
func Handler(cfg Config) (http.Handler, error) {
	if cfg.Service == nil {
		return nil, errors.New("api: Service is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &handlers{svc: cfg.Service, log: cfg.Logger.With("component", "api"), secure: cfg.SecureCookies, sig: cfg.Signal,
		metricsToken: cfg.MetricsToken, metricsElsewhere: cfg.MetricsElsewhere, cluster: cfg.Cluster, park: cfg.Park}
	mux := http.NewServeMux()
	h.routes(mux)
	if cfg.Extra != nil {
		cfg.Extra(mux)
	}
	return behindProxies(h.middleware(mux), cfg.TrustedProxies), nil
}

type handlers struct {
	svc    *app.Service
	log    *slog.Logger
	secure bool
	sig    signal.Relay

	metricsToken     string
	metricsElsewhere bool
	cluster          Cluster
	park             *park.Lot
}

func (h *handlers) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		app.Public(r.Context())
		io.WriteString(w, "ok\n")
	})
	// Ready while the store answers. The audit chain's start-up check is
	// reported, not a reason to stop serving: a broken chain is evidence
	// to keep, and the server goes on appending to it.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := h.svc.Ready(r.Context()); err != nil {
			h.writeError(w, r, fmt.Errorf("%w: store: %v", errUnavailable, err))
			return
		}
		type checks struct {
			Store      string `json:"store"`
			AuditChain string `json:"audit_chain"`
			// NATS: "ok", "disconnected" (the node serves on; other nodes'
			// changes reach it late), or "off" (a single node).
			NATS string `json:"nats"`
		}
		c := checks{Store: "ok", AuditChain: h.svc.AuditChainStatus(), NATS: "off"}
		node := ""
		if h.cluster != nil {
			node, c.NATS = h.cluster.Node(), "ok"
			if !h.cluster.Connected() {
				c.NATS = "disconnected"
			}
		}
		writeJSON(w, http.StatusOK, struct {
			Status string `json:"status"`
			Node   string `json:"node,omitempty"`
			Checks checks `json:"checks"`
		}{"ready", node, c})
	})
	if !h.metricsElsewhere {
		metrics := MetricsHandler(h.metricsToken, true)
		mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
			app.Public(r.Context()) // MetricsHandler makes its own check
			metrics.ServeHTTP(w, r)
		})
	}

	// Agent API: authenticated by the agent's own credentials.
	mux.HandleFunc("POST "+protocol.PathEnroll, h.enroll)
	mux.HandleFunc("POST "+protocol.PathPoll, h.poll)
	mux.HandleFunc("POST "+protocol.PathRedeemCode, h.redeemCode)
	mux.HandleFunc("POST "+protocol.PathAgentRecording, h.uploadRecording)
	mux.HandleFunc("POST "+protocol.PathAgentTranscript, h.uploadTranscript)

	// Console and automation API.
	mux.HandleFunc("POST /api/v1/login", h.login)
	mux.HandleFunc("POST /api/v1/logout", h.logout)
	mux.HandleFunc("GET /api/v1/me", h.me)
	mux.HandleFunc("GET /api/v1/endpoints", h.searchEndpoints)
	mux.HandleFunc("GET /api/v1/endpoints/{id}", onPath(h, "id", h.svc.Endpoint))
	mux.HandleFunc("POST /api/v1/endpoints/{id}/actions", withPathBody(h, "id", http.StatusAccepted, h.svc.QueueAction))
	mux.HandleFunc("POST /api/v1/endpoints/{id}/revoke", okOnPath(h, "id", h.svc.RevokeEndpoint))
	mux.HandleFunc("GET /api/v1/agent-updates", h.rollouts)
	mux.HandleFunc("GET /api/v1/actions/{id}", onPath(h, "id", h.svc.ActionStatus))
	mux.HandleFunc("GET /api/v1/users", h.listUsers)
	mux.HandleFunc("POST /api/v1/users", withBody(h, http.StatusCreated, h.svc.CreateUser))
	mux.HandleFunc("PATCH /api/v1/users/{id}", withPathBody(h, "id", http.StatusOK, h.svc.UpdateUser))
	mux.HandleFunc("POST /api/v1/users/{id}/password", h.resetPassword)
	mux.HandleFunc("DELETE /api/v1/users/{id}", okOnPath(h, "id", h.svc.DeleteUser))
	mux.HandleFunc("GET /api/v1/roles", h.listRoles)
	mux.HandleFunc("POST /api/v1/roles", withBody(h, http.StatusCreated, h.svc.CreateRole))
	mux.HandleFunc("PUT /api/v1/roles/{name}", withPathBody(h, "name", http.StatusOK, h.svc.UpdateRole))
	mux.HandleFunc("DELETE /api/v1/roles/{name}", okOnPath(h, "name", h.svc.DeleteRole))
	mux.HandleFunc("GET /api/v1/groups", h.listGroups)
	mux.HandleFunc("POST /api/v1/groups", h.createGroup)
	mux.HandleFunc("PUT /api/v1/groups/{id}", withPathBody(h, "id", http.StatusOK, h.svc.UpdateGroup))
	mux.HandleFunc("DELETE /api/v1/groups/{id}", okOnPath(h, "id", h.svc.DeleteGroup))
	mux.HandleFunc("PUT /api/v1/endpoints/{id}/groups", withPathBody(h, "id", http.StatusOK, h.svc.SetEndpointGroups))
	mux.HandleFunc("GET /api/v1/enrollment-tokens", h.listTokens)
	mux.HandleFunc("POST /api/v1/enrollment-tokens", withBody(h, http.StatusCreated, h.svc.CreateEnrollmentToken))
	mux.HandleFunc("POST /api/v1/enrollment-tokens/{id}/installer", h.installer)
	mux.HandleFunc("POST /api/v1/enrollment-tokens/{id}/revoke", okOnPath(h, "id", h.svc.RevokeEnrollmentToken))
	mux.HandleFunc("GET /api/v1/api-tokens", h.listAPITokens)
	mux.HandleFunc("POST /api/v1/api-tokens", withBody(h, http.StatusCreated, h.svc.CreateAPIToken))
	mux.HandleFunc("DELETE /api/v1/api-tokens/{id}", okOnPath(h, "id", h.svc.DeleteAPIToken))
	mux.HandleFunc("GET /api/v1/audit", h.listAudit)
	mux.HandleFunc("GET /api/v1/audit/sessions", h.sessionHistory)
	mux.HandleFunc("GET /api/v1/audit/sessions.csv", h.sessionHistoryCSV)
	mux.HandleFunc("POST /api/v1/sessions", withBody(h, http.StatusCreated, h.svc.CreateSession))
	mux.HandleFunc("GET /api/v1/sessions", h.listSessions)
	mux.HandleFunc("GET /api/v1/sessions/{id}", onPath(h, "id", h.svc.GetSession))
	mux.HandleFunc("POST /api/v1/sessions/{id}/end", onPath(h, "id", h.svc.EndSession))
	mux.HandleFunc("POST /api/v1/sessions/{id}/control", withPathBody(h, "id", http.StatusOK, h.svc.Control))
	mux.HandleFunc("GET /api/v1/sessions/{id}/recording", h.recording)
	mux.HandleFunc("GET /api/v1/sessions/{id}/recording/timeline", onPath(h, "id", h.svc.RecordingTimeline))
	mux.HandleFunc("POST "+protocol.PathToolSessions, withPathBody(h, "id", http.StatusCreated, h.svc.CreateToolSession))
	mux.HandleFunc("GET "+protocol.PathTranscript, h.transcript)
	mux.HandleFunc("POST /api/v1/codes", h.issueCode)
	mux.HandleFunc("GET /api/v1/codes/{id}", onPath(h, "id", h.svc.GetCode))
	mux.HandleFunc("POST /api/v1/codes/{id}/renew", onPath(h, "id", h.svc.RenewCode))
	mux.HandleFunc("POST /api/v1/codes/{id}/extend", onPath(h, "id", h.svc.ExtendCode))
	mux.HandleFunc("POST /api/v1/codes/{id}/cancel", onPath(h, "id", h.svc.CancelCode))
	mux.HandleFunc("GET /api/v1/policies/{group}", onPath(h, "group", h.svc.GetPolicy))
	mux.HandleFunc("PUT /api/v1/policies/{group}", h.putPolicy)
	h.routeNotifications(mux)
	mux.HandleFunc("GET "+protocol.PathViewerSignal, h.viewerSignal)
	mux.HandleFunc("GET "+protocol.PathAgentSignal, h.agentSignal)
	mux.HandleFunc("GET "+protocol.PathRelease, h.release)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		h.refuse(w, r, fmt.Errorf("%w: no such API route %s %s", store.ErrNotFound, r.Method, r.URL.Path))
	})
}

var errUnavailable = errors.New("service unavailable")

// errorStatus is how one sentinel error is answered; the first match wins.
type errorStatus struct {
	err    error
	status int
	code   string
}

var errorStatuses = []errorStatus{
	{app.ErrBadRequest, http.StatusBadRequest, protocol.CodeBadRequest},
	{app.ErrTooLarge, http.StatusRequestEntityTooLarge, protocol.CodeBadRequest},
	{app.ErrUnsupported, http.StatusBadRequest, protocol.CodeUnsupported},
	{app.ErrBadToken, http.StatusUnauthorized, protocol.CodeBadToken},
	{app.ErrBadSecret, http.StatusUnauthorized, protocol.CodeBadSecret},
	{app.ErrUnauthorized, http.StatusUnauthorized, protocol.CodeUnauthorized},
	{app.ErrForbidden, http.StatusForbidden, protocol.CodeForbidden},
	{errCSRF, http.StatusForbidden, protocol.CodeCSRF},
	{app.ErrEndpointOffline, http.StatusConflict, protocol.CodeEndpointOffline},
	{app.ErrWrongCode, http.StatusNotFound, protocol.CodeWrongCode},
	{app.ErrExpiredCode, http.StatusGone, protocol.CodeExpiredCode},
	{app.ErrSessionEnded, http.StatusConflict, protocol.CodeSessionEnded},
	{store.ErrNotFound, http.StatusNotFound, protocol.CodeNotFound},
	{store.ErrConflict, http.StatusConflict, protocol.CodeConflict},
	{errUnavailable, http.StatusServiceUnavailable, protocol.CodeUnavailable},
	{app.ErrUnavailable, http.StatusServiceUnavailable, protocol.CodeUnavailable},
}

func classify(err error) *errorStatus {
	for i := range errorStatuses {
		if errors.Is(err, errorStatuses[i].err) {
			return &errorStatuses[i]
		}
	}
	return nil
}

// writeError maps an error to its status in one place.
func (h *handlers) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := http.StatusInternalServerError, protocol.CodeInternal
	msg := err.Error()
	var thr *app.ThrottledError
	var busy *app.BusyError
	var mbe *http.MaxBytesError
	known := classify(err)
	switch {
	case errors.As(err, &thr):
		status, code = http.StatusTooManyRequests, protocol.CodeThrottled
		w.Header().Set("Retry-After", strconv.Itoa(int(thr.RetryAfter.Seconds())+1))
	case errors.As(err, &busy):
		status, code = http.StatusServiceUnavailable, protocol.CodeUnavailable
		w.Header().Set("Retry-After", strconv.Itoa(int(busy.RetryAfter.Seconds())+1))
	case errors.As(err, &mbe):
		status, code, msg = http.StatusRequestEntityTooLarge, protocol.CodeBadRequest, "request body too large"
	case known != nil:
		status, code = known.status, known.code
	case errors.Is(err, context.Canceled):
		return // the caller has gone; nobody reads an answer
	case store.Unavailable(err):
		// The database is down or restarting: nothing was changed; ask
		// again shortly (an agent backs off, a load balancer's health
		// check on /readyz takes the node out meanwhile).
		h.log.Warn("the store is unreachable", "method", r.Method, "path", r.URL.Path, "err", err)
		status, code, msg = http.StatusServiceUnavailable, protocol.CodeUnavailable, "the database is unreachable; try again shortly"
		w.Header().Set("Retry-After", "5")
	default:
		h.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	}
	writeJSON(w, status, protocol.Error{Error: msg, Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// maxBody bounds every request body.
const maxBody = 1 << 20

// decode reads a JSON body. The console API rejects unknown fields to catch
// typos; the agent API accepts them so newer agents talk to older servers.
func decode(w http.ResponseWriter, r *http.Request, v any, strict bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("%w: Content-Type must be application/json", app.ErrBadRequest)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty body, expected a JSON object", app.ErrBadRequest)
		}
		return fmt.Errorf("%w: malformed JSON: %v", app.ErrBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: malformed JSON: trailing data after the object", app.ErrBadRequest)
	}
	return nil
}

// since parses an optional RFC 3339 query parameter.
func timeParam(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s must be an RFC 3339 time", app.ErrBadRequest, name)
	}
	return t, nil
}

// MetricsHandler serves the Prometheus metrics: with a token, to requests
// bearing it; without, to loopback clients only when loopbackOnly (the main
// listener; a metrics_listen address is the operator's choice of who may
// reach it). Metrics name no secrets, but they map the fleet and its
// activity, which is nobody else's business.
func MetricsHandler(token string, loopbackOnly bool) http.Handler {
	metrics := promhttp.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tether metrics"`)
				writeJSON(w, http.StatusUnauthorized, protocol.Error{Error: "metrics need the bearer token set as metrics_token", Code: protocol.CodeUnauthorized})
				return
			}
		} else if a := app.RemoteIP(r.RemoteAddr); loopbackOnly && (a == "" || !config.IsLoopback(a) || proxied(r)) {
			writeJSON(w, http.StatusForbidden, protocol.Error{Error: "metrics are served to loopback clients only; set metrics_token or metrics_listen to scrape from elsewhere", Code: protocol.CodeForbidden})
			return
		}
		metrics.ServeHTTP(w, r)
	})
}
