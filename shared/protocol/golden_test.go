package protocol

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGolden pins the JSON of every wire type: a renamed or removed field
// shows up as a diff here before it breaks a deployed agent.
func TestGolden(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	inv := Inventory{Hostname: "desk-042", IPs: []string{"10.1.2.3"}, OS: "linux", OSVersion: "Debian GNU/Linux 12", Arch: "amd64", AgentVersion: "v0.1.0", Users: []string{"ana"}}
	cases := map[string]any{
		"enroll_request":  EnrollRequest{Token: "tet_x", Inventory: inv, Protocol: Version},
		"enroll_response": EnrollResponse{AgentID: "a1", Secret: "tas_y"},
		"poll_request": PollRequest{Protocol: Version, Inventory: &inv, Acks: []string{"act1"},
			Results: []ActionResult{{ID: "act0", OK: true, Output: json.RawMessage(`{"message":"hi"}`)}}, PolicyVersion: 3, Wait: true},
		"poll_response": PollResponse{Actions: []Action{{ID: "act2", Type: ActionEcho, Payload: json.RawMessage(`{"message":"hi"}`), Created: at}},
			Policy: &Policy{Version: 4, Doc: json.RawMessage(`{"acceptance_timeout_s":30}`)}},
		"poll_request_update": PollRequest{Protocol: Version, PolicyVersion: 3,
			Update: &UpdateReport{Phase: UpdateRolledBack, From: "v1.1.0", To: "v1.2.0", Error: "the new binary exited (exit status 1) before its first poll"}},
		"poll_response_update": PollResponse{Update: &AgentUpdate{Version: "v1.2.0", URL: "/api/agent/v1/releases/v1.2.0/linux/amd64",
			SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Size: 25165824, Signature: "c2ln"}},
		"installer_request": InstallerRequest{Format: InstallerDeb, Token: "tet_x"},
		"rollout":           Rollout{Version: "v1.2.0", Endpoints: 40, Covered: 10, Updated: 7},
		"error":             Error{Error: "enrollment token unknown, revoked or expired", Code: CodeBadToken},
		"endpoint":          Endpoint{ID: "a1", Hostname: "desk-042", IPs: []string{"127.0.0.1"}, OS: "linux", Arch: "amd64", AgentVersion: "v0.1.0", Users: []string{}, Group: "Default", Online: true, LastSeen: at, Enrolled: at},
		"action_status": ActionStatus{ID: "act2", EndpointID: "a1", Type: ActionEcho, State: ActionDone, Output: json.RawMessage(`{"message":"hi"}`),
			CreatedBy: "admin", Created: at, Delivered: &at, Completed: &at},
		"screenshare_start": ScreenShareStart{SessionID: "s1", AgentToken: "tss_x", Attended: true, Mode: ModeActive,
			AllowedModes: []Mode{ModeActive, ModeMonitor}, Technician: "tara", AcceptanceTimeoutS: 30, UserMayEnd: true,
			SignalPath: "/api/agent/v1/sessions/s1/signal"},
		"session": Session{ID: "s1", EndpointID: "a1", Hostname: "desk-042", Technician: "tara", Attended: true, Mode: ModeGuidance,
			State: SessionEnded, Reason: EndedUserChanged, Created: at, Viewers: []Viewer{{ID: "v1", User: "tara"}}, ControlHolder: "v1"},
		"signal_state":     Signal{Type: SignalState, State: SessionEnded, Reason: EndedDeclined},
		"signal_reconnect": Signal{Type: SignalReconnect, Reason: ReconnectDesktopChanged},
		"control_mode":     ControlMsg{T: "mode", Mode: ModeMonitor, Features: []string{FeatureChat}, Modes: []Mode{ModeActive, ModeMonitor}, FileMax: 1 << 20},
		"redeem_code_response": RedeemCodeResponse{SessionID: "s1", Technician: "tara", Mode: ModeActive, Attended: true,
			Start: &ScreenShareStart{SessionID: "s1", AgentToken: "tss_x", Mode: ModeActive, SignalPath: "/api/agent/v1/sessions/s1/signal"}},
		"audit_record": AuditRecord{Seq: 7, Time: at, Actor: "admin", Type: AuditPolicyWeakened, EndpointID: "a1",
			Details: json.RawMessage(`{"group":"Kiosk","weakened":"acceptance_required off"}`), PrevHash: "ab", Hash: "cd"},
		"session_record": SessionRecord{ID: "s1", EndpointID: "a1", Hostname: "desk-042", Technician: "tara", Mode: ModeChat,
			State: SessionEnded, Reason: EndedByUser, Created: at, Ended: &at},
	}
	content := NotificationContent{Title: "Restart tonight", Message: "Save your work. See https://it.example/restart",
		Severity: SeverityWarning, Buttons: []NotificationButton{{Label: "Restart now", Value: "now"}, {Label: "Tonight", Value: "tonight"}},
		Deferral: &NotificationDeferral{MaxPostpones: 2, IntervalsS: []int64{900, 3600}, Deadline: &at}, Audience: AudienceConsole}
	sched := NotificationSchedule{Start: "2026-11-24T09:00", Local: true, Expires: at.Add(72 * time.Hour)}
	targets := NotificationTargets{Groups: []string{"g1"}, OS: []string{"linux"}, Hostname: "ws-*"}
	cases["notification_spec"] = NotificationSpec{NotificationContent: content, Schedule: sched, Targets: targets}
	cases["notification_info"] = NotificationInfo{ID: "n1", Status: NotifyScheduled, Version: 2, NotificationContent: content,
		Schedule: sched, Targets: targets, GroupNames: []string{"Finance"}, Author: "nadia", CreatedBy: "nadia", Created: at, Updated: at,
		ApprovedVersion: 2, ApprovedBy: "amos", ApprovedAt: &at, MayApprove: false, MaySend: true}
	cases["notification_report"] = NotificationReport{ID: "n1", Version: 2, Targeted: 3,
		Statuses: map[string]int{"responded": 1, "postponed": 1, "pending": 1}, Responses: map[string]int{"now": 1},
		Endpoints: []NotificationEndpoint{{EndpointID: "a1", Hostname: "desk-042", Status: "responded", Response: "now", Postpones: 1,
			Users: []string{"ana"}, Delivered: &at, Shown: &at, Answered: &at}}}
	cases["poll_request_notify"] = PollRequest{Protocol: Version, PolicyVersion: 3, Inventory: &Inventory{Hostname: "desk-042",
		OS: "linux", Arch: "amd64", AgentVersion: "v0.2.0", TimeZone: "Europe/Berlin", UTCOffsetS: 3600},
		NotificationEvents: []NotificationEvent{{ID: "n1", Version: 2, Seq: 41, Kind: NotifyEventPostponed, IntervalS: 900, Count: 1, User: "ana", At: at}}}
	cases["poll_response_notify"] = PollResponse{Notifications: []AgentNotification{{ID: "n1", Version: 2, NotificationContent: content,
		Expires: at.Add(72 * time.Hour), Branding: &NotificationBranding{Name: "IT Service Desk", Accent: "#0b5cad", Logo: []byte("\x89PNG")}}}}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("..", "..", "testdata", "protocol", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./shared/protocol -update)", err)
			}
			if string(got) != string(want) {
				t.Errorf("wire format of %s changed:\n got: %s\nwant: %s", name, got, want)
			}
		})
	}
}
