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
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tetherdesk/tether/server/app"
	"github.com/tetherdesk/tether/server/config"
	"github.com/tetherdesk/tether/server/signal"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/protocol"
)

var (
	httpRequests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_http_requests_total", Help: "HTTP requests by route and status.",
	}, []string{"route", "code"})
	httpDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "tether_http_request_seconds", Help: "HTTP request duration by route (held polls included).",
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
		metricsToken: cfg.MetricsToken, metricsElsewhere: cfg.MetricsElsewhere}
	mux := http.NewServeMux()
	h.routes(mux)
	if cfg.Extra != nil {
		cfg.Extra(mux)
	}
	return h.middleware(mux), nil
}

type handlers struct {
	svc    *app.Service
	log    *slog.Logger
	secure bool
	sig    signal.Relay

	metricsToken     string
	metricsElsewhere bool
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
		}
		writeJSON(w, http.StatusOK, struct {
			Status string `json:"status"`
			Checks checks `json:"checks"`
		}{"ready", checks{Store: "ok", AuditChain: h.svc.AuditChainStatus()}})
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

	// Console and automation API.
	mux.HandleFunc("POST /api/v1/login", h.login)
	mux.HandleFunc("POST /api/v1/logout", h.logout)
	mux.HandleFunc("GET /api/v1/me", h.me)
	mux.HandleFunc("GET /api/v1/endpoints", h.searchEndpoints)
	mux.HandleFunc("GET /api/v1/endpoints/{id}", h.endpoint)
	mux.HandleFunc("POST /api/v1/endpoints/{id}/actions", h.queueAction)
	mux.HandleFunc("POST /api/v1/endpoints/{id}/revoke", h.revokeEndpoint)
	mux.HandleFunc("GET /api/v1/actions/{id}", h.actionStatus)
	mux.HandleFunc("GET /api/v1/users", h.listUsers)
	mux.HandleFunc("POST /api/v1/users", h.createUser)
	mux.HandleFunc("PATCH /api/v1/users/{id}", h.updateUser)
	mux.HandleFunc("POST /api/v1/users/{id}/password", h.resetPassword)
	mux.HandleFunc("DELETE /api/v1/users/{id}", h.deleteUser)
	mux.HandleFunc("GET /api/v1/roles", h.listRoles)
	mux.HandleFunc("POST /api/v1/roles", h.createRole)
	mux.HandleFunc("PUT /api/v1/roles/{name}", h.updateRole)
	mux.HandleFunc("DELETE /api/v1/roles/{name}", h.deleteRole)
	mux.HandleFunc("GET /api/v1/groups", h.listGroups)
	mux.HandleFunc("POST /api/v1/groups", h.createGroup)
	mux.HandleFunc("PUT /api/v1/groups/{id}", h.updateGroup)
	mux.HandleFunc("DELETE /api/v1/groups/{id}", h.deleteGroup)
	mux.HandleFunc("PUT /api/v1/endpoints/{id}/groups", h.setEndpointGroups)
	mux.HandleFunc("GET /api/v1/enrollment-tokens", h.listTokens)
	mux.HandleFunc("POST /api/v1/enrollment-tokens", h.createToken)
	mux.HandleFunc("POST /api/v1/enrollment-tokens/{id}/revoke", h.revokeToken)
	mux.HandleFunc("GET /api/v1/api-tokens", h.listAPITokens)
	mux.HandleFunc("POST /api/v1/api-tokens", h.createAPIToken)
	mux.HandleFunc("DELETE /api/v1/api-tokens/{id}", h.deleteAPIToken)
	mux.HandleFunc("GET /api/v1/audit", h.listAudit)
	mux.HandleFunc("GET /api/v1/audit/sessions", h.sessionHistory)
	mux.HandleFunc("GET /api/v1/audit/sessions.csv", h.sessionHistoryCSV)
	mux.HandleFunc("POST /api/v1/sessions", h.createSession)
	mux.HandleFunc("GET /api/v1/sessions", h.listSessions)
	mux.HandleFunc("GET /api/v1/sessions/{id}", h.getSession)
	mux.HandleFunc("POST /api/v1/sessions/{id}/end", h.endSession)
	mux.HandleFunc("POST /api/v1/sessions/{id}/control", h.control)
	mux.HandleFunc("POST /api/v1/codes", h.issueCode)
	mux.HandleFunc("GET /api/v1/codes/{id}", h.getCode)
	mux.HandleFunc("POST /api/v1/codes/{id}/renew", h.renewCode)
	mux.HandleFunc("POST /api/v1/codes/{id}/extend", h.extendCode)
	mux.HandleFunc("POST /api/v1/codes/{id}/cancel", h.cancelCode)
	mux.HandleFunc("GET /api/v1/policies/{group}", h.getPolicy)
	mux.HandleFunc("PUT /api/v1/policies/{group}", h.putPolicy)
	mux.HandleFunc("GET "+protocol.PathViewerSignal, h.viewerSignal)
	mux.HandleFunc("GET "+protocol.PathAgentSignal, h.agentSignal)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		app.Public(r.Context())
		h.writeError(w, r, fmt.Errorf("%w: no such API route %s %s", store.ErrNotFound, r.Method, r.URL.Path))
	})
}

var errUnavailable = errors.New("service unavailable")

// writeError maps an error to its status in one place.
func (h *handlers) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := http.StatusInternalServerError, protocol.CodeInternal
	msg := err.Error()
	var thr *app.ThrottledError
	var busy *app.BusyError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &thr):
		status, code = http.StatusTooManyRequests, protocol.CodeThrottled
		w.Header().Set("Retry-After", strconv.Itoa(int(thr.RetryAfter.Seconds())+1))
	case errors.As(err, &busy):
		status, code = http.StatusServiceUnavailable, protocol.CodeUnavailable
		w.Header().Set("Retry-After", strconv.Itoa(int(busy.RetryAfter.Seconds())+1))
	case errors.As(err, &mbe):
		status, code, msg = http.StatusRequestEntityTooLarge, protocol.CodeBadRequest, "request body too large"
	case errors.Is(err, app.ErrBadRequest):
		status, code = http.StatusBadRequest, protocol.CodeBadRequest
	case errors.Is(err, app.ErrUnsupported):
		status, code = http.StatusBadRequest, protocol.CodeUnsupported
	case errors.Is(err, app.ErrBadToken):
		status, code = http.StatusUnauthorized, protocol.CodeBadToken
	case errors.Is(err, app.ErrBadSecret):
		status, code = http.StatusUnauthorized, protocol.CodeBadSecret
	case errors.Is(err, app.ErrUnauthorized):
		status, code = http.StatusUnauthorized, protocol.CodeUnauthorized
	case errors.Is(err, app.ErrForbidden):
		status, code = http.StatusForbidden, protocol.CodeForbidden
	case errors.Is(err, errCSRF):
		status, code = http.StatusForbidden, protocol.CodeCSRF
	case errors.Is(err, app.ErrEndpointOffline):
		status, code = http.StatusConflict, protocol.CodeEndpointOffline
	case errors.Is(err, app.ErrWrongCode):
		status, code = http.StatusNotFound, protocol.CodeWrongCode
	case errors.Is(err, app.ErrExpiredCode):
		status, code = http.StatusGone, protocol.CodeExpiredCode
	case errors.Is(err, app.ErrSessionEnded):
		status, code = http.StatusConflict, protocol.CodeSessionEnded
	case errors.Is(err, store.ErrNotFound):
		status, code = http.StatusNotFound, protocol.CodeNotFound
	case errors.Is(err, store.ErrConflict):
		status, code = http.StatusConflict, protocol.CodeConflict
	case errors.Is(err, errUnavailable), errors.Is(err, app.ErrUnavailable):
		status, code = http.StatusServiceUnavailable, protocol.CodeUnavailable
	case errors.Is(err, context.Canceled):
		return // the caller has gone; nobody reads an answer
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
		} else if a := app.RemoteIP(r.RemoteAddr); loopbackOnly && (a == "" || !config.IsLoopback(a)) {
			writeJSON(w, http.StatusForbidden, protocol.Error{Error: "metrics are served to loopback clients only; set metrics_token or metrics_listen to scrape from elsewhere", Code: protocol.CodeForbidden})
			return
		}
		metrics.ServeHTTP(w, r)
	})
}
