//go:build linux

package e2e

// Session recording end to end (issue 18, acceptance 4): the policy
// records sessions; a session with typing, a control hand-off and a chat
// line is recorded by the agent's helper, uploaded when it ends, stored
// and hashed into the audit log by the server, and played back in the
// console's player in headless Chromium.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tetherdesk/tether/internal/testenv"
	"github.com/tetherdesk/tether/shared/protocol"
)

// typedBox is where the Tk client draws what is typed, large, white on
// black: what the player must show after the typing and not before.
var typedBox = image.Rect(320, 260, 960, 460)

func TestSessionRecording(t *testing.T) {
	e := startShareEnv(t)
	doc := map[string]any{"screenshare": map[string]any{"unattended_allowed": true, "acceptance_timeout_s": 30,
		"record_sessions": true, "recording_retention_days": 7}}
	if err := e.s.api.do(http.MethodPut, "/api/v1/policies/global", "", doc, nil); err != nil {
		t.Fatalf("PUT /api/v1/policies/global: %v", err)
	}
	w := startWish(t, e.display)
	w.eval(fmt.Sprintf(".c create rectangle %d %d %d %d -fill #000000 -outline {} -tags box",
		typedBox.Min.X, typedBox.Min.Y, typedBox.Max.X, typedBox.Max.Y))
	w.eval(fmt.Sprintf(".c create text %d %d -text {} -fill #ffffff -font {Helvetica -120 bold} -tags typed",
		(typedBox.Min.X+typedBox.Max.X)/2, (typedBox.Min.Y+typedBox.Max.Y)/2))
	w.eval(`bind .c <KeyPress> {+.c itemconfigure typed -text "[.c itemcget typed -text]%A"}`)

	s := e.startSession(t, false)
	if !s.Record {
		t.Errorf("the new session does not say it is recorded: %+v", s)
	}
	a := e.br.firstTab().on(t)
	a.openViewer(e.s.url, s.ID)
	stA := a.waitLive(liveTimeout)
	b := e.br.newProfileTab(t)
	b.signIn(e.s.url, tech2, tech2Password)
	b.openViewer(e.s.url, s.ID)
	stB := b.waitLive(liveTimeout)
	if _, bar := waitSessionBar(t, e.display, liveTimeout); bar.Empty() {
		t.Error("no session bar")
	}

	// The hand-off: tech1 takes control, then gives it to tech2, who types.
	control(t, e.tech1, s.ID, protocol.ControlRequestOp, stA.ViewerID)
	waitHolder(t, stA.ViewerID, a, b)
	control(t, e.tech1, s.ID, protocol.ControlGrant, stB.ViewerID)
	waitHolder(t, stB.ViewerID, a, b)
	focusCanvas(t, b)
	b.insertText("rec42")
	waitTyped(t, w, "rec42")
	var typed []int
	testenv.Eventually(t, paintTimeout, "the typed text on the live viewer", func() (bool, error) {
		var err error
		typed, err = canvasRegion(a, typedBox)
		n := bright(typed)
		return err == nil && n > 2000, fmt.Errorf("%d bright pixels in the box (%v)", n, err)
	})

	// A chat line after the typing.
	const line = "This session is recorded for the audit log."
	testenv.Eventually(t, liveTimeout, "the chat box to open", func() (bool, error) {
		dis, err := evalJS[bool](b, `document.getElementById("chat-text").disabled`)
		return err == nil && !dis, err
	})
	b.do("open the chat panel", chromedp.Click(chromedp.ID("chat-toggle")), chromedp.WaitVisible(chromedp.ID("chat-text")))
	b.do("write to the user", chromedp.SendKeys(chromedp.ID("chat-text"), line), chromedp.Click(chromedp.ID("chat-send")))
	testenv.Eventually(t, paintTimeout, "the chat line in the other viewer", func() (bool, error) {
		n, err := evalJS[int](a, fmt.Sprintf(`window.tetherStats.chat.filter((l) => l.text === %q).length`, line))
		return err == nil && n == 1, fmt.Errorf("%d (%v)", n, err)
	})
	if err := e.tech1.do(http.MethodPost, "/api/v1/sessions/"+url.PathEscape(s.ID)+"/end", "", struct{}{}, nil); err != nil {
		t.Fatalf("end: %v", err)
	}
	ended := e.waitEnded(t, s.ID, paintTimeout, protocol.EndedByTechnician)

	// The recording arrives, with its timeline.
	var info protocol.RecordingInfo
	testenv.Eventually(t, liveTimeout, "the recording to be stored", func() (bool, error) {
		err := e.tech1.do(http.MethodGet, "/api/v1/sessions/"+url.PathEscape(s.ID)+"/recording/timeline", "", nil, &info)
		return err == nil, err
	})
	video := download(t, e.tech1, "/api/v1/sessions/"+url.PathEscape(s.ID)+"/recording")
	sum := sha256.Sum256(video)
	if info.Size != int64(len(video)) || info.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("recording info %+v; the file has %d bytes, sha256 %x", info, len(video), sum)
	}

	// The audit record of the recording carries the file's hash.
	var audit struct {
		Records []protocol.AuditRecord `json:"records"`
	}
	if err := e.s.api.do(http.MethodGet, "/api/v1/audit?type="+string(protocol.AuditSessionRecorded), "", nil, &audit); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range audit.Records {
		var d struct {
			SHA256 string `json:"sha256"`
		}
		if r.SessionID == s.ID && json.Unmarshal(r.Details, &d) == nil {
			found = true
			if d.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("the audit record's sha256 %q is not the file's %x", d.SHA256, sum)
			}
		}
	}
	if !found {
		t.Errorf("no %s audit record for session %s: %+v", protocol.AuditSessionRecorded, s.ID, audit.Records)
	}

	// ffprobe reads VP8 of the screen's size, as long as the session was
	// live: from its acceptance to its end.
	path := filepath.Join(t.TempDir(), "recording.webm")
	if err := os.WriteFile(path, video, 0o600); err != nil {
		t.Fatal(err)
	}
	codec, width, height, seconds := ffprobe(t, path)
	if codec != "vp8" || width != displayW || height != displayH {
		t.Errorf("ffprobe: %s %dx%d, want vp8 %dx%d", codec, width, height, displayW, displayH)
	}
	live := ended.Ended.Sub(*ended.Started).Seconds()
	if math.Abs(seconds-float64(info.DurationMS)/1000) > 0.05 || seconds < live-1 || seconds > ended.Ended.Sub(ended.Created).Seconds()+1 {
		t.Errorf("the recording lasts %.2f s (timeline %d ms); the session was active %.2f s and created %.2f s before it ended",
			seconds, info.DurationMS, live, ended.Ended.Sub(ended.Created).Seconds())
	}
	t.Logf("recording: %d bytes, %.2f s of %s %dx%d, %d events", len(video), seconds, codec, width, height, len(info.Events))

	// The timeline: the hand-off to tech2, then the chat line.
	var handoff, said int64 = -1, -1
	for _, ev := range info.Events {
		switch {
		case ev.Kind == protocol.RecEventControl && ev.Actor == tech2:
			handoff = ev.AtMS
		case ev.Kind == protocol.RecEventChat && ev.Text == line && ev.Actor == tech2:
			said = ev.AtMS
		}
	}
	if handoff < 0 || said < handoff {
		t.Fatalf("the timeline lacks the hand-off to %s before the chat line: %+v", tech2, info.Events)
	}

	// The console's player: the typed text is not there just before the
	// hand-off, and is there after the chat line; the timeline is listed,
	// and a click on an event seeks to it.
	p := a
	p.do("open the player", chromedp.Navigate(e.s.url+"/play/"+url.PathEscape(s.ID)), chromedp.WaitVisible(chromedp.ID("recording")))
	testenv.Eventually(t, paintTimeout, "the player's timeline", func() (bool, error) {
		n, err := evalJS[int](p, `document.querySelectorAll("#timeline li[data-at-ms]").length`)
		return err == nil && n == len(info.Events), fmt.Errorf("%d events listed, want %d (%v)", n, len(info.Events), err)
	})
	listed, _ := evalJS[string](p, `document.getElementById("timeline").textContent`)
	if !strings.Contains(listed, line) || !strings.Contains(listed, tech2) {
		t.Errorf("the listed timeline lacks the chat line or %s: %q", tech2, listed)
	}
	before, err := playerRegion(p, float64(max(handoff-300, 0))/1000, typedBox)
	if err != nil {
		t.Fatalf("the player's frame before the hand-off: %v", err)
	}
	after, err := playerRegion(p, math.Min(float64(said+800), float64(info.DurationMS-50))/1000, typedBox)
	if err != nil {
		t.Fatalf("the player's frame after the chat line: %v", err)
	}
	if d := meanDiff(after, typed); d > 12 {
		t.Errorf("after the typing the player's box differs from the live viewer's by %.1f on average", d)
	}
	if d := meanDiff(before, typed); d < 8 || bright(before) > 200 {
		t.Errorf("before the typing the player's box already shows text: %.1f from the typed picture, %d bright pixels", d, bright(before))
	}
	p.screenshot("player.png")
	p.do("click the chat line", chromedp.Click(chromedp.CSS(`#timeline li[data-kind="chat"]`)))
	testenv.Eventually(t, paintTimeout, "the player to seek to the chat line", func() (bool, error) {
		at, err := evalJS[float64](p, `document.getElementById("recording").currentTime`)
		return err == nil && math.Abs(at-float64(said)/1000) < 0.3, fmt.Errorf("at %.2f s, want %.2f (%v)", at, float64(said)/1000, err)
	})
}

// canvasRegion reads r of the live viewer's canvas, RGBA.
func canvasRegion(tb *tab, r image.Rectangle) ([]int, error) {
	return evalJS[[]int](tb, fmt.Sprintf(`Array.from(document.getElementById("screen").getContext("2d").getImageData(%d, %d, %d, %d).data)`,
		r.Min.X, r.Min.Y, r.Dx(), r.Dy()))
}

// playerRegion seeks the player to at seconds and reads r of the frame
// shown, RGBA.
func playerRegion(tb *tab, at float64, r image.Rectangle) ([]int, error) {
	return evalJS[[]int](tb, fmt.Sprintf(`(async () => {
		const v = document.getElementById("recording");
		if (v.readyState < 2) await new Promise((ok) => v.addEventListener("loadeddata", ok, {once: true}));
		v.pause();
		const seeked = new Promise((ok) => v.addEventListener("seeked", ok, {once: true}));
		v.currentTime = %f;
		await seeked;
		const c = document.createElement("canvas");
		c.width = v.videoWidth; c.height = v.videoHeight;
		const g = c.getContext("2d");
		g.drawImage(v, 0, 0);
		return Array.from(g.getImageData(%d, %d, %d, %d).data);
	})()`, at, r.Min.X, r.Min.Y, r.Dx(), r.Dy()))
}

// bright counts the near-white pixels of RGBA px (the typed text).
func bright(px []int) int {
	n := 0
	for i := 0; i+2 < len(px); i += 4 {
		if px[i] > 200 && px[i+1] > 200 && px[i+2] > 200 {
			n++
		}
	}
	return n
}

// meanDiff is the mean absolute difference of RGB over two RGBA pictures.
func meanDiff(a, b []int) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return math.Inf(1)
	}
	var sum float64
	for i := 0; i < len(a); i += 4 {
		for c := range 3 {
			sum += math.Abs(float64(a[i+c] - b[i+c]))
		}
	}
	return sum / float64(len(a)/4*3)
}

// download GETs path as c and returns the body.
func download(t testing.TB, c *apiClient, path string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", path, resp.Status, err)
	}
	if !bytes.HasPrefix(b, []byte{0x1a, 0x45, 0xdf, 0xa3}) {
		t.Fatalf("GET %s: not a WebM file", path)
	}
	return b
}

// ffprobe reads a video file's first stream and duration.
func ffprobe(t testing.TB, path string) (codec string, w, h int, seconds float64) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height:format=duration",
		"-of", "default=noprint_wrappers=1", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe (scripts/deps.sh test installs ffmpeg): %v\n%s", err, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "codec_name":
			codec = v
		case "width":
			w, _ = strconv.Atoi(v)
		case "height":
			h, _ = strconv.Atoi(v)
		case "duration":
			seconds, _ = strconv.ParseFloat(v, 64)
		}
	}
	return codec, w, h, seconds
}
