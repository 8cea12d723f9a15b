package notifications

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	_ "image/png" // logos are PNG
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // endpoints name their zones; the server may have no zoneinfo

	"bytes"
	"fmt"

	"github.com/tetherdesk/tether/server/app/core"
	"github.com/tetherdesk/tether/server/store"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// live is an approved notification being delivered, with the version
// each endpoint has reported holding.
type live struct {
	id        string
	version   int
	content   protocol.NotificationContent
	win       window
	targets   protocol.NotificationTargets
	delivered map[string]int // agent id → version it reported
	// cancelled: withdrawn from the endpoints that have it, until each
	// says it took it down (withdrawn).
	cancelled bool
	withdrawn map[string]bool
	// deliver: approved (not cancelled, not changed since and pending).
	deliver bool
	// final: endpoints done with it (answered, dismissed, expired,
	// failed, withdrawn); targeted: its targets at the last count (nil
	// before one). Completed when every target is done.
	final    map[string]bool
	targeted map[string]bool
	// handed: endpoints this node handed it to (they may not have said
	// delivered yet when it is cancelled).
	handed map[string]bool
}

// finalKinds are the events after which an endpoint is done.
var finalKinds = []string{protocol.NotifyEventPressed, protocol.NotifyEventDismissed, protocol.NotifyEventExpired,
	protocol.NotifyEventFailed, protocol.NotifyEventCancelled}

// completed reports whether every target is done (false before a count).
func (l *live) completed() bool {
	if len(l.targeted) == 0 {
		return false
	}
	for a := range l.targeted {
		if !l.final[a] {
			return false
		}
	}
	return true
}

// eventLinger is how long after expiry agents' events are still taken
// (an endpoint that was off reports "expired" when it comes back).
const eventLinger = 24 * time.Hour

// changed marks the delivered set stale: the next look rereads it.
func (s *Service) changed() {
	s.mu.Lock()
	s.loaded = time.Time{}
	s.mu.Unlock()
}

func (s *Service) stale(maxAge time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	return s.loaded.IsZero() || now.Sub(s.loaded) >= maxAge || now.Before(s.loaded)
}

// fresh rereads the delivered set when it is stale or old: once, however
// many polls find it so at the same moment.
func (s *Service) fresh(ctx context.Context) { s.refreshIf(ctx, s.cfg.Refresh) }

// refreshIf rereads the set unless it was read within maxAge (checked
// again once it holds the refresh lock: another caller may just have).
func (s *Service) refreshIf(ctx context.Context, maxAge time.Duration) {
	if !s.stale(maxAge) {
		return
	}
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	if !s.stale(maxAge) {
		return
	}
	if err := s.reload(ctx); err != nil {
		s.Log.Error("read notifications to deliver", "err", err)
	}
}

// refresh rereads the set now (a change on this node).
func (s *Service) refresh(ctx context.Context) error {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	return s.reload(ctx)
}

// reload reads every notification ever approved whose window (and the day
// after it, for late events) is not over, and the groups' brandings; the
// approved ones are delivered, the cancelled ones withdrawn, and events
// are taken for all of them (an edited one, pending again, may still be
// on screens in its approved version). Polls use the old set meanwhile.
func (s *Service) reload(ctx context.Context) error {
	now := s.Now().UTC()
	ns, err := s.st.ListNotifications(ctx, store.NotificationFilter{ApprovedOnly: true, ExpiresAfter: now.Add(-eventLinger), Limit: 10000})
	if err != nil {
		return err
	}
	s.mu.Lock()
	old := s.active
	s.mu.Unlock()
	next := make(map[string]*live, len(ns))
	recount := false
	for _, n := range ns {
		d, err := decodeDoc(n)
		if err != nil {
			s.Log.Error("notification not delivered", "notification", n.ID, "err", err)
			continue
		}
		w, err := parseWindow(d.Schedule)
		if err != nil || now.After(w.expires.Add(eventLinger)) {
			continue
		}
		l := &live{id: n.ID, version: n.Version, content: d.NotificationContent, win: w, targets: d.Targets,
			cancelled: n.Status == protocol.NotifyCancelled, deliver: n.Status == protocol.NotifyApproved}
		if o := old[n.ID]; o != nil && o.version == n.Version && o.cancelled == l.cancelled {
			s.mu.Lock()
			l.delivered, l.withdrawn, l.final, l.targeted, l.handed = o.delivered, o.withdrawn, o.final, o.targeted, o.handed
			s.mu.Unlock()
		} else {
			ds, err := s.st.NotificationDeliveries(ctx, n.ID)
			if err != nil {
				return err
			}
			l.delivered, l.withdrawn, l.final, l.handed = make(map[string]int, len(ds)), map[string]bool{}, map[string]bool{}, map[string]bool{}
			if o := old[n.ID]; o != nil {
				maps.Copy(l.handed, o.handed)
			}
			for _, dl := range ds {
				l.delivered[dl.AgentID] = dl.Version
				if dl.Status == protocol.NotifyEventCancelled {
					l.withdrawn[dl.AgentID] = true
				}
				if dl.Version == n.Version && slices.Contains(final, dl.Status) {
					l.final[dl.AgentID] = true
				}
			}
			recount = true // its targets are counted at the next sweep
		}
		next[n.ID] = l
	}
	brandings := map[string]*protocol.NotificationBranding{}
	gs, err := s.st.ListGroups(ctx)
	if err != nil {
		return err
	}
	for _, g := range gs {
		if b, err := s.branding(ctx, g.ID); err == nil && b != nil {
			brandings[g.ID] = b
		}
	}
	s.mu.Lock()
	s.active, s.brandings, s.loaded = next, brandings, now
	if recount {
		s.targetsAt = time.Time{}
	}
	s.mu.Unlock()
	return nil
}

// matches reports whether endpoint a is a target of l.
func matches(a store.Agent, t protocol.NotificationTargets) bool {
	if !slices.ContainsFunc(a.Groups(), func(g string) bool { return slices.Contains(t.Groups, g) }) {
		return false
	}
	if len(t.OS) > 0 && !slices.Contains(t.OS, a.OS) {
		return false
	}
	if t.Hostname != "" {
		ok, err := path.Match(strings.ToLower(t.Hostname), strings.ToLower(a.Hostname))
		if err != nil || !ok {
			return false
		}
	}
	return true
}

// zoneOf is the endpoint's time zone: its IANA name, else its fixed
// offset, else UTC.
func zoneOf(tz string) *time.Location {
	if tz == "" {
		return time.UTC
	}
	if tz[0] == '+' || tz[0] == '-' {
		if off, err := strconv.Atoi(tz); err == nil && off >= -14*3600 && off <= 14*3600 {
			return time.FixedZone("UTC"+tz, off)
		}
		return time.UTC
	}
	zonesMu.Lock()
	defer zonesMu.Unlock()
	if loc, ok := zones[tz]; ok {
		return loc
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		loc = time.UTC
	}
	if len(zones) < 1000 {
		zones[tz] = loc
	}
	return loc
}

// ZoneName is what the server keeps of an endpoint's reported zone.
func ZoneName(inv protocol.Inventory) string {
	if inv.TimeZone != "" && len(inv.TimeZone) <= 64 {
		if _, err := time.LoadLocation(inv.TimeZone); err == nil {
			return inv.TimeZone
		}
	}
	if inv.UTCOffsetS != 0 && inv.UTCOffsetS >= -14*3600 && inv.UTCOffsetS <= 14*3600 {
		return fmt.Sprintf("%+d", inv.UTCOffsetS)
	}
	return ""
}

// DueNotifications lists what endpoint a is to be handed now (approved,
// started on its clock, not expired, and not yet reported delivered), and
// the cancelled ones it has and must take down.
func (s *Service) DueNotifications(ctx context.Context, a store.Agent) (due []protocol.AgentNotification, withdrawn []string) {
	s.fresh(ctx)
	now := s.Now().UTC()
	loc := zoneOf(a.TimeZone)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []protocol.AgentNotification
	for _, l := range s.active {
		if l.cancelled {
			if (l.delivered[a.ID] > 0 || l.handed[a.ID]) && !l.withdrawn[a.ID] && now.Before(l.win.expires) {
				withdrawn = append(withdrawn, l.id)
			}
			continue
		}
		if !l.deliver {
			continue
		}
		if !now.Before(l.win.expires) || l.delivered[a.ID] >= l.version || !matches(a, l.targets) {
			continue
		}
		if now.Before(l.win.startIn(loc)) {
			continue
		}
		l.handed[a.ID] = true
		an := protocol.AgentNotification{ID: l.id, Version: l.version, NotificationContent: l.content, Expires: l.win.expires}
		// The branding of a target group the endpoint is in: a group's
		// look never dresses notifications sent to other groups.
		for _, g := range a.Groups() {
			if b := s.brandings[g]; b != nil && slices.Contains(l.targets.Groups, g) {
				an.Branding = b
				break
			}
		}
		out = append(out, an)
	}
	slices.SortFunc(out, func(x, y protocol.AgentNotification) int { return strings.Compare(x.ID, y.ID) })
	slices.Sort(withdrawn)
	return out, withdrawn
}

var eventKinds = []string{protocol.NotifyEventDelivered, protocol.NotifyEventShown, protocol.NotifyEventPressed,
	protocol.NotifyEventPostponed, protocol.NotifyEventDismissed, protocol.NotifyEventExpired, protocol.NotifyEventFailed,
	protocol.NotifyEventCancelled}

// maxEvents bounds the events one poll may carry.
const maxEvents = 500

// RecordEvents folds what endpoint a reports of the notifications it was
// handed. An event about a notification not being delivered to it, or
// malformed, is dropped (logged): the agent must not be stuck resending it.
func (s *Service) RecordEvents(ctx context.Context, a store.Agent, evs []protocol.NotificationEvent) error {
	if len(evs) == 0 {
		return nil
	}
	s.fresh(ctx)
	s.mu.Lock()
	unknown := slices.ContainsFunc(evs, func(e protocol.NotificationEvent) bool { return s.active[e.ID] == nil })
	s.mu.Unlock()
	if unknown {
		// Approved on another node since this one last looked, perhaps.
		s.refreshIf(ctx, time.Second)
	}
	if len(evs) > maxEvents {
		s.Log.Warn("notification events dropped: too many in one poll", "agent_id", a.ID, "events", len(evs))
		evs = evs[:maxEvents]
	}
	var rs []store.NotificationEvent
	s.mu.Lock()
	for _, e := range evs {
		l := s.active[e.ID]
		switch {
		case l == nil || e.Version < 1 || e.Version > l.version || e.Seq < 1:
		case !slices.Contains(eventKinds, e.Kind) || len(e.Value) > maxValue || len(e.Error) > 1000 || len(e.User) > 255 ||
			e.Count < 0 || e.Count > 1000 || e.IntervalS < 0:
		case l.delivered[a.ID] == 0 && !matches(a, l.targets):
		default:
			rs = append(rs, store.NotificationEvent{NotificationID: e.ID, AgentID: a.ID, Version: e.Version, Seq: e.Seq,
				Kind: e.Kind, Value: e.Value, Interval: e.IntervalS, Count: e.Count, Error: e.Error, User: e.User, At: e.At})
			continue
		}
		s.Log.Warn("notification event dropped", "agent_id", a.ID, "notification", e.ID, "kind", e.Kind, "seq", e.Seq)
	}
	s.mu.Unlock()
	if err := s.st.RecordNotificationEvents(ctx, rs); err != nil {
		return err
	}
	s.mu.Lock()
	for _, e := range rs {
		l := s.active[e.NotificationID]
		if l == nil {
			continue
		}
		if l.delivered[a.ID] < e.Version {
			l.delivered[a.ID] = e.Version
		}
		if e.Kind == protocol.NotifyEventCancelled {
			l.withdrawn[a.ID] = true
		}
		if e.Version == l.version && slices.Contains(finalKinds, e.Kind) {
			l.final[a.ID] = true
		}
	}
	s.mu.Unlock()
	return nil
}

// approved starts delivering n: every target whose start has come is
// woken now; the others when their start comes (Sweep).
func (s *Service) approved(ctx context.Context, n store.Notification) {
	s.changed()
	if err := s.refresh(ctx); err != nil {
		s.Log.Error("read notifications to deliver", "err", err)
		return
	}
	s.mu.Lock()
	l := s.active[n.ID]
	s.mu.Unlock()
	if l == nil {
		return
	}
	// Woken in the background: the approver's answer does not wait for
	// every target's poll to be told.
	now := s.Now().UTC()
	go s.wake(context.WithoutCancel(ctx), l, func(start time.Time) bool { return !start.After(now) })
}

// withdraw wakes the endpoints that have a cancelled notification, to
// take it down.
func (s *Service) withdraw(ctx context.Context, id string) {
	s.changed()
	if err := s.refresh(ctx); err != nil {
		s.Log.Error("read notifications to deliver", "err", err)
		return
	}
	s.mu.Lock()
	var ids []string
	if l := s.active[id]; l != nil {
		for a, v := range l.delivered {
			if v > 0 && !l.withdrawn[a] {
				ids = append(ids, a)
			}
		}
		for a := range l.handed {
			if l.delivered[a] == 0 && !l.withdrawn[a] {
				ids = append(ids, a)
			}
		}
	}
	s.mu.Unlock()
	for _, a := range ids {
		s.cfg.Notify(a)
	}
}

// wake notifies every target of l whose start on its clock passes due.
func (s *Service) wake(ctx context.Context, l *live, due func(start time.Time) bool) {
	n := 0
	err := store.EachAgent(ctx, s.st, func(a store.Agent) error {
		if matches(a, l.targets) && due(l.win.startIn(zoneOf(a.TimeZone))) {
			s.cfg.Notify(a.ID)
			n++
		}
		return nil
	})
	if err != nil {
		s.Log.Error("wake notification targets", "notification", l.id, "err", err)
	}
	s.Log.Debug("notification targets woken", "notification", l.id, "agents", n)
}

// zoneStep is the granularity of time zone offsets: a start on endpoints'
// clocks falls on the same wall time modulo it, whatever the zone.
const zoneStep = 15 * time.Minute

// Sweep wakes the endpoints whose start came since the last sweep (it
// runs every second); the set is reread when stale.
func (s *Service) Sweep(ctx context.Context) {
	s.fresh(ctx)
	now := s.Now().UTC()
	s.mu.Lock()
	prev := s.lastSweep
	s.lastSweep = now
	var ls []*live
	for _, l := range s.active {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	s.countTargets(ctx, ls, now)
	if prev.IsZero() || !now.After(prev) {
		return
	}
	for _, l := range ls {
		w := l.win
		if !l.deliver || w.start.IsZero() || !now.Before(w.expires) || now.Before(w.earliest()) || prev.After(w.latest()) {
			continue
		}
		if !w.local {
			if prev.Before(w.start) && !now.Before(w.start) {
				s.wake(ctx, l, func(time.Time) bool { return true })
			}
			continue
		}
		// Only walk the endpoints when some zone's start lies in (prev, now].
		d := w.start.Sub(prev) % zoneStep
		if d <= 0 {
			d += zoneStep
		}
		if prev.Add(d).After(now) {
			continue
		}
		s.wake(ctx, l, func(start time.Time) bool { return prev.Before(start) && !start.After(now) })
	}
}

// countTargets finds, every Refresh, which endpoints each notification
// being delivered targets now (one walk over the endpoints for all of
// them), so that a list can say completed without walking them itself.
func (s *Service) countTargets(ctx context.Context, ls []*live, now time.Time) {
	s.mu.Lock()
	due := s.targetsAt.IsZero() || now.Sub(s.targetsAt) >= s.cfg.Refresh || now.Before(s.targetsAt)
	if due {
		s.targetsAt = now
	}
	s.mu.Unlock()
	var open []*live
	for _, l := range ls {
		if l.deliver && now.Before(l.win.expires) && !now.Before(l.win.earliest()) {
			open = append(open, l)
		}
	}
	if !due || len(open) == 0 {
		return
	}
	sets := make([]map[string]bool, len(open))
	for i := range sets {
		sets[i] = map[string]bool{}
	}
	err := store.EachAgent(ctx, s.st, func(a store.Agent) error {
		for i, l := range open {
			if matches(a, l.targets) {
				sets[i][a.ID] = true
			}
		}
		return nil
	})
	if err != nil {
		s.Log.Error("count notification targets", "err", err)
		return
	}
	s.mu.Lock()
	for i, l := range open {
		l.targeted = sets[i]
	}
	s.mu.Unlock()
}

// isCompleted reports whether notification id is done on every target,
// as far as the last count knows.
func (s *Service) isCompleted(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.active[id]
	return l != nil && l.deliver && l.completed()
}

// branding reads a group's branding (nil when it has none).
func (s *Service) branding(ctx context.Context, groupID string) (*protocol.NotificationBranding, error) {
	v, err := s.st.Setting(ctx, settingBrandingPref+groupID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var b protocol.NotificationBranding
	if err := json.Unmarshal([]byte(v), &b); err != nil {
		return nil, fmt.Errorf("branding of group %q: %w", groupID, err)
	}
	return &b, nil
}

// groupIn resolves a group reference for p holding pm over it (not found
// when p may not read notifications there).
func (s *Service) groupIn(ctx context.Context, p *core.Principal, ref string) (string, error) {
	ids, err := s.resolveGroups(ctx, []string{ref})
	if errors.Is(err, core.ErrBadRequest) || (err == nil && !mayRead(p, ids)) {
		return "", fmt.Errorf("computer group %q: %w", ref, store.ErrNotFound)
	}
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// GetBranding answers GET /api/v1/notification-branding/{group}.
func (s *Service) GetBranding(ctx context.Context, ref string) (protocol.NotificationBranding, error) {
	p, err := core.RequireAny(ctx, readPerms...)
	if err != nil {
		return protocol.NotificationBranding{}, err
	}
	g, err := s.groupIn(ctx, p, ref)
	if err != nil {
		return protocol.NotificationBranding{}, err
	}
	b, err := s.branding(ctx, g)
	if err != nil || b == nil {
		return protocol.NotificationBranding{}, err
	}
	return *b, nil
}

// maxLogo bounds a branding logo.
const (
	maxLogo     = 64 << 10
	maxLogoSide = 512
)

// SetBranding sets a group's branding: notifications.manage over it.
func (s *Service) SetBranding(ctx context.Context, ref string, b protocol.NotificationBranding) (protocol.NotificationBranding, error) {
	p, err := core.Require(ctx, perm.NotificationsManage)
	if err != nil {
		return protocol.NotificationBranding{}, err
	}
	g, err := s.groupIn(ctx, p, ref)
	if err != nil {
		return protocol.NotificationBranding{}, err
	}
	if !holdsAll(p, perm.NotificationsManage, []string{g}) {
		return protocol.NotificationBranding{}, fmt.Errorf("%w: notifications.manage over the group is needed", core.ErrForbidden)
	}
	if err := checkText("branding name", b.Name, 60, false, false); err != nil {
		return protocol.NotificationBranding{}, err
	}
	if b.Accent != "" && !accentRE.MatchString(b.Accent) {
		return protocol.NotificationBranding{}, core.BadRequest("accent %q: a colour as #rrggbb", b.Accent)
	}
	if len(b.Logo) > 0 {
		if len(b.Logo) > maxLogo {
			return protocol.NotificationBranding{}, core.BadRequest("logo is %d bytes; at most %d", len(b.Logo), maxLogo)
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(b.Logo))
		if err != nil || format != "png" {
			return protocol.NotificationBranding{}, core.BadRequest("logo is not a PNG image")
		}
		if cfg.Width > maxLogoSide || cfg.Height > maxLogoSide {
			return protocol.NotificationBranding{}, core.BadRequest("logo is %dx%d; at most %dx%d", cfg.Width, cfg.Height, maxLogoSide, maxLogoSide)
		}
	}
	v, _ := json.Marshal(b)
	err = s.Record(ctx, store.AuditRecord{Actor: p.Name, Type: protocol.AuditNotifyBranding,
		Details: core.Details("group", s.GroupName(ctx, g), "name", b.Name, "accent", b.Accent, "logo_bytes", strconv.Itoa(len(b.Logo)))}, func() error {
		return s.st.PutSetting(ctx, settingBrandingPref+g, string(v), p.UserID, s.Now().UTC())
	})
	if err != nil {
		return protocol.NotificationBranding{}, err
	}
	s.changed()
	return b, nil
}
