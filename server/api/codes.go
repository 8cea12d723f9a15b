package api

import (
	"net/http"

	"github.com/tetherdesk/tether/server/app"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Connection codes: the console's broker sessions and the agent's entry.

func (h *handlers) issueCode(w http.ResponseWriter, r *http.Request) {
	c, err := h.svc.IssueCode(r.Context())
	h.answer(w, r, http.StatusCreated, c, err)
}

func (h *handlers) redeemCode(w http.ResponseWriter, r *http.Request) {
	var req protocol.RedeemCodeRequest
	if err := decode(w, r, &req, false); err != nil {
		h.refuse(w, r, err)
		return
	}
	secret := bearer(r)
	resp, err := h.svc.RedeemCode(r.Context(), secret, req.Code, app.RemoteIP(r.RemoteAddr))
	h.answer(w, r, http.StatusOK, resp, err)
}
