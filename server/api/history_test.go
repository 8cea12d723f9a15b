package api_test

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// TestSessionHistoryAndCSV lists ended sessions in the audit history with
// filters, and exports them as RFC 4180 CSV that encoding/csv reads back
// field for field, commas and quotes included.
func TestSessionHistoryAndCSV(t *testing.T) {
	e := newEnv(t)
	const odd = `Pat "PJ" O'Brien, Jr`
	epID, _ := e.enroll(`lab "west", pc-7`, "Default", "10.1.2.3")
	other, _ := e.enroll("front-desk", "Default", "10.1.2.4")
	tech := e.user(odd, perm.RoleScreenShareAgent)
	auditor := e.user("auditor", perm.RoleScreenShareAdmin)

	var ids []string
	for _, ep := range []string{epID, other} {
		var s protocol.Session
		if st := tech.do("POST", "/api/v1/sessions", protocol.CreateSessionRequest{EndpointID: ep, Attended: true}, &s); st != 201 {
			t.Fatalf("create session: %d %s", st, tech.last)
		}
		ids = append(ids, s.ID)
	}
	e.clock.Add(50 * time.Second) // below StartTimeout: the sweep leaves them alone
	for _, id := range ids {
		if st := tech.do("POST", "/api/v1/sessions/"+id+"/end", map[string]any{}, nil); st != 200 {
			t.Fatalf("end session: %d %s", st, tech.last)
		}
	}

	var hist struct {
		Sessions []protocol.SessionRecord `json:"sessions"`
	}
	if st := auditor.do("GET", "/api/v1/audit/sessions?endpoint=WEST", nil, &hist); st != 200 {
		t.Fatalf("history: %d %s", st, auditor.last)
	}
	if len(hist.Sessions) != 1 || hist.Sessions[0].ID != ids[0] {
		t.Fatalf("history filtered by endpoint: %+v, want only %s", hist.Sessions, ids[0])
	}
	h := hist.Sessions[0]
	if h.Technician != odd || h.Reason != protocol.EndedByTechnician || h.DurationS != 50 || !h.Attended || h.Ended == nil {
		t.Errorf("history record %+v", h)
	}
	if st := auditor.do("GET", "/api/v1/audit/sessions?technician=nobody", nil, &hist); st != 200 || len(hist.Sessions) != 0 {
		t.Errorf("filter by an unknown technician: %d, %d sessions", st, len(hist.Sessions))
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if st := auditor.do("GET", "/api/v1/audit/sessions?since="+future, nil, &hist); st != 200 || len(hist.Sessions) != 0 {
		t.Errorf("filter since the future: %d, %d sessions", st, len(hist.Sessions))
	}
	if st := auditor.do("GET", "/api/v1/audit/sessions?since=yesterday", nil, nil); st != 400 {
		t.Errorf("since=yesterday: %d, want 400", st)
	}

	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/audit/sessions.csv", nil)
	resp, err := auditor.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("CSV export: %s, Content-Type %q", resp.Status, ct)
	}
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if !bytes.Contains(buf.Bytes(), []byte("\r\n")) {
		t.Errorf("CSV rows do not end in CRLF (RFC 4180)")
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v\n%s", err, buf.String())
	}
	if len(rows) != 3 || !slices.Equal(rows[0][:3], []string{"session_id", "technician", "endpoint"}) {
		t.Fatalf("CSV rows: %q, want a header and 2 sessions", rows)
	}
	byID := map[string][]string{}
	for _, r := range rows[1:] {
		byID[r[0]] = r
	}
	r := byID[ids[0]]
	if r == nil || r[1] != odd || r[2] != `lab "west", pc-7` || r[10] != string(protocol.EndedByTechnician) || r[9] != "50" {
		t.Errorf("CSV row of %s: %q", ids[0], r)
	}
}
