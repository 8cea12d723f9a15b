package api

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tetherdesk/tether/server/app"
	"github.com/tetherdesk/tether/shared/protocol"
)

var errCSRF = errors.New("missing or wrong CSRF token; reload the page and sign in again")

// guardWriter refuses to send a response for a request whose handler never
// recorded an authorization check: a forgotten check fails closed with 500.
type guardWriter struct {
	http.ResponseWriter
	checked func() bool
	log     *slog.Logger
	r       *http.Request
	status  int
	blocked bool
}

func (g *guardWriter) WriteHeader(status int) {
	if g.status != 0 {
		return
	}
	if !g.checked() && status < 400 {
		g.blocked = true
		g.log.Error("handler recorded no authorization check; answer withheld", "method", g.r.Method, "path", g.r.URL.Path)
		g.status = http.StatusInternalServerError
		writeJSON(g.ResponseWriter, g.status, protocol.Error{Error: "internal error", Code: protocol.CodeInternal})
		return
	}
	g.status = status
	g.ResponseWriter.WriteHeader(status)
}

func (g *guardWriter) Write(b []byte) (int, error) {
	if g.status == 0 {
		g.WriteHeader(http.StatusOK)
	}
	if g.blocked {
		return len(b), nil
	}
	return g.ResponseWriter.Write(b)
}

// Flush lets streaming handlers (metrics, later websockets) flush.
func (g *guardWriter) Flush() {
	if f, ok := g.ResponseWriter.(http.Flusher); ok && !g.blocked {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (websockets).
func (g *guardWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

func (h *handlers) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, checked := app.WithCheck(r.Context())
		gw := &guardWriter{ResponseWriter: w, checked: checked, log: h.log, r: r}
		r = r.WithContext(ctx)
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				h.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				if gw.status == 0 {
					app.Public(ctx)
					writeJSON(gw, http.StatusInternalServerError, protocol.Error{Error: "internal error", Code: protocol.CodeInternal})
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			status := gw.status
			if status == 0 {
				status = http.StatusOK
			}
			httpRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
			httpDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}()

		if strings.HasPrefix(r.URL.Path, "/api/v1/") && r.URL.Path != "/api/v1/login" {
			p, err := h.authenticate(r)
			if err != nil {
				app.Public(ctx)
				h.writeError(gw, r, err)
				return
			}
			if p != nil {
				r = r.WithContext(app.WithPrincipal(ctx, p))
			}
		}
		next.ServeHTTP(gw, r)
	})
}

// authenticate resolves the caller from a bearer token or the session
// cookie. A request with neither gets no principal and is refused by the
// service if the operation needs one. Cookie-authenticated writes must carry
// the CSRF token and, when the browser sends one, a same-origin Origin.
func (h *handlers) authenticate(r *http.Request) (*app.Principal, error) {
	if authz := r.Header.Get("Authorization"); authz != "" {
		tok, ok := strings.CutPrefix(authz, "Bearer ")
		if !ok || tok == "" {
			return nil, app.ErrUnauthorized
		}
		return h.svc.AuthenticateBearer(r.Context(), tok)
	}
	c, err := r.Cookie(protocol.SessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	p, err := h.svc.AuthenticateCookie(r.Context(), c.Value)
	if err != nil {
		return nil, err
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if !sameOrigin(r) || !app.CheckCSRF(p, r.Header.Get(protocol.HeaderCSRF)) {
			return nil, errCSRF
		}
	}
	return p, nil
}

func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true // non-browser clients; the CSRF token still applies
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// bearer is the request's bearer token, "" without one.
func bearer(r *http.Request) string {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return tok
}
