package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/coder/websocket"

	"github.com/tetherdesk/tether/server/app"
)

func (h *handlers) listSessions(w http.ResponseWriter, r *http.Request) {
	var active bool
	switch st := r.URL.Query().Get("state"); st {
	case "", "all":
	case "active":
		active = true
	default:
		h.refuse(w, r, badParam("state must be active or all"))
		return
	}
	ss, err := h.svc.ListSessions(r.Context(), active)
	h.answer(w, r, http.StatusOK, map[string]any{"sessions": ss}, err)
}

func (h *handlers) putPolicy(w http.ResponseWriter, r *http.Request) {
	var doc json.RawMessage
	if !h.decodeOrFail(w, r, &doc) {
		return
	}
	p, err := h.svc.PutPolicy(r.Context(), r.PathValue("group"), doc)
	h.answer(w, r, http.StatusOK, p, err)
}

// isWebSocket reports whether r asks for a websocket upgrade.
func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

var errNotWebSocket = fmt.Errorf("%w: this path serves a websocket (Upgrade: websocket)", app.ErrBadRequest)

// agentSignal serves the session helper's signalling websocket; the bearer
// is the session's agent token, not the agent's own secret.
func (h *handlers) agentSignal(w http.ResponseWriter, r *http.Request) {
	tok := bearer(r)
	s, err := h.svc.AgentSession(r.Context(), r.PathValue("id"), tok)
	if err == nil && !isWebSocket(r) {
		err = errNotWebSocket
	}
	if err == nil && h.sig == nil {
		err = fmt.Errorf("%w: signalling is not running", errUnavailable)
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	// Not a browser: authenticated by the token, so Origin does not matter.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept has answered
	}
	h.sig.ServeAgent(conn, s, h.svc)
}

// viewerSignal serves a viewer's signalling websocket: the console cookie
// (same-origin only) or an API token; the caller must be allowed to view
// the session. The permission check is recorded before the upgrade.
func (h *handlers) viewerSignal(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if p := app.PrincipalFrom(ctx); p != nil && p.SessionID != "" && !sameOrigin(r) {
		app.Public(ctx)
		h.writeError(w, r, errCSRF)
		return
	}
	if !isWebSocket(r) || h.sig == nil {
		// Still answer by permission first, so nothing is learnt without it.
		_, err := h.svc.GetSession(ctx, r.PathValue("id"))
		if err == nil {
			err = errNotWebSocket
			if h.sig == nil {
				err = fmt.Errorf("%w: signalling is not running", errUnavailable)
			}
		}
		h.writeError(w, r, err)
		return
	}
	// ?viewer= takes back the seat of a connection that dropped.
	resume := r.URL.Query().Get("viewer")
	var j app.ViewerJoin
	var err error
	if resume != "" {
		j, err = h.svc.RejoinSession(ctx, r.PathValue("id"), resume)
	} else {
		j, err = h.svc.JoinSession(ctx, r.PathValue("id"))
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	conn, err := websocket.Accept(w, r, nil) // also refuses a cross-origin browser
	if err != nil {
		if resume == "" {
			h.svc.LeaveSession(ctx, j.Session.ID, j.ViewerID, j.User)
		}
		return
	}
	h.sig.ServeViewer(conn, j, h.svc)
}
