package api

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tetherdesk/tether/server/app"
	"github.com/tetherdesk/tether/shared/protocol"
)

// historyFilter reads the query of the session history routes:
// technician, endpoint, session (one session's id), since, until (RFC
// 3339) and limit.
func historyFilter(r *http.Request) (app.HistoryFilter, error) {
	q := r.URL.Query()
	f := app.HistoryFilter{Technician: q.Get("technician"), Endpoint: q.Get("endpoint"), Session: q.Get("session")}
	var err error
	if f.Since, err = timeParam(r, "since"); err != nil {
		return f, err
	}
	if f.Until, err = timeParam(r, "until"); err != nil {
		return f, err
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil {
			return f, badParam("limit must be a number")
		}
	}
	return f, nil
}

func (h *handlers) sessionHistory(w http.ResponseWriter, r *http.Request) {
	if rs, ok := h.history(w, r); ok {
		writeJSON(w, http.StatusOK, map[string]any{"sessions": rs})
	}
}

// history reads the sessions the query asks for; when it cannot, it has
// answered and says false.
func (h *handlers) history(w http.ResponseWriter, r *http.Request) ([]protocol.SessionRecord, bool) {
	f, err := historyFilter(r)
	if err != nil {
		h.refuse(w, r, err)
		return nil, false
	}
	rs, err := h.svc.SessionHistory(r.Context(), f)
	if err != nil {
		h.writeError(w, r, err)
		return nil, false
	}
	return rs, true
}

// csvHeader names the columns of the session history export.
var csvHeader = []string{"session_id", "technician", "endpoint", "endpoint_id", "mode", "attended",
	"state", "start", "end", "duration_s", "end_reason", "joined", "control_handoffs"}

// sessionHistoryCSV exports the session history as RFC 4180 CSV: a header
// row, then one session per row (times in RFC 3339 UTC).
func (h *handlers) sessionHistoryCSV(w http.ResponseWriter, r *http.Request) {
	rs, ok := h.history(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="tether-sessions-`+time.Now().UTC().Format("20060102-150405")+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.UseCRLF = true // RFC 4180
	_ = cw.Write(csvHeader)
	for _, s := range rs {
		_ = cw.Write(csvRow(s))
	}
	cw.Flush()
}

func csvRow(s protocol.SessionRecord) []string {
	ts := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	var hand []string
	for _, c := range s.Control {
		from, to := c.From, c.To
		if from == "" {
			from = "nobody"
		}
		if to == "" {
			to = "nobody"
		}
		hand = append(hand, c.Time.UTC().Format(time.RFC3339)+" "+c.Op+" by "+c.By+": "+from+" -> "+to)
	}
	dur := ""
	if s.Ended != nil {
		dur = strconv.FormatInt(s.DurationS, 10)
	}
	kind := string(s.Mode)
	if s.Tool != "" {
		kind = "tool:" + s.Tool // a support tool's session has no mode
	}
	return []string{s.ID, csvSafe(s.Technician), csvSafe(s.Hostname), s.EndpointID, kind, strconv.FormatBool(s.Attended),
		string(s.State), s.Created.UTC().Format(time.RFC3339), ts(s.Ended), dur, string(s.Reason),
		csvSafe(strings.Join(s.Joined, "; ")), csvSafe(strings.Join(hand, "; "))}
}

// csvSafe keeps a spreadsheet from reading a free-text cell as a formula
// (CSV injection): such a cell gets a leading apostrophe.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
