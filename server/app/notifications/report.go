package notifications

import (
	"context"
	"slices"
	"strings"

	"github.com/tetherdesk/tether/server/app/core"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/protocol"
)

// ReportFilter narrows a report's endpoint table (not its counts):
// Status and Response exactly, Host as a case-insensitive substring;
// Limit rows from Offset (Limit 0: all of them, as the CSV has).
type ReportFilter struct {
	Status   string
	Response string
	Host     string
	Offset   int
	Limit    int
}

// Endpoint statuses before an agent reports anything.
const (
	endpointPending      = "pending"       // targeted, not yet delivered
	endpointNotDelivered = "not_delivered" // and now expired or cancelled
)

// final are the endpoint statuses after which nothing more is expected.
var final = []string{"responded", "dismissed", "expired", "failed", "cancelled", endpointNotDelivered}

// NotificationReport tells what became of a notification: every endpoint
// it targets now or that reported on it, by status and response.
func (s *Service) NotificationReport(ctx context.Context, id string, f ReportFilter) (protocol.NotificationReport, error) {
	p, err := core.RequireAny(ctx, readPerms...)
	if err != nil {
		return protocol.NotificationReport{}, err
	}
	n, d, err := s.load(ctx, p, id)
	if err != nil {
		return protocol.NotificationReport{}, err
	}
	rep := protocol.NotificationReport{ID: n.ID, Version: n.ApprovedVersion, Statuses: map[string]int{}, Responses: map[string]int{},
		Endpoints: []protocol.NotificationEndpoint{}}
	rep.Status = shownStatus(n, d, s.Now().UTC())
	if n.ApprovedVersion == 0 {
		return rep, nil
	}
	ds, err := s.st.NotificationDeliveries(ctx, n.ID)
	if err != nil {
		return protocol.NotificationReport{}, err
	}
	byAgent := make(map[string]store.NotificationDelivery, len(ds))
	for _, dl := range ds {
		byAgent[dl.AgentID] = dl
	}
	over := rep.Status == protocol.NotifyExpired || rep.Status == protocol.NotifyCancelled
	var rows []protocol.NotificationEndpoint
	seen := map[string]bool{}
	err = store.EachAgent(ctx, s.st, func(a store.Agent) error {
		dl, ok := byAgent[a.ID]
		if !ok && !matches(a, d.Targets) {
			return nil
		}
		seen[a.ID] = true
		rows = append(rows, endpointRow(a.ID, a.Hostname, dl, ok, over))
		return nil
	})
	if err != nil {
		return protocol.NotificationReport{}, err
	}
	for _, dl := range ds {
		if !seen[dl.AgentID] { // revoked since
			rows = append(rows, endpointRow(dl.AgentID, "", dl, true, over))
		}
	}
	slices.SortFunc(rows, func(x, y protocol.NotificationEndpoint) int {
		if c := strings.Compare(strings.ToLower(x.Hostname), strings.ToLower(y.Hostname)); c != 0 {
			return c
		}
		return strings.Compare(x.EndpointID, y.EndpointID)
	})
	rep.Targeted = len(rows)
	done := 0
	host := strings.ToLower(f.Host)
	for _, r := range rows {
		rep.Statuses[r.Status]++
		if r.Response != "" {
			rep.Responses[r.Response]++
		}
		if slices.Contains(final, r.Status) {
			done++
		}
		if (f.Status == "" || r.Status == f.Status) && (f.Response == "" || r.Response == f.Response) &&
			(host == "" || strings.Contains(strings.ToLower(r.Hostname), host)) {
			if rep.Matching >= f.Offset && (f.Limit == 0 || len(rep.Endpoints) < f.Limit) {
				rep.Endpoints = append(rep.Endpoints, r)
			}
			rep.Matching++
		}
	}
	if rep.Status == protocol.NotifyDelivering && done == len(rows) && len(rows) > 0 {
		rep.Status = protocol.NotifyCompleted
	}
	return rep, nil
}

func endpointRow(id, hostname string, dl store.NotificationDelivery, ok, over bool) protocol.NotificationEndpoint {
	r := protocol.NotificationEndpoint{EndpointID: id, Hostname: hostname, Status: endpointPending}
	if over {
		r.Status = endpointNotDelivered
	}
	if !ok {
		return r
	}
	r.Status, r.Response, r.Postpones, r.Users, r.Error = dl.Status, dl.Response, dl.Postpones, dl.Users, dl.Error
	r.Delivered, r.Shown, r.Answered = dl.Delivered, dl.Shown, dl.Answered
	return r
}
