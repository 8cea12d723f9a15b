package notifications

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tetherdesk/tether/server/app/core"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// editable are the statuses a notification's content may change from.
var editable = []string{protocol.NotifyDraft, protocol.NotifyPendingApproval, protocol.NotifyRejected, protocol.NotifyApproved}

// ListNotifications lists the notifications the caller may read, newest
// change first; status filters by the status shown.
func (s *Service) ListNotifications(ctx context.Context, status string) ([]protocol.NotificationInfo, error) {
	p, err := core.RequireAny(ctx, readPerms...)
	if err != nil {
		return nil, err
	}
	f := store.NotificationFilter{Limit: 1000}
	switch status {
	case protocol.NotifyScheduled, protocol.NotifyDelivering, protocol.NotifyCompleted, protocol.NotifyExpired:
		f.Status = protocol.NotifyApproved // shown by schedule and deliveries
	default:
		f.Status = status
	}
	// A scoped reader's: those targeting one of its groups (it must hold
	// the permission over all of them to see one, checked below).
	for _, pm := range readPerms {
		if p.Global(pm) {
			f.Groups = nil
			break
		}
		f.Groups = append(f.Groups, p.GroupsFor(pm)...)
	}
	if f.Groups != nil {
		slices.Sort(f.Groups)
		f.Groups = slices.Compact(f.Groups)
	}
	ns, err := s.st.ListNotifications(ctx, f)
	if err != nil {
		return nil, err
	}
	out := []protocol.NotificationInfo{}
	names := map[string]string{}
	for _, n := range ns {
		if !mayRead(p, n.Groups) {
			continue
		}
		info, err := s.info(ctx, p, n, names)
		if err != nil {
			return nil, err
		}
		if status == "" || info.Status == status {
			out = append(out, info)
		}
	}
	return out, nil
}

// GetNotification answers GET /api/v1/notifications/{id}.
func (s *Service) GetNotification(ctx context.Context, id string) (protocol.NotificationInfo, error) {
	p, err := core.RequireAny(ctx, readPerms...)
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	n, _, err := s.load(ctx, p, id)
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	return s.info(ctx, p, n, map[string]string{})
}

// shownStatus is what an approved notification is by its schedule.
func shownStatus(n store.Notification, d doc, now time.Time) string {
	if n.Status != protocol.NotifyApproved {
		return n.Status
	}
	w, err := parseWindow(d.Schedule)
	if err != nil {
		return n.Status
	}
	switch {
	case !now.Before(w.expires):
		return protocol.NotifyExpired
	case !w.start.IsZero() && now.Before(w.earliest()):
		return protocol.NotifyScheduled
	}
	return protocol.NotifyDelivering
}

// status is n's status as shown: by its schedule, and completed once
// every target is done.
func (s *Service) status(n store.Notification, d doc) string {
	st := shownStatus(n, d, s.Now().UTC())
	if st == protocol.NotifyDelivering && s.isCompleted(n.ID) {
		return protocol.NotifyCompleted
	}
	return st
}

// info describes n to p; names caches user and group names.
func (s *Service) info(ctx context.Context, p *core.Principal, n store.Notification, names map[string]string) (protocol.NotificationInfo, error) {
	d, err := decodeDoc(n)
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	name := func(kind, id string) string {
		if id == "" {
			return ""
		}
		if v, ok := names[kind+id]; ok {
			return v
		}
		v := id
		switch kind {
		case "user":
			if u, err := s.st.UserByID(ctx, id); err == nil {
				v = u.Name
			}
		case "group":
			v = s.GroupName(ctx, id)
		}
		names[kind+id] = v
		return v
	}
	info := protocol.NotificationInfo{
		ID: n.ID, Status: s.status(n, d), Version: n.Version, NotificationContent: d.NotificationContent,
		Schedule: d.Schedule, Targets: d.Targets, Author: name("user", n.AuthorID), CreatedBy: name("user", n.CreatedBy),
		Created: n.Created, Updated: n.Updated, ApprovedVersion: n.ApprovedVersion, ApprovedBy: name("user", n.ApprovedBy),
		ApprovedAt: n.ApprovedAt, Reason: n.Reason,
	}
	if n.ApprovedVersion > 0 && n.ApprovedBy == "" {
		info.ApprovedBy = "(approval not required)"
	}
	for _, g := range d.Targets.Groups {
		info.GroupNames = append(info.GroupNames, name("group", g))
	}
	open := n.Status != protocol.NotifyCancelled
	info.MayEdit = open && holdsAll(p, perm.NotificationsManage, n.Groups)
	info.MaySend = n.ApprovedVersion > 0 && (holdsAll(p, perm.NotificationsSend, n.Groups) || holdsAll(p, perm.NotificationsManage, n.Groups))
	info.MayApprove = n.Status == protocol.NotifyPendingApproval && n.AuthorID != p.UserID && holdsAll(p, perm.NotificationsApprove, n.Groups)
	return info, nil
}

// CreateNotification stores a new notification, pending approval (or a
// draft, or approved at once when the installation needs no approval).
func (s *Service) CreateNotification(ctx context.Context, sp protocol.NotificationSpec) (protocol.NotificationInfo, error) {
	p, err := core.Require(ctx, perm.NotificationsManage)
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	if sp.Version != 0 {
		return protocol.NotificationInfo{}, core.BadRequest("version is set by the server on create")
	}
	if err := s.checkSpec(ctx, p, &sp, perm.NotificationsManage); err != nil {
		return protocol.NotificationInfo{}, err
	}
	return s.create(ctx, p, sp, protocol.AuditNotifyCreated, "")
}

// stored is sp as the store keeps it (the doc, without the request's
// draft flag and version) and the status it is stored in.
func stored(sp protocol.NotificationSpec) (b []byte, status string, draft bool, err error) {
	draft = sp.Draft
	sp.Draft, sp.Version = false, 0
	status = protocol.NotifyPendingApproval
	if draft {
		status = protocol.NotifyDraft
	}
	b, err = json.Marshal(sp)
	return b, status, draft, err
}

// create stores sp as a new notification by p.
func (s *Service) create(ctx context.Context, p *core.Principal, sp protocol.NotificationSpec, typ protocol.AuditType, from string) (protocol.NotificationInfo, error) {
	b, status, draft, err := stored(sp)
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	n := store.Notification{ID: core.NewID(), Status: status, Doc: b, Groups: sp.Targets.Groups, AuthorID: p.UserID,
		CreatedBy: p.UserID, Created: s.Now().UTC(), Expires: sp.Schedule.Expires}
	details := []string{"notification", n.ID, "title", sp.Title, "status", status}
	if from != "" {
		details = append(details, "from", from)
	}
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: typ, Details: core.Details(details...)}, func() error {
		n, err = s.st.CreateNotification(ctx, n)
		return err
	})
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	if !draft {
		if n, err = s.autoApprove(ctx, p, n); err != nil {
			return protocol.NotificationInfo{}, err
		}
	}
	return s.info(ctx, p, n, map[string]string{})
}

// autoApprove approves a notification just put up for approval when the
// installation needs none.
func (s *Service) autoApprove(ctx context.Context, p *core.Principal, n store.Notification) (store.Notification, error) {
	req, err := s.approvalRequired(ctx)
	if err != nil || req {
		return n, err
	}
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditNotifyApproved,
		Details: core.Details("notification", n.ID, "version", fmt.Sprint(n.Version), "approval", "not required")}, func() error {
		n, err = s.st.DecideNotification(ctx, store.NotificationDecision{ID: n.ID, Version: n.Version,
			From: []string{protocol.NotifyPendingApproval}, To: protocol.NotifyApproved, Decision: "approved",
			Reason: "approval not required", At: s.Now().UTC()})
		return err
	})
	if err == nil {
		s.approved(ctx, n)
	}
	return n, err
}

// holding loads a notification for a caller who must hold pm over every
// group it targets (not found when it may not read it).
func (s *Service) holding(ctx context.Context, id string, pm perm.Permission) (*core.Principal, store.Notification, error) {
	p, err := core.Require(ctx, pm)
	if err != nil {
		return nil, store.Notification{}, err
	}
	n, _, err := s.load(ctx, p, id)
	if err != nil {
		return nil, store.Notification{}, err
	}
	if !holdsAll(p, pm, n.Groups) {
		return nil, store.Notification{}, fmt.Errorf("%w: %s over every group it targets is needed", core.ErrForbidden, pm)
	}
	return p, n, nil
}

// manageable loads a notification for a writer.
func (s *Service) manageable(ctx context.Context, id string) (*core.Principal, store.Notification, error) {
	return s.holding(ctx, id, perm.NotificationsManage)
}

// UpdateNotification replaces a notification's content as a new version,
// which needs approval again (delivery of an approved one stops until then).
func (s *Service) UpdateNotification(ctx context.Context, id string, sp protocol.NotificationSpec) (protocol.NotificationInfo, error) {
	p, n, err := s.manageable(ctx, id)
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	if sp.Version != n.Version {
		return protocol.NotificationInfo{}, fmt.Errorf("%w: notification is at version %d, not %d", store.ErrConflict, n.Version, sp.Version)
	}
	if err := s.checkSpec(ctx, p, &sp, perm.NotificationsManage); err != nil {
		return protocol.NotificationInfo{}, err
	}
	b, status, draft, err := stored(sp)
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	next := store.Notification{ID: n.ID, Status: status, Version: n.Version + 1, Doc: b, Groups: sp.Targets.Groups,
		AuthorID: p.UserID, Updated: s.Now().UTC(), Expires: sp.Schedule.Expires}
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditNotifyChanged,
		Details: core.Details("notification", n.ID, "version", fmt.Sprint(next.Version), "title", sp.Title, "status", status)}, func() error {
		n, err = s.st.ReviseNotification(ctx, next, editable)
		return err
	})
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	s.changed()
	if !draft {
		if n, err = s.autoApprove(ctx, p, n); err != nil {
			return protocol.NotificationInfo{}, err
		}
	}
	return s.info(ctx, p, n, map[string]string{})
}

// SubmitNotification puts a draft (or a rejected version) up for approval.
func (s *Service) SubmitNotification(ctx context.Context, id string, req protocol.NotificationDecide) (protocol.NotificationInfo, error) {
	p, n, err := s.manageable(ctx, id)
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	if req.Version != n.Version {
		return protocol.NotificationInfo{}, fmt.Errorf("%w: the notification is at version %d, not %d", store.ErrConflict, n.Version, req.Version)
	}
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditNotifySubmitted,
		Details: core.Details("notification", n.ID, "version", fmt.Sprint(req.Version))}, func() error {
		n, err = s.st.DecideNotification(ctx, store.NotificationDecision{ID: n.ID, Version: req.Version,
			From: []string{protocol.NotifyDraft, protocol.NotifyRejected}, To: protocol.NotifyPendingApproval, At: s.Now().UTC()})
		return err
	})
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	if n, err = s.autoApprove(ctx, p, n); err != nil {
		return protocol.NotificationInfo{}, err
	}
	return s.info(ctx, p, n, map[string]string{})
}

// decidable loads a notification for an approver: notifications.approve
// over every target group, and not the author of the version.
func (s *Service) decidable(ctx context.Context, id string, version int) (*core.Principal, store.Notification, error) {
	p, n, err := s.holding(ctx, id, perm.NotificationsApprove)
	if err != nil {
		return nil, store.Notification{}, err
	}
	if n.AuthorID == p.UserID {
		return nil, store.Notification{}, fmt.Errorf("%w: the author of a version cannot approve or reject it; another approver must", core.ErrForbidden)
	}
	// The checks above were made on the version loaded: the decision
	// binds to it (the store refuses if it changed since), so a version
	// written meanwhile, by its own approver say, is never decided here.
	if version != n.Version {
		return nil, store.Notification{}, fmt.Errorf("%w: the notification is at version %d, not %d", store.ErrConflict, n.Version, version)
	}
	return p, n, nil
}

// ApproveNotification approves one version: it is delivered from now on.
func (s *Service) ApproveNotification(ctx context.Context, id string, req protocol.NotificationDecide) (protocol.NotificationInfo, error) {
	p, n, err := s.decidable(ctx, id, req.Version)
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	d, err := decodeDoc(n)
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	if w, err := parseWindow(d.Schedule); err == nil && !s.Now().Before(w.expires) {
		return protocol.NotificationInfo{}, core.BadRequest("the notification expired %s; change its schedule first", w.expires.Format(time.RFC3339))
	}
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditNotifyApproved,
		Details: core.Details("notification", n.ID, "version", fmt.Sprint(req.Version), "title", d.Title)}, func() error {
		n, err = s.st.DecideNotification(ctx, store.NotificationDecision{ID: n.ID, Version: req.Version,
			From: []string{protocol.NotifyPendingApproval}, To: protocol.NotifyApproved, Decision: "approved", By: p.UserID, At: s.Now().UTC()})
		return err
	})
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	s.approved(ctx, n)
	return s.info(ctx, p, n, map[string]string{})
}

// RejectNotification sends a version back to its author with a reason.
func (s *Service) RejectNotification(ctx context.Context, id string, req protocol.NotificationDecide) (protocol.NotificationInfo, error) {
	if err := checkReason(req.Reason, true); err != nil {
		core.Public(ctx)
		return protocol.NotificationInfo{}, err
	}
	p, n, err := s.decidable(ctx, id, req.Version)
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditNotifyRejected,
		Details: core.Details("notification", n.ID, "version", fmt.Sprint(req.Version), "reason", req.Reason)}, func() error {
		n, err = s.st.DecideNotification(ctx, store.NotificationDecision{ID: n.ID, Version: req.Version,
			From: []string{protocol.NotifyPendingApproval}, To: protocol.NotifyRejected, Decision: "rejected", By: p.UserID,
			Reason: req.Reason, At: s.Now().UTC()})
		return err
	})
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	return s.info(ctx, p, n, map[string]string{})
}

// CancelNotification stops a notification for good: no further delivery.
func (s *Service) CancelNotification(ctx context.Context, id string, req protocol.NotificationDecide) (protocol.NotificationInfo, error) {
	if err := checkReason(req.Reason, false); err != nil {
		core.Public(ctx)
		return protocol.NotificationInfo{}, err
	}
	p, err := core.RequireAny(ctx, perm.NotificationsManage, perm.NotificationsSend)
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	n, _, err := s.load(ctx, p, id)
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	if !holdsAll(p, perm.NotificationsManage, n.Groups) && !holdsAll(p, perm.NotificationsSend, n.Groups) {
		return protocol.NotificationInfo{}, fmt.Errorf("%w: notifications.manage or .send over every group it targets is needed", core.ErrForbidden)
	}
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditNotifyCancelled,
		Details: core.Details("notification", n.ID, "version", fmt.Sprint(n.Version), "reason", req.Reason)}, func() error {
		n, err = s.st.DecideNotification(ctx, store.NotificationDecision{ID: n.ID, Version: n.Version,
			From: editable, To: protocol.NotifyCancelled, By: p.UserID, Reason: req.Reason, At: s.Now().UTC()})
		return err
	})
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	s.withdraw(ctx, n.ID)
	return s.info(ctx, p, n, map[string]string{})
}

// SendNotification sends an approved notification's content again, as a
// new notification with new targets and schedule, which needs approval
// like any other: the Operator's way to reuse what was approved.
func (s *Service) SendNotification(ctx context.Context, id string, req protocol.NotificationSend) (protocol.NotificationInfo, error) {
	p, err := core.RequireAny(ctx, perm.NotificationsSend, perm.NotificationsManage)
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	n, _, err := s.load(ctx, p, id)
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	if n.ApprovedVersion == 0 {
		return protocol.NotificationInfo{}, fmt.Errorf("%w: only an approved notification can be sent again", store.ErrConflict)
	}
	vs, err := s.st.NotificationVersions(ctx, n.ID)
	if err != nil {
		return protocol.NotificationInfo{}, err
	}
	var src doc
	for _, v := range vs {
		if v.Version == n.ApprovedVersion {
			if err := json.Unmarshal(v.Doc, &src); err != nil {
				return protocol.NotificationInfo{}, fmt.Errorf("notification %q version %d: %w", n.ID, v.Version, err)
			}
		}
	}
	sp := protocol.NotificationSpec{NotificationContent: src.NotificationContent, Schedule: req.Schedule, Targets: req.Targets}
	if err := s.checkSpec(ctx, p, &sp, perm.NotificationsSend, perm.NotificationsManage); err != nil {
		// A deferral deadline of the original may not fit the new schedule.
		var bad error = err
		if errors.Is(err, core.ErrBadRequest) && sp.Deferral != nil {
			bad = fmt.Errorf("%w (the original's postpone choice is kept)", err)
		}
		return protocol.NotificationInfo{}, bad
	}
	return s.create(ctx, p, sp, protocol.AuditNotifySent, n.ID)
}
