package api

import (
	"net/http"

	"github.com/tetherdesk/tether/shared/protocol"
)

// Handlers of Settings: users, roles, computer groups and an endpoint's
// groups. Each is decode, one service call, encode.

func (h *handlers) updateUser(w http.ResponseWriter, r *http.Request) {
	var req protocol.UpdateUserRequest
	if !h.decodeOrFail(w, r, &req) {
		return
	}
	u, err := h.svc.UpdateUser(r.Context(), r.PathValue("id"), req)
	h.answer(w, r, http.StatusOK, u, err)
}

func (h *handlers) resetPassword(w http.ResponseWriter, r *http.Request) {
	var req protocol.ResetPasswordRequest
	if !h.decodeOrFail(w, r, &req) {
		return
	}
	err := h.svc.ResetPassword(r.Context(), r.PathValue("id"), req)
	h.answer(w, r, http.StatusOK, map[string]bool{"ok": true}, err)
}

func (h *handlers) deleteUser(w http.ResponseWriter, r *http.Request) {
	err := h.svc.DeleteUser(r.Context(), r.PathValue("id"))
	h.answer(w, r, http.StatusOK, map[string]bool{"ok": true}, err)
}

func (h *handlers) createRole(w http.ResponseWriter, r *http.Request) {
	var req protocol.RoleRequest
	if !h.decodeOrFail(w, r, &req) {
		return
	}
	role, err := h.svc.CreateRole(r.Context(), req)
	h.answer(w, r, http.StatusCreated, role, err)
}

func (h *handlers) updateRole(w http.ResponseWriter, r *http.Request) {
	var req protocol.RoleRequest
	if !h.decodeOrFail(w, r, &req) {
		return
	}
	role, err := h.svc.UpdateRole(r.Context(), r.PathValue("name"), req)
	h.answer(w, r, http.StatusOK, role, err)
}

func (h *handlers) deleteRole(w http.ResponseWriter, r *http.Request) {
	err := h.svc.DeleteRole(r.Context(), r.PathValue("name"))
	h.answer(w, r, http.StatusOK, map[string]bool{"ok": true}, err)
}

func (h *handlers) updateGroup(w http.ResponseWriter, r *http.Request) {
	var req protocol.GroupRequest
	if !h.decodeOrFail(w, r, &req) {
		return
	}
	g, err := h.svc.UpdateGroup(r.Context(), r.PathValue("id"), req)
	h.answer(w, r, http.StatusOK, g, err)
}

func (h *handlers) deleteGroup(w http.ResponseWriter, r *http.Request) {
	err := h.svc.DeleteGroup(r.Context(), r.PathValue("id"))
	h.answer(w, r, http.StatusOK, map[string]bool{"ok": true}, err)
}

func (h *handlers) setEndpointGroups(w http.ResponseWriter, r *http.Request) {
	var req protocol.EndpointGroupsRequest
	if !h.decodeOrFail(w, r, &req) {
		return
	}
	ep, err := h.svc.SetEndpointGroups(r.Context(), r.PathValue("id"), req)
	h.answer(w, r, http.StatusOK, ep, err)
}
