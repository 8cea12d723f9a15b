package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/tetherdesk/tether/server/app"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/protocol"
)

func (h *handlers) enroll(w http.ResponseWriter, r *http.Request) {
	var req protocol.EnrollRequest
	if err := decode(w, r, &req, false); err != nil {
		app.Public(r.Context())
		h.writeError(w, r, err)
		return
	}
	resp, err := h.svc.Enroll(r.Context(), req, app.RemoteIP(r.RemoteAddr))
	h.answer(w, r, http.StatusCreated, resp, err)
}

func (h *handlers) poll(w http.ResponseWriter, r *http.Request) {
	var req protocol.PollRequest
	if err := decode(w, r, &req, false); err != nil {
		app.Public(r.Context())
		h.writeError(w, r, err)
		return
	}
	secret, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	resp, err := h.svc.Poll(r.Context(), secret, req, app.RemoteIP(r.RemoteAddr))
	h.answer(w, r, http.StatusOK, resp, err)
}

func (h *handlers) login(w http.ResponseWriter, r *http.Request) {
	var req protocol.LoginRequest
	if err := decode(w, r, &req, true); err != nil {
		app.Public(r.Context())
		h.writeError(w, r, err)
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

func (h *handlers) endpoint(w http.ResponseWriter, r *http.Request) {
	ep, err := h.svc.Endpoint(r.Context(), r.PathValue("id"))
	h.answer(w, r, http.StatusOK, ep, err)
}

func (h *handlers) queueAction(w http.ResponseWriter, r *http.Request) {
	var req protocol.QueueActionRequest
	if !h.decodeOrFail(w, r, &req) {
		return
	}
	st, err := h.svc.QueueAction(r.Context(), r.PathValue("id"), req)
	h.answer(w, r, http.StatusAccepted, st, err)
}

func (h *handlers) revokeEndpoint(w http.ResponseWriter, r *http.Request) {
	err := h.svc.RevokeEndpoint(r.Context(), r.PathValue("id"))
	h.answer(w, r, http.StatusOK, map[string]bool{"ok": true}, err)
}

func (h *handlers) actionStatus(w http.ResponseWriter, r *http.Request) {
	st, err := h.svc.ActionStatus(r.Context(), r.PathValue("id"))
	h.answer(w, r, http.StatusOK, st, err)
}

func (h *handlers) listUsers(w http.ResponseWriter, r *http.Request) {
	us, err := h.svc.ListUsers(r.Context())
	h.answer(w, r, http.StatusOK, map[string]any{"users": us}, err)
}

func (h *handlers) createUser(w http.ResponseWriter, r *http.Request) {
	var req protocol.CreateUserRequest
	if !h.decodeOrFail(w, r, &req) {
		return
	}
	u, err := h.svc.CreateUser(r.Context(), req)
	h.answer(w, r, http.StatusCreated, u, err)
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

func (h *handlers) createToken(w http.ResponseWriter, r *http.Request) {
	var req protocol.CreateTokenRequest
	if !h.decodeOrFail(w, r, &req) {
		return
	}
	t, err := h.svc.CreateEnrollmentToken(r.Context(), req)
	h.answer(w, r, http.StatusCreated, t, err)
}

func (h *handlers) revokeToken(w http.ResponseWriter, r *http.Request) {
	err := h.svc.RevokeEnrollmentToken(r.Context(), r.PathValue("id"))
	h.answer(w, r, http.StatusOK, map[string]bool{"ok": true}, err)
}

func (h *handlers) listAPITokens(w http.ResponseWriter, r *http.Request) {
	ts, err := h.svc.ListAPITokens(r.Context())
	h.answer(w, r, http.StatusOK, map[string]any{"tokens": ts}, err)
}

func (h *handlers) createAPIToken(w http.ResponseWriter, r *http.Request) {
	var req protocol.CreateAPITokenRequest
	if !h.decodeOrFail(w, r, &req) {
		return
	}
	t, err := h.svc.CreateAPIToken(r.Context(), req)
	h.answer(w, r, http.StatusCreated, t, err)
}

func (h *handlers) deleteAPIToken(w http.ResponseWriter, r *http.Request) {
	err := h.svc.DeleteAPIToken(r.Context(), r.PathValue("id"))
	h.answer(w, r, http.StatusOK, map[string]bool{"ok": true}, err)
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
		app.Public(r.Context())
		h.writeError(w, r, err)
		return
	}
	rs, err := h.svc.ListAudit(r.Context(), f)
	h.answer(w, r, http.StatusOK, map[string]any{"records": rs}, err)
}

// decodeOrFail decodes a strict JSON body or answers 400. A malformed body
// is refused before any permission check, so the guard is told it is public.
func (h *handlers) decodeOrFail(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := decode(w, r, v, true); err != nil {
		app.Public(r.Context())
		h.writeError(w, r, err)
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
