package api

import (
	"context"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tetherdesk/tether/server/app"
	"github.com/tetherdesk/tether/server/park"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/protocol"
)

func (h *handlers) enroll(w http.ResponseWriter, r *http.Request) {
	var req protocol.EnrollRequest
	if err := decode(w, r, &req, false); err != nil {
		h.refuse(w, r, err)
		return
	}
	resp, err := h.svc.Enroll(r.Context(), req, app.RemoteIP(r.RemoteAddr))
	h.answer(w, r, http.StatusCreated, resp, err)
}

func (h *handlers) poll(w http.ResponseWriter, r *http.Request) {
	var req protocol.PollRequest
	if err := decode(w, r, &req, false); err != nil {
		h.refuse(w, r, err)
		return
	}
	secret := bearer(r)
	resp, held, err := h.svc.BeginPoll(r.Context(), secret, req, app.RemoteIP(r.RemoteAddr))
	if err != nil || held == nil {
		h.answer(w, r, http.StatusOK, resp, err)
		return
	}
	// Parked, the held poll costs no goroutine or buffers of net/http's
	// while it waits; the answer keeps only what an error's log needs of r.
	slim := &http.Request{Method: r.Method, URL: &url.URL{Path: r.URL.Path}}
	err = h.park.Park(w, r, func(answer park.Answer) func() bool {
		return held.Notify(func(resp protocol.PollResponse, err error) {
			answer(func(w http.ResponseWriter) { h.answer(w, slim, http.StatusOK, resp, err) })
		})
	})
	if err == nil {
		return
	}
	resp, err = held.Wait(r.Context())
	h.answer(w, r, http.StatusOK, resp, err)
}

func (h *handlers) login(w http.ResponseWriter, r *http.Request) {
	var req protocol.LoginRequest
	if err := decode(w, r, &req, true); err != nil {
		h.refuse(w, r, err)
		return
	}
	res, err := h.svc.Login(r.Context(), req, app.RemoteIP(r.RemoteAddr))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: protocol.SessionCookie, Value: res.Cookie, Path: "/",
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteStrictMode,
	})
	writeJSON(w, http.StatusOK, res.Me)
}

func (h *handlers) logout(w http.ResponseWriter, r *http.Request) {
	err := h.svc.Logout(r.Context())
	if err == nil {
		http.SetCookie(w, &http.Cookie{Name: protocol.SessionCookie, Value: "", Path: "/", MaxAge: -1,
			HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteStrictMode})
	}
	h.answer(w, r, http.StatusOK, map[string]bool{"ok": true}, err)
}

func (h *handlers) me(w http.ResponseWriter, r *http.Request) {
	me, err := h.svc.Me(r.Context())
	h.answer(w, r, http.StatusOK, me, err)
}

func (h *handlers) searchEndpoints(w http.ResponseWriter, r *http.Request) {
	eps, err := h.svc.SearchEndpoints(r.Context(), r.URL.Query().Get("q"))
	h.answer(w, r, http.StatusOK, protocol.EndpointList{Endpoints: eps}, err)
}

func (h *handlers) listUsers(w http.ResponseWriter, r *http.Request) {
	us, err := h.svc.ListUsers(r.Context())
	h.answer(w, r, http.StatusOK, map[string]any{"users": us}, err)
}

func (h *handlers) listRoles(w http.ResponseWriter, r *http.Request) {
	rs, err := h.svc.ListRoles(r.Context())
	h.answer(w, r, http.StatusOK, map[string]any{"roles": rs}, err)
}

func (h *handlers) listGroups(w http.ResponseWriter, r *http.Request) {
	gs, err := h.svc.ListGroups(r.Context())
	h.answer(w, r, http.StatusOK, map[string]any{"groups": gs}, err)
}

func (h *handlers) createGroup(w http.ResponseWriter, r *http.Request) {
	// The body is a protocol.Group, as before rules existed; id and
	// members are ignored.
	var req protocol.Group
	if !h.decodeOrFail(w, r, &req) {
		return
	}
	g, err := h.svc.CreateGroup(r.Context(), protocol.GroupRequest{Name: req.Name, Match: req.Match, Rules: req.Rules})
	h.answer(w, r, http.StatusCreated, g, err)
}

// listTokens lists enrollment tokens with what installers need besides a
// token: the server's URL and certificate fingerprint.
func (h *handlers) listTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := h.svc.ListEnrollmentTokens(r.Context())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	info, err := h.svc.ServerInfo(r.Context())
	h.answer(w, r, http.StatusOK, map[string]any{"tokens": ts, "server": info}, err)
}

func (h *handlers) listAPITokens(w http.ResponseWriter, r *http.Request) {
	ts, err := h.svc.ListAPITokens(r.Context())
	h.answer(w, r, http.StatusOK, map[string]any{"tokens": ts}, err)
}

func (h *handlers) listAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.AuditFilter{Type: q.Get("type"), Actor: q.Get("actor"), EndpointID: q.Get("endpoint")}
	var err error
	if f.Since, err = timeParam(r, "since"); err == nil {
		f.Until, err = timeParam(r, "until")
	}
	if err == nil && q.Get("limit") != "" {
		if f.Limit, err = strconv.Atoi(q.Get("limit")); err != nil {
			err = badParam("limit must be a number")
		}
	}
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	rs, err := h.svc.ListAudit(r.Context(), f)
	h.answer(w, r, http.StatusOK, map[string]any{"records": rs}, err)
}

// decodeOrFail decodes a strict JSON body or answers 400. A malformed body
// is refused before any permission check, so the guard is told it is public.
func (h *handlers) decodeOrFail(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := decode(w, r, v, true); err != nil {
		h.refuse(w, r, err)
		return false
	}
	return true
}

// answer writes v with status, or the error.
func (h *handlers) answer(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

func badParam(msg string) error { return &paramError{msg} }

type paramError struct{ msg string }

func (e *paramError) Error() string { return e.msg }
func (e *paramError) Unwrap() error { return app.ErrBadRequest }

// onPath answers a route whose one input is the path value name.
func onPath[T any](h *handlers, name string, fn func(context.Context, string) (T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r.Context(), r.PathValue(name))
		h.answer(w, r, http.StatusOK, v, err)
	}
}

// okOnPath is onPath for a call that returns nothing but its error.
func okOnPath(h *handlers, name string, fn func(context.Context, string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h.answer(w, r, http.StatusOK, map[string]bool{"ok": true}, fn(r.Context(), r.PathValue(name)))
	}
}

// refuse answers a request refused before any permission check (bad input,
// an unknown route), so the guard is told the answer is public.
func (h *handlers) refuse(w http.ResponseWriter, r *http.Request, err error) {
	app.Public(r.Context())
	h.writeError(w, r, err)
}

// withBody answers a route whose input is a strict JSON body.
func withBody[Req, T any](h *handlers, status int, fn func(context.Context, Req) (T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		if !h.decodeOrFail(w, r, &req) {
			return
		}
		v, err := fn(r.Context(), req)
		h.answer(w, r, status, v, err)
	}
}

// withPathBody answers a route whose inputs are the path value name and a
// strict JSON body.
func withPathBody[Req, T any](h *handlers, name string, status int, fn func(context.Context, string, Req) (T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		if !h.decodeOrFail(w, r, &req) {
			return
		}
		v, err := fn(r.Context(), r.PathValue(name), req)
		h.answer(w, r, status, v, err)
	}
}

func (h *handlers) resetPassword(w http.ResponseWriter, r *http.Request) {
	var req protocol.ResetPasswordRequest
	if !h.decodeOrFail(w, r, &req) {
		return
	}
	err := h.svc.ResetPassword(r.Context(), r.PathValue("id"), req)
	h.answer(w, r, http.StatusOK, map[string]bool{"ok": true}, err)
}

// installer answers with an agent installer that enrolls with the token:
// the console's "Download installer".
func (h *handlers) installer(w http.ResponseWriter, r *http.Request) {
	var req protocol.InstallerRequest
	if !h.decodeOrFail(w, r, &req) {
		return
	}
	pkg, err := h.svc.BuildInstaller(r.Context(), r.PathValue("id"), req)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	defer pkg.Close()
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": pkg.Name}))
	sendFile(w, pkg.File, pkg.Size, pkg.ContentType)
}

// release serves an agent release's binary to an enrolled agent (its
// secret as the bearer); the agent checks the signature itself.
func (h *handlers) release(w http.ResponseWriter, r *http.Request) {
	secret := bearer(r)
	f, rf, err := h.svc.ReleaseFile(r.Context(), secret, r.PathValue("version"), r.PathValue("os"), r.PathValue("arch"))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	defer f.Close()
	sendFile(w, f, rf.Size, "application/octet-stream")
}

// sendFile answers 200 with a file's size bytes, uncached and as the
// content type given (never sniffed).
func sendFile(w http.ResponseWriter, f io.Reader, size int64, contentType string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, f)
}

func (h *handlers) rollouts(w http.ResponseWriter, r *http.Request) {
	rs, err := h.svc.Rollouts(r.Context())
	h.answer(w, r, http.StatusOK, map[string]any{"rollouts": rs}, err)
}
