package notifications

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tetherdesk/tether/server/app/core"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Bounds of what a notification may hold.
const (
	maxTitle      = 120
	maxMessage    = 4000
	maxButtons    = 3
	maxLabel      = 40
	maxValue      = 64
	maxPostpones  = 10
	maxIntervals  = 5
	minInterval   = 10 * time.Second
	maxInterval   = 7 * 24 * time.Hour
	maxLifetime   = 366 * 24 * time.Hour
	maxGroups     = 50
	maxReason     = 500
	defaultExpiry = 7 * 24 * time.Hour
	// The widest a time zone is from UTC either way: a start on the
	// endpoints' clocks falls within this of the same wall time in UTC.
	zoneSpread = 14 * time.Hour
)

// startLayout is a schedule's start: a date and a time of day.
const startLayout = "2006-01-02T15:04"

var (
	valueRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	// markupRE finds what a renderer could take for markup: a tag (HTML,
	// Pango) or a character entity. Plain text has no use for either.
	markupRE = regexp.MustCompile(`<\s*/?\s*[A-Za-z!?][^>]*>|&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);`)
	accentRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
)

// checkText vets a free-text field: its length in characters, no control
// characters but (where multiline) newline and tab, no markup.
func checkText(field, v string, max int, multiline, required bool) error {
	if !utf8.ValidString(v) {
		return core.BadRequest("%s is not valid UTF-8", field)
	}
	n := utf8.RuneCountInString(v)
	if required && strings.TrimSpace(v) == "" {
		return core.BadRequest("%s is required", field)
	}
	if n > max {
		return core.BadRequest("%s is %d characters; at most %d", field, n, max)
	}
	for _, r := range v {
		if multiline && (r == '\n' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r) {
			return core.BadRequest("%s holds a control character (U+%04X); plain text only", field, r)
		}
	}
	if m := markupRE.FindString(v); m != "" {
		return core.BadRequest("%s holds markup (%q); plain text only, links as bare https:// addresses", field, m)
	}
	return nil
}

// checkContent vets what the end user will see and fills defaults.
func checkContent(c *protocol.NotificationContent) error {
	if err := checkText("title", c.Title, maxTitle, false, true); err != nil {
		return err
	}
	if err := checkText("message", c.Message, maxMessage, true, true); err != nil {
		return err
	}
	switch c.Severity {
	case "":
		c.Severity = protocol.SeverityInfo
	case protocol.SeverityInfo, protocol.SeverityWarning, protocol.SeverityCritical:
	default:
		return core.BadRequest("severity %q: one of info, warning, critical", c.Severity)
	}
	switch c.Audience {
	case "":
		c.Audience = protocol.AudienceConsole
	case protocol.AudienceConsole, protocol.AudienceAll:
	default:
		return core.BadRequest("audience %q: console (the active user) or all (every logged-in user)", c.Audience)
	}
	if len(c.Buttons) > maxButtons {
		return core.BadRequest("%d buttons; at most %d", len(c.Buttons), maxButtons)
	}
	var values []string
	for i, b := range c.Buttons {
		if err := checkText(fmt.Sprintf("button %d label", i+1), b.Label, maxLabel, false, true); err != nil {
			return err
		}
		if len(b.Value) > maxValue || !valueRE.MatchString(b.Value) {
			return core.BadRequest("button %d value %q: 1-%d letters, digits, '.', '_' or '-'", i+1, b.Value, maxValue)
		}
		if slices.Contains(values, b.Value) {
			return core.BadRequest("button value %q is used twice", b.Value)
		}
		values = append(values, b.Value)
	}
	return nil
}

// window is a checked schedule: the start as a UTC instant or, when local,
// as a wall time to read on each endpoint's clock (zero: on approval).
type window struct {
	start   time.Time // UTC fields; the wall time when local
	local   bool
	expires time.Time
}

// earliest is the first instant the notification may show anywhere.
func (w window) earliest() time.Time {
	if w.local && !w.start.IsZero() {
		return w.start.Add(-zoneSpread)
	}
	return w.start
}

// latest is the last instant it starts anywhere.
func (w window) latest() time.Time {
	if w.local && !w.start.IsZero() {
		return w.start.Add(zoneSpread)
	}
	return w.start
}

// startIn is the start on a clock in loc.
func (w window) startIn(loc *time.Location) time.Time {
	if !w.local || w.start.IsZero() {
		return w.start
	}
	s := w.start
	return time.Date(s.Year(), s.Month(), s.Day(), s.Hour(), s.Minute(), 0, 0, loc).UTC()
}

func parseWindow(sc protocol.NotificationSchedule) (window, error) {
	w := window{local: sc.Local, expires: sc.Expires.UTC()}
	if sc.Start != "" {
		t, err := time.Parse(startLayout, sc.Start)
		if err != nil {
			return window{}, core.BadRequest("schedule start %q: a date and time as 2006-01-02T15:04", sc.Start)
		}
		w.start = t
	}
	return w, nil
}

// checkSchedule vets a schedule against now and fills the default expiry.
func checkSchedule(sc *protocol.NotificationSchedule, now time.Time) (window, error) {
	w, err := parseWindow(*sc)
	if err != nil {
		return window{}, err
	}
	if sc.Expires.IsZero() {
		from := now
		if w.latest().After(now) {
			from = w.latest()
		}
		sc.Expires = from.Add(defaultExpiry).UTC().Truncate(time.Second)
		w.expires = sc.Expires
	}
	sc.Expires = sc.Expires.UTC()
	if !w.expires.After(now) {
		return window{}, core.BadRequest("schedule expires %s, which has passed", w.expires.Format(time.RFC3339))
	}
	if w.expires.Sub(now) > maxLifetime {
		return window{}, core.BadRequest("schedule expires more than a year from now")
	}
	if !w.start.IsZero() && !w.earliest().Before(w.expires) {
		return window{}, core.BadRequest("schedule starts %s, not before it expires (%s)", sc.Start, w.expires.Format(time.RFC3339))
	}
	// A start already past is "at once": allowed.
	return w, nil
}

// checkDeferral vets the postpone choice against the schedule.
func checkDeferral(d *protocol.NotificationDeferral, w window, now time.Time) error {
	if d == nil {
		return nil
	}
	if d.MaxPostpones < 1 || d.MaxPostpones > maxPostpones {
		return core.BadRequest("deferral allows %d postpones; 1 to %d", d.MaxPostpones, maxPostpones)
	}
	if len(d.IntervalsS) < 1 || len(d.IntervalsS) > maxIntervals {
		return core.BadRequest("deferral offers %d intervals; 1 to %d", len(d.IntervalsS), maxIntervals)
	}
	for _, s := range d.IntervalsS {
		iv := time.Duration(s) * time.Second
		if iv < minInterval || iv > maxInterval {
			return core.BadRequest("deferral interval %d s: from %d s to %d days", s, int(minInterval.Seconds()), int(maxInterval.Hours()/24))
		}
	}
	if d.Deadline != nil {
		dl := d.Deadline.UTC()
		d.Deadline = &dl
		if !dl.After(now) {
			return core.BadRequest("deferral deadline %s has passed", dl.Format(time.RFC3339))
		}
		if dl.After(w.expires) {
			return core.BadRequest("deferral deadline %s is after the notification expires (%s)", dl.Format(time.RFC3339), w.expires.Format(time.RFC3339))
		}
		if !w.start.IsZero() && !dl.After(w.earliest()) {
			return core.BadRequest("deferral deadline %s is before the notification starts", dl.Format(time.RFC3339))
		}
	}
	return nil
}

// checkTargets vets the filters (the groups are resolved by the caller).
func checkTargets(t *protocol.NotificationTargets) error {
	if len(t.Groups) == 0 {
		return core.BadRequest("targets: at least one computer group")
	}
	if len(t.Groups) > maxGroups {
		return core.BadRequest("targets: at most %d computer groups", maxGroups)
	}
	for _, os := range t.OS {
		if !slices.Contains([]string{"linux", "windows", "darwin"}, os) {
			return core.BadRequest("targets: OS %q is not linux, windows or darwin", os)
		}
	}
	if len(t.Hostname) > 255 {
		return core.BadRequest("targets: hostname pattern longer than 255 characters")
	}
	if _, err := path.Match(strings.ToLower(t.Hostname), ""); err != nil {
		return core.BadRequest("targets: hostname pattern %q: %v", t.Hostname, err)
	}
	return nil
}

// checkReason vets a rejection's or cancellation's reason.
func checkReason(v string, required bool) error {
	return checkText("reason", v, maxReason, true, required)
}
