package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/perm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// TestRecordingPlayer plays a real recording (testdata/recording.webm: 12 s
// of VP8, made with ffmpeg's testsrc) in Chromium: the Audit Log offers
// Play on the recorded session, /play/{id} shows the video, the session's
// facts and one timeline entry per event, and choosing an event seeks
// the video to it (through Range requests to the recording route).
func TestRecordingPlayer(t *testing.T) {
	if _, err := os.Stat(testenv.ChromiumPath); err != nil {
		t.Fatalf("chromium is not installed at %s (scripts/deps.sh test installs it): %v", testenv.ChromiumPath, err)
	}
	video, err := os.ReadFile("testdata/recording.webm")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withRecordings(t.TempDir(), 0))
	root := e.user("root", perm.RoleAdministrator)
	epID, secret := e.enroll("play-host", "Default")
	recordPolicy(t, root, 30)
	s, start := e.startSession(t, root, epID, secret)
	mustDo(t, root, "POST", "/api/v1/sessions/"+s.ID+"/end", map[string]any{}, nil, 200)
	tl, _ := json.Marshal(protocol.RecordingTimeline{DurationMS: 12000, Width: 96, Height: 64, Events: []protocol.RecordingEvent{
		{AtMS: 1000, Kind: protocol.RecEventViewer, Actor: "root", Text: "joined"},
		{AtMS: 6000, Kind: protocol.RecEventChat, Actor: "root", Text: "Hello from the technician"},
		{AtMS: 9000, Kind: protocol.RecEventMode, Text: string(protocol.ModeMonitor)},
	}})
	ct, body := multipartBody(t, mpart{protocol.RecordingPartTimeline, tl}, mpart{protocol.RecordingPartVideo, video})
	if st, b := e.upload(t, e.srv.URL, s.ID, start.AgentToken, ct, bytesReader(body), int64(len(body))); st != http.StatusCreated {
		t.Fatalf("upload: %d %s", st, b)
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), testenv.ChromiumAllocatorOptions(t.TempDir(), 1280, 800)...)
	defer cancelAlloc()
	bctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelT := context.WithTimeout(bctx, 60*time.Second)
	defer cancelT()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("browser: %s: %v", what, err)
		}
	}
	run("sign in", testenv.SignIn(e.srv.URL, "root", "correct horse battery")...)
	run("open the audit log", chromedp.Navigate(e.srv.URL+"/#/audit"),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#au-table tr[data-id=%q] a.play`, s.ID))))
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector('#au-table tr[data-id=%q] a.play').getAttribute("href")`, s.ID)))
	if err != nil || href != "/play/"+s.ID {
		t.Fatalf("Play link %q, %v", href, err)
	}

	run("open the player", chromedp.Navigate(e.srv.URL+href), chromedp.WaitVisible(chromedp.CSS(`body[data-state="ready"]`)))
	ats, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#timeline li[data-at-ms]")].map((li) => li.dataset.atMs)`))
	if err != nil || fmt.Sprint(ats) != "[1000 6000 9000]" {
		t.Fatalf("timeline entries %v, %v", ats, err)
	}
	facts, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("facts").textContent`))
	if err != nil || !contains(facts, "play-host", "root") {
		t.Errorf("facts %q, %v", facts, err)
	}
	// The video's length comes from the file itself: Chromium read it.
	dur, err := chromedp.Run(ctx, chromedp.Poll[float64](`(() => { const v = document.getElementById("recording"); return v.readyState >= 1 && v.duration > 0 ? v.duration : 0; })()`,
		chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil || dur < 11 || dur > 13 {
		t.Fatalf("video duration %v, %v; want about 12 s", dur, err)
	}
	run("choose the chat event", chromedp.Click(chromedp.CSS(`#timeline li[data-at-ms="6000"] button`)))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`Math.abs(document.getElementById("recording").currentTime - 6) < 0.5`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		cur, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.getElementById("recording").currentTime`))
		t.Fatalf("after choosing the 0:06 event the video is at %v s: %v", cur, err)
	}
	if st, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.state`)); st != "ready" {
		t.Errorf("player state %q after seeking", st)
	}
	if n := len(auditOf(t, e.store, protocol.AuditRecordingRead)); n < 1 {
		t.Error("playing the recording was not audited")
	}

	// The policy editor shows and saves the two recording fields.
	poll := func(what, cond string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("browser: %s: %v", what, err)
		}
	}
	run("open the policy editor", chromedp.Navigate(e.srv.URL+"/#/settings/policy"))
	poll("the recording fields", `document.getElementById("policy-record")?.checked === true && document.getElementById("policy-retention").value === "30"`)
	run("keep recordings 45 days", chromedp.SetValue(chromedp.ID("policy-retention"), "45"),
		chromedp.Click(chromedp.CSS(`#policy-form button[type="submit"]`)))
	poll("the policy saved", `[...document.querySelectorAll("#policy .notice.ok")].some((n) => !n.hidden)`)
	var pol protocol.Policy
	mustDo(t, root, "GET", "/api/v1/policies/global", nil, &pol, 200)
	if !strings.Contains(string(pol.Doc), `"recording_retention_days":45`) || !strings.Contains(string(pol.Doc), `"record_sessions":true`) {
		t.Errorf("saved policy %s", pol.Doc)
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// contains reports whether s contains every one of subs.
func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
