// Package notifications is the service layer's end-user notifications:
// compose, approve by a second person, deliver to the endpoints a
// notification targets at its start on their clocks, and fold what the
// agents report into a report.
//
// Who may do what, checked against the notification's target groups
// (every one of them): notifications.manage writes content (create,
// change, submit, cancel, branding); notifications.send sends an approved
// notification's content again to new targets on a new schedule (and
// cancels); notifications.approve approves or rejects a version, never
// one its caller wrote; notifications.read, or any of the three, reads.
// A notification the caller may not read is not found.
package notifications

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tetherdesk/tether/server/app/core"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Config is what notifications needs of the rest of the service layer.
type Config struct {
	// Notify wakes an endpoint's held poll.
	Notify func(agentID string)
	// Refresh is how often the set of notifications being delivered is
	// reread from the store even without a change on this node (another
	// node's approval). Default 10 s.
	Refresh time.Duration
}

// Service is the notifications part of the service layer.
type Service struct {
	*core.Core
	st  store.Store
	cfg Config

	refreshMu sync.Mutex // one refresh at a time
	mu        sync.Mutex
	active    map[string]*live // by notification id
	brandings map[string]*protocol.NotificationBranding
	loaded    time.Time // when active was last read; zero: stale
	lastSweep time.Time
	targetsAt time.Time // when targets were last counted; zero: at the next sweep
}

// New makes the notifications service over c.
func New(c *core.Core, st store.Store, cfg Config) *Service {
	if cfg.Refresh <= 0 {
		cfg.Refresh = 10 * time.Second
	}
	if cfg.Notify == nil {
		cfg.Notify = func(string) {}
	}
	// Starts that pass from now on are woken by Sweep; earlier ones are
	// picked up by the endpoints' next polls.
	return &Service{Core: c, st: st, cfg: cfg, active: map[string]*live{}, lastSweep: c.Now().UTC()}
}

// zones caches loaded time zones by name.
var (
	zonesMu sync.Mutex
	zones   = map[string]*time.Location{}
)

// Setting names.
const (
	settingApproval     = "notifications.approval"
	settingBrandingPref = "notifications.branding."
)

// readPerms are the permissions any of which lets a caller read a
// notification (over all its groups).
var readPerms = []perm.Permission{perm.NotificationsRead, perm.NotificationsManage, perm.NotificationsSend, perm.NotificationsApprove}

// holdsAll reports whether p holds pm over every group in groups.
func holdsAll(p *core.Principal, pm perm.Permission, groups []string) bool {
	if len(groups) == 0 {
		return p.Global(pm)
	}
	for _, g := range groups {
		if !p.CanIn(pm, g) {
			return false
		}
	}
	return true
}

func mayRead(p *core.Principal, groups []string) bool {
	for _, pm := range readPerms {
		if holdsAll(p, pm, groups) {
			return true
		}
	}
	return false
}

// doc is what a notification's store doc holds: the spec, groups by id.
type doc = protocol.NotificationSpec

func decodeDoc(n store.Notification) (doc, error) {
	var d doc
	if err := json.Unmarshal(n.Doc, &d); err != nil {
		return doc{}, fmt.Errorf("notification %q: bad doc: %w", n.ID, err)
	}
	return d, nil
}

// load reads a notification the caller may read (not found otherwise).
func (s *Service) load(ctx context.Context, p *core.Principal, id string) (store.Notification, doc, error) {
	n, err := s.st.Notification(ctx, id)
	if err != nil {
		return store.Notification{}, doc{}, err
	}
	if !mayRead(p, n.Groups) {
		return store.Notification{}, doc{}, fmt.Errorf("notification %q: %w", id, store.ErrNotFound)
	}
	d, err := decodeDoc(n)
	return n, d, err
}

// resolveGroups maps target group references (ids or names) to ids,
// each existing, without repeats.
func (s *Service) resolveGroups(ctx context.Context, refs []string) ([]string, error) {
	var ids []string
	for _, ref := range refs {
		g, err := s.st.GroupByID(ctx, ref)
		if errors.Is(err, store.ErrNotFound) {
			g, err = s.st.GroupByName(ctx, ref)
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, core.BadRequest("targets: no computer group %q", ref)
		}
		if err != nil {
			return nil, fmt.Errorf("computer group %q: %w", ref, err)
		}
		if !slices.Contains(ids, g.ID) {
			ids = append(ids, g.ID)
		}
	}
	return ids, nil
}

// checkSpec vets a whole spec for a caller who must hold one of pms over
// each target group, and resolves the groups.
func (s *Service) checkSpec(ctx context.Context, p *core.Principal, sp *protocol.NotificationSpec, pms ...perm.Permission) error {
	now := s.Now().UTC()
	if err := checkContent(&sp.NotificationContent); err != nil {
		return err
	}
	w, err := checkSchedule(&sp.Schedule, now)
	if err != nil {
		return err
	}
	if err := checkDeferral(sp.Deferral, w, now); err != nil {
		return err
	}
	if err := checkTargets(&sp.Targets); err != nil {
		return err
	}
	if sp.Targets.Groups, err = s.resolveGroups(ctx, sp.Targets.Groups); err != nil {
		return err
	}
	for _, g := range sp.Targets.Groups {
		if !slices.ContainsFunc(pms, func(pm perm.Permission) bool { return p.CanIn(pm, g) }) {
			return fmt.Errorf("%w: %s over every target group is needed (not held over %s)", core.ErrForbidden, pms[0], s.GroupName(ctx, g))
		}
	}
	return nil
}

// ApprovalRequired reads the installation's approval rule (on unless an
// administrator turned it off).
func (s *Service) approvalRequired(ctx context.Context) (bool, error) {
	v, err := s.st.Setting(ctx, settingApproval)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	var set protocol.NotificationSettings
	if err := json.Unmarshal([]byte(v), &set); err != nil {
		return true, nil
	}
	return set.ApprovalRequired, nil
}

// NotificationSettings answers GET /api/v1/notifications/settings.
func (s *Service) NotificationSettings(ctx context.Context) (protocol.NotificationSettings, error) {
	if _, err := core.RequireAny(ctx, readPerms...); err != nil {
		if _, err2 := core.Require(ctx, perm.SettingsManage); err2 != nil {
			return protocol.NotificationSettings{}, err
		}
	}
	req, err := s.approvalRequired(ctx)
	return protocol.NotificationSettings{ApprovalRequired: req}, err
}

// SetNotificationSettings turns the approval rule on or off: an
// administrator's call over the whole installation, audited.
func (s *Service) SetNotificationSettings(ctx context.Context, set protocol.NotificationSettings) (protocol.NotificationSettings, error) {
	p, err := core.RequireGlobal(ctx, perm.SettingsManage, "changing the notification approval rule")
	if err != nil {
		return protocol.NotificationSettings{}, err
	}
	b, _ := json.Marshal(set)
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditNotifySettings,
		Details: core.Details("approval_required", fmt.Sprint(set.ApprovalRequired))}, func() error {
		return s.st.PutSetting(ctx, settingApproval, string(b), p.UserID, s.Now().UTC())
	})
	return set, err
}
