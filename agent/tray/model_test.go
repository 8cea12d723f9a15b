package tray

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/ipc"
	"github.com/tetherdesk/tether/shared/protocol"
)

func info(id, label string) Entry { return Entry{ID: id, Label: label} }
func item(id, label string, enabled bool, action string) Entry {
	return Entry{ID: id, Label: label, Enabled: enabled, Action: action}
}

// Entries every menu ends with when there are no notices.
var (
	noNotices = info(SlotNotices, "Recent Notifications (none)")
	about     = item(SlotAbout, "About Tether", true, ActionAbout)
)

// TestMenu: the entries, their labels and enabled state for each agent
// state (issue 6, acceptance 5), with the icon and tooltip.
func TestMenu(t *testing.T) {
	at := time.Date(2026, 11, 23, 14, 5, 0, 0, time.UTC)
	live := func(state protocol.SessionState, mayEnd, endable bool) Session {
		return Session{ID: "s1", Technician: "brooke", Mode: protocol.ModeActive, State: state, MayEnd: mayEnd, Endable: endable}
	}
	connected := func(ss ...Session) State { return State{Server: ipc.ServerConnected, Sessions: ss} }
	tests := []struct {
		name    string
		state   State
		want    []Entry
		icon    Icon
		tooltip string
	}{
		{
			name:  "idle",
			state: connected(),
			want: []Entry{info(SlotStatus, "Connected to the support server"),
				item(SlotCode, "Enter Connection Code…", true, ActionCode), noNotices, about},
			icon: IconIdle, tooltip: "Tether: ready",
		},
		{
			name:  "connecting to the server (helper just started)",
			state: State{},
			want: []Entry{info(SlotStatus, "Connecting to the support server…"),
				item(SlotCode, "Enter Connection Code…", false, ActionCode), noNotices, about},
			icon: IconDisconnected, tooltip: "Tether: connecting to the support server",
		},
		{
			name:  "connecting to the server (service said so)",
			state: State{Server: ipc.ServerConnecting},
			want: []Entry{info(SlotStatus, "Connecting to the support server…"),
				item(SlotCode, "Enter Connection Code…", false, ActionCode), noNotices, about},
			icon: IconDisconnected, tooltip: "Tether: connecting to the support server",
		},
		{
			name:  "disconnected",
			state: State{Server: ipc.ServerDisconnected},
			want: []Entry{info(SlotStatus, "Not connected to the support server"),
				item(SlotCode, "Enter Connection Code…", false, ActionCode), noNotices, about},
			icon: IconDisconnected, tooltip: "Tether: not connected to the support server",
		},
		{
			name:  "code entry open",
			state: State{Server: ipc.ServerConnected, Code: CodeEntering},
			want: []Entry{info(SlotStatus, "Connected to the support server"),
				item(SlotCode, "Enter Connection Code…", false, ActionCode), noNotices, about},
			icon: IconIdle, tooltip: "Tether: ready",
		},
		{
			name:  "code being checked",
			state: State{Server: ipc.ServerConnected, Code: CodeChecking},
			want: []Entry{info(SlotStatus, "Connected to the support server"),
				item(SlotCode, "Checking Connection Code…", false, ActionCode), noNotices, about},
			icon: IconIdle, tooltip: "Tether: ready",
		},
		{
			name:  "request before the prompt",
			state: connected(live(protocol.SessionRequested, true, false)),
			want: []Entry{info(SlotStatus, "Connected to the support server"),
				item(SlotCode, "Enter Connection Code…", false, ActionCode),
				info("session.0", "Session request from brooke"), noNotices, about},
			icon: IconIdle, tooltip: "Tether: ready",
		},
		{
			name:  "request awaiting acceptance",
			state: connected(live(protocol.SessionAwaitingAcceptance, true, false)),
			want: []Entry{info(SlotStatus, "Connected to the support server"),
				item(SlotCode, "Enter Connection Code…", false, ActionCode),
				info("session.0", "Request from brooke — waiting for your answer"), noNotices, about},
			icon: IconIdle, tooltip: "Tether: ready",
		},
		{
			name:  "session connecting, user may end",
			state: connected(live(protocol.SessionConnecting, true, true)),
			want: []Entry{info(SlotStatus, "Connected to the support server"),
				item(SlotCode, "Enter Connection Code…", false, ActionCode),
				info("session.0", "Connecting session: brooke — Active (view and control)"),
				item("end.0", "End Session", true, "end:s1"), noNotices, about},
			icon: IconLive, tooltip: "Tether: brooke is connected (Active (view and control))",
		},
		{
			name:  "live, user may end",
			state: connected(live(protocol.SessionActive, true, true)),
			want: []Entry{info(SlotStatus, "Connected to the support server"),
				item(SlotCode, "Enter Connection Code…", false, ActionCode),
				info("session.0", "Live session: brooke — Active (view and control)"),
				item("end.0", "End Session", true, "end:s1"), noNotices, about},
			icon: IconLive, tooltip: "Tether: brooke is connected (Active (view and control))",
		},
		{
			name: "live with chat",
			state: connected(Session{ID: "s1", Technician: "brooke", Mode: protocol.ModeChat, State: protocol.SessionActive,
				MayEnd: true, Endable: true, Chat: true}),
			want: []Entry{info(SlotStatus, "Connected to the support server"),
				item(SlotCode, "Enter Connection Code…", false, ActionCode),
				info("session.0", "Live session: brooke — Chat"),
				item("chat.0", "Open Chat", true, "chat:s1"),
				item("end.0", "End Session", true, "end:s1"), noNotices, about},
			icon: IconLive, tooltip: "Tether: brooke is connected (Chat)",
		},
		{
			name:  "live, user may not end",
			state: connected(live(protocol.SessionActive, false, true)),
			want: []Entry{info(SlotStatus, "Connected to the support server"),
				item(SlotCode, "Enter Connection Code…", false, ActionCode),
				info("session.0", "Live session: brooke — Active (view and control)"),
				item("end.0", "End Session (not allowed by policy)", false, "end:s1"), noNotices, about},
			icon: IconLive, tooltip: "Tether: brooke is connected (Active (view and control))",
		},
		{
			name:  "live, its end not known yet",
			state: connected(live(protocol.SessionActive, true, false)),
			want: []Entry{info(SlotStatus, "Connected to the support server"),
				item(SlotCode, "Enter Connection Code…", false, ActionCode),
				info("session.0", "Live session: brooke — Active (view and control)"),
				item("end.0", "End Session", false, "end:s1"), noNotices, about},
			icon: IconLive, tooltip: "Tether: brooke is connected (Active (view and control))",
		},
		{
			name: "live while the server is lost (peer to peer goes on)",
			state: State{Server: ipc.ServerDisconnected, Sessions: []Session{
				{ID: "s1", Technician: "brooke", Mode: protocol.ModeMonitor, State: protocol.SessionActive, MayEnd: true, Endable: true}}},
			want: []Entry{info(SlotStatus, "Not connected to the support server"),
				item(SlotCode, "Enter Connection Code…", false, ActionCode),
				info("session.0", "Live session: brooke — Monitor (view only)"),
				item("end.0", "End Session", true, "end:s1"), noNotices, about},
			icon: IconLive, tooltip: "Tether: brooke is connected (Monitor (view only))",
		},
		{
			name: "two sessions, a third not shown",
			state: connected(
				Session{ID: "s1", Technician: "brooke", Mode: protocol.ModeChat, State: protocol.SessionActive, MayEnd: true, Endable: true, Chat: true},
				Session{ID: "s2", Technician: "casey", Mode: protocol.ModeGuidance, State: protocol.SessionActive, MayEnd: true, Endable: true},
				Session{ID: "s3", Technician: "dana", State: protocol.SessionRequested}),
			want: []Entry{info(SlotStatus, "Connected to the support server"),
				item(SlotCode, "Enter Connection Code…", false, ActionCode),
				info("session.0", "Live session: brooke — Chat"),
				item("chat.0", "Open Chat with brooke", true, "chat:s1"),
				item("end.0", "End Session with brooke", true, "end:s1"),
				info("session.1", "Live session: casey — Guidance (view and point)"),
				item("end.1", "End Session with casey", true, "end:s2"), noNotices, about},
			icon: IconLive, tooltip: "Tether: brooke is connected (Chat)",
		},
		{
			name: "recent notifications, newest first, at most five",
			state: State{Server: ipc.ServerConnected, Notices: []Notice{
				{At: at.Add(6 * time.Minute), Text: "n6"}, {At: at.Add(5 * time.Minute), Text: "n5", Ref: "id5"},
				{At: at.Add(4 * time.Minute), Text: "n4"}, {At: at.Add(3 * time.Minute), Text: "n3"},
				{At: at.Add(2 * time.Minute), Text: "n2"}, {At: at.Add(time.Minute), Text: "n1"}}},
			want: []Entry{info(SlotStatus, "Connected to the support server"),
				item(SlotCode, "Enter Connection Code…", true, ActionCode),
				item(SlotNotices, "Recent Notifications", true, ""),
				// An end-user notification reopens; a passing notice is a line.
				info("notice.0", "14:11  n6"), item("notice.1", "14:10  n5", true, ActionNoticePrefix+"id5"), info("notice.2", "14:09  n4"),
				info("notice.3", "14:08  n3"), info("notice.4", "14:07  n2"), about},
			icon: IconIdle, tooltip: "Tether: ready",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Menu(tt.state)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Menu:\n got  %s\n want %s", dump(got), dump(tt.want))
			}
			if ic := IconFor(tt.state); ic != tt.icon {
				t.Errorf("IconFor = %v, want %v", ic, tt.icon)
			}
			if tip := Tooltip(tt.state); tip != tt.tooltip {
				t.Errorf("Tooltip = %q, want %q", tip, tt.tooltip)
			}
			checkSlotOrder(t, got)
		})
	}
}

// checkSlotOrder: every entry has a place in the real tray, in order.
func checkSlotOrder(t *testing.T, es []Entry) {
	t.Helper()
	slots := Slots()
	last := -1
	for _, e := range es {
		i := slices.IndexFunc(slots, func(s Slot) bool { return s.ID == e.ID })
		if i < 0 {
			t.Errorf("entry %q has no slot", e.ID)
			continue
		}
		if i <= last {
			t.Errorf("entry %q out of slot order", e.ID)
		}
		last = i
	}
}

func dump(es []Entry) string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString("\n   ")
		b.WriteString(e.ID + " | " + e.Label)
		if e.Enabled {
			b.WriteString(" | enabled")
		}
		if e.Action != "" {
			b.WriteString(" | " + e.Action)
		}
	}
	return b.String()
}
