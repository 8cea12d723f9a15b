package api

import (
	"encoding/csv"
	"fmt"

	"github.com/tetherdesk/tether/server/app"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tetherdesk/tether/server/app/notifications"
)

func (h *handlers) routeNotifications(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/notifications", h.listNotifications)
	mux.HandleFunc("POST /api/v1/notifications", withBody(h, http.StatusCreated, h.svc.CreateNotification))
	mux.HandleFunc("GET /api/v1/notifications/settings", func(w http.ResponseWriter, r *http.Request) {
		v, err := h.svc.NotificationSettings(r.Context())
		h.answer(w, r, http.StatusOK, v, err)
	})
	mux.HandleFunc("PUT /api/v1/notifications/settings", withBody(h, http.StatusOK, h.svc.SetNotificationSettings))
	mux.HandleFunc("GET /api/v1/notification-branding/{group}", onPath(h, "group", h.svc.GetBranding))
	mux.HandleFunc("PUT /api/v1/notification-branding/{group}", withPathBody(h, "group", http.StatusOK, h.svc.SetBranding))
	mux.HandleFunc("GET /api/v1/notifications/{id}", onPath(h, "id", h.svc.GetNotification))
	mux.HandleFunc("PUT /api/v1/notifications/{id}", withPathBody(h, "id", http.StatusOK, h.svc.UpdateNotification))
	mux.HandleFunc("POST /api/v1/notifications/{id}/submit", withPathBody(h, "id", http.StatusOK, h.svc.SubmitNotification))
	mux.HandleFunc("POST /api/v1/notifications/{id}/approve", withPathBody(h, "id", http.StatusOK, h.svc.ApproveNotification))
	mux.HandleFunc("POST /api/v1/notifications/{id}/reject", withPathBody(h, "id", http.StatusOK, h.svc.RejectNotification))
	mux.HandleFunc("POST /api/v1/notifications/{id}/cancel", withPathBody(h, "id", http.StatusOK, h.svc.CancelNotification))
	mux.HandleFunc("POST /api/v1/notifications/{id}/send", withPathBody(h, "id", http.StatusCreated, h.svc.SendNotification))
	mux.HandleFunc("GET /api/v1/notifications/{id}/report", h.notificationReport)
	mux.HandleFunc("GET /api/v1/notifications/{id}/report.csv", h.notificationReportCSV)
}

func (h *handlers) listNotifications(w http.ResponseWriter, r *http.Request) {
	ns, err := h.svc.ListNotifications(r.Context(), r.URL.Query().Get("status"))
	h.answer(w, r, http.StatusOK, map[string]any{"notifications": ns}, err)
}

func reportFilter(r *http.Request) notifications.ReportFilter {
	q := r.URL.Query()
	return notifications.ReportFilter{Status: q.Get("status"), Response: q.Get("response"), Host: q.Get("host")}
}

// Pages of a report's endpoint table: 200 rows unless asked, 5,000 at most.
const (
	reportPage    = 200
	reportPageMax = 5000
)

func (h *handlers) notificationReport(w http.ResponseWriter, r *http.Request) {
	f := reportFilter(r)
	q := r.URL.Query()
	f.Limit = reportPage
	for _, p := range []struct {
		name string
		to   *int
		max  int
	}{{"limit", &f.Limit, reportPageMax}, {"offset", &f.Offset, 1 << 30}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > p.max || (p.name == "limit" && n == 0) {
				h.refuse(w, r, fmt.Errorf("%w: %s %q: a number up to %d (limit at least 1)", app.ErrBadRequest, p.name, v, p.max))
				return
			}
			*p.to = n
		}
	}
	rep, err := h.svc.NotificationReport(r.Context(), r.PathValue("id"), f)
	h.answer(w, r, http.StatusOK, rep, err)
}

// notifyCSVHeader names the report CSV's columns.
var notifyCSVHeader = []string{"endpoint_id", "hostname", "status", "response", "postpones", "users", "delivered", "shown", "answered", "error"}

// notificationReportCSV exports a report's endpoint table (filters
// applied) as RFC 4180 CSV, times in RFC 3339 UTC.
func (h *handlers) notificationReportCSV(w http.ResponseWriter, r *http.Request) {
	rep, err := h.svc.NotificationReport(r.Context(), r.PathValue("id"), reportFilter(r))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	ts := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="tether-notification-`+rep.ID+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	_ = cw.Write(notifyCSVHeader)
	for _, e := range rep.Endpoints {
		_ = cw.Write([]string{e.EndpointID, csvSafe(e.Hostname), e.Status, csvSafe(e.Response), strconv.Itoa(e.Postpones),
			csvSafe(strings.Join(e.Users, " ")), ts(e.Delivered), ts(e.Shown), ts(e.Answered), csvSafe(e.Error)})
	}
	cw.Flush()
}
