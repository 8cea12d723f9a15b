package record

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherdesk/tether/agent/vp8"
	"github.com/tetherdesk/tether/shared/protocol"
)

// clock is a test clock moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

func needVP8(t *testing.T) {
	t.Helper()
	if err := vp8.Available(); err != nil {
		t.Skipf("no libvpx: %v", err)
	}
}

func picture(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, 255
	}
	return img
}

// idle waits until the recorder has written the picture it took.
func idle(t *testing.T, r *Recorder) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.busy {
		r.idle.Wait()
	}
}

func TestRecorderTakesFramesAtItsPace(t *testing.T) {
	needVP8(t)
	c := &clock{t: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	r, err := Start(Config{Dir: dir, SessionID: "s/1", Now: c.now, Budget: 1})
	if err != nil {
		t.Fatal(err)
	}
	red := picture(320, 200, color.RGBA{200, 30, 30, 255})
	if !r.Offer(red, nil, c.add(100*time.Millisecond)) {
		t.Fatal("the first picture was declined")
	}
	idle(t, r)
	// Too soon: declined, and then due once the gap has passed.
	blue := picture(320, 200, color.RGBA{30, 30, 200, 255})
	if r.Offer(blue, nil, c.add(50*time.Millisecond)) {
		t.Fatal("a picture 50 ms after the last was taken")
	}
	if r.Due(c.now()) {
		t.Fatal("due before the gap")
	}
	if !r.Due(c.add(200 * time.Millisecond)) {
		t.Fatal("a declined picture did not make the recorder due")
	}
	if !r.Offer(blue, nil, c.now()) {
		t.Fatal("the due picture was declined")
	}
	idle(t, r)
	if r.Due(c.add(time.Second)) {
		t.Fatal("due with nothing declined")
	}
	// A picture of another size (the monitor's mode changed) is fitted.
	if !r.Offer(picture(400, 100, color.RGBA{30, 200, 30, 255}), nil, c.now()) {
		t.Fatal("a picture of another size was declined")
	}
	idle(t, r)
	// The session ends right after a declined change: Last takes it.
	if r.Last(red, c.now()) {
		t.Error("Last took a picture with nothing declined")
	}
	if r.Offer(red, nil, c.add(10*time.Millisecond)) || !r.Pending() {
		t.Fatal("a picture 10 ms after the last was taken")
	}
	if !r.Last(red, c.now()) || r.Pending() {
		t.Error("Last did not take the declined change")
	}
	idle(t, r)
	r.Event(protocol.RecEventChat, "tech", "hello")
	c.add(2 * time.Second)
	r.Event(protocol.RecEventControl, "tech2", "")
	c.add(time.Second)
	f, err := r.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Finish(); err == nil {
		t.Error("a second Finish did not fail")
	}
	if r.Offer(red, nil, c.now()) {
		t.Error("a picture after Finish was taken")
	}
	if f.Video != filepath.Join(dir, "s_1.webm") {
		t.Errorf("video at %q", f.Video)
	}
	tl := f.Timeline
	if tl.DurationMS != 4360 || tl.Width != 320 || tl.Height != 200 {
		t.Errorf("timeline: %d ms, %dx%d; want 4360 ms, 320x200", tl.DurationMS, tl.Width, tl.Height)
	}
	want := []protocol.RecordingEvent{{AtMS: 1360, Kind: "chat", Actor: "tech", Text: "hello"}, {AtMS: 3360, Kind: "control", Actor: "tech2"}}
	if len(tl.Events) != 2 || tl.Events[0] != want[0] || tl.Events[1] != want[1] {
		t.Errorf("events %+v, want %+v", tl.Events, want)
	}
	var onDisk protocol.RecordingTimeline
	b, err := os.ReadFile(filepath.Join(dir, "s_1.json"))
	if err != nil || json.Unmarshal(b, &onDisk) != nil || onDisk.DurationMS != 4360 {
		t.Errorf("the timeline on disk: %s, %v", b, err)
	}
	probe(t, f.Video, 320, 200, 4.36)
	Discard(dir, "s/1")
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left after Discard: %v", left)
	}
}

// probe checks the file with ffprobe, as a player would read it.
func probe(t *testing.T, path string, w, h int, seconds float64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte{0x1a, 0x45, 0xdf, 0xa3}) {
		t.Fatalf("not a WebM file: %v", err)
	}
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("no ffprobe (scripts/deps.sh test installs ffmpeg)")
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height:format=duration",
		"-of", "default=noprint_wrappers=1", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			got[k] = v
		}
	}
	d, _ := strconv.ParseFloat(got["duration"], 64)
	if got["codec_name"] != "vp8" || got["width"] != strconv.Itoa(w) || got["height"] != strconv.Itoa(h) || d < seconds-0.01 || d > seconds+0.01 {
		t.Errorf("ffprobe: %v; want vp8 %dx%d of %.2f s", got, w, h, seconds)
	}
}

func TestRecorderWithoutPicturesStillPlays(t *testing.T) {
	needVP8(t)
	c := &clock{t: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	r, err := Start(Config{Dir: dir, SessionID: "chat-only", Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	c.add(1500 * time.Millisecond)
	r.Event(protocol.RecEventChat, "user", strings.Repeat("x", 5000))
	c.add(500 * time.Millisecond)
	f, err := r.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.Timeline.Events[0].Text); n > maxText+4 {
		t.Errorf("a 5000-byte line kept %d bytes", n)
	}
	probe(t, f.Video, 640, 360, 2)
}

func TestStartRefuses(t *testing.T) {
	for _, cfg := range []Config{{Dir: t.TempDir()}, {SessionID: "x"}} {
		if _, err := Start(cfg); err == nil {
			t.Errorf("Start(%+v) did not fail", cfg)
		}
	}
	// A directory that cannot be made.
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if err := vp8.Available(); err == nil {
		if _, err := Start(Config{Dir: filepath.Join(file, "sub"), SessionID: "x"}); err == nil {
			t.Error("Start under a file did not fail")
		}
	}
}

func TestUpload(t *testing.T) {
	dir := t.TempDir()
	video := filepath.Join(dir, "v.webm")
	content := append([]byte{0x1a, 0x45, 0xdf, 0xa3}, bytes.Repeat([]byte("frame"), 100000)...)
	os.WriteFile(video, content, 0o600)
	files := Files{Video: video, Timeline: protocol.RecordingTimeline{DurationMS: 1234, Events: []protocol.RecordingEvent{{AtMS: 5, Kind: "chat", Text: "hi"}}}}

	var mu sync.Mutex
	answers := []int{http.StatusBadGateway, http.StatusCreated}
	var gotVideo []byte
	var gotTL protocol.RecordingTimeline
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/api/agent/v1/sessions/s1/recording" || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "bad path or token "+r.URL.Path, http.StatusUnauthorized)
			return
		}
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p, err := mr.NextPart()
		if err != nil || p.FormName() != protocol.RecordingPartTimeline || json.NewDecoder(p).Decode(&gotTL) != nil {
			http.Error(w, "timeline first", http.StatusBadRequest)
			return
		}
		if p, err = mr.NextPart(); err != nil || p.FormName() != protocol.RecordingPartVideo {
			http.Error(w, "video second", http.StatusBadRequest)
			return
		}
		gotVideo, _ = io.ReadAll(p)
		code := answers[0]
		answers = answers[1:]
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(protocol.RecordingInfo{SessionID: "s1", Size: int64(len(gotVideo))})
	}))
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	u := Upload{Server: base, SessionID: "s1", Token: "tok"}
	var errs []error
	info, err := u.SendRetrying(context.Background(), files, func(err error) { errs = append(errs, err) })
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 1 || info.Size != int64(len(content)) || !bytes.Equal(gotVideo, content) || gotTL.DurationMS != 1234 {
		t.Errorf("errors %v, info %+v, video %d bytes, timeline %+v", errs, info, len(gotVideo), gotTL)
	}
	// Refused for good: no retry.
	u.Token = "wrong"
	if _, err := u.SendRetrying(context.Background(), files, func(err error) { t.Errorf("retried after %v", err) }); !errors.Is(err, ErrRejected) {
		t.Errorf("a 401 gave %v, want ErrRejected", err)
	}
	// The server gone: retries until ctx ends.
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	n := 0
	if _, err := u.SendRetrying(ctx, files, func(error) { n++ }); !errors.Is(err, context.DeadlineExceeded) || n < 1 {
		t.Errorf("with the server gone: %v after %d tries", err, n)
	}
}

func TestLeftovers(t *testing.T) {
	needVP8(t)
	dir := t.TempDir()
	for _, id := range []string{"a1", "b2"} {
		r, err := Start(Config{Dir: dir, SessionID: id})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	if err := Keep(dir, Pending{SessionID: "a1", Server: "https://one", Token: "t1"}); err != nil {
		t.Fatal(err)
	}
	Keep(dir, Pending{SessionID: "b2", Server: "https://two", Token: "t2"})
	// A marker whose files are gone, and one naming another file.
	Keep(dir, Pending{SessionID: "gone", Server: "https://one"})
	os.WriteFile(filepath.Join(dir, "x.pending"), []byte(`{"session_id":"a1","server":"https://one"}`), 0o600)
	ps, fs := Leftovers(dir, "https://one")
	if len(ps) != 1 || ps[0].SessionID != "a1" || ps[0].Token != "t1" || fs[0].Video != filepath.Join(dir, "a1.webm") {
		t.Fatalf("leftovers %+v %+v", ps, fs)
	}
	Discard(dir, "a1")
	if ps, _ := Leftovers(dir, "https://one"); len(ps) != 0 {
		t.Errorf("after Discard: %+v", ps)
	}
	if ps, _ := Leftovers(dir, "https://two"); len(ps) != 1 {
		t.Errorf("the other server's: %+v", ps)
	}
}

// marked counts the macroblocks the recorder holds as changed.
func marked(r *Recorder) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.changed {
		if c {
			n++
		}
	}
	return n
}

// TestRecorderCodesOnlyChanges: the changes of declined pictures add up,
// a picture taken codes them and starts afresh, and a change of size or
// an unknown change marks everything.
func TestRecorderCodesOnlyChanges(t *testing.T) {
	needVP8(t)
	c := &clock{t: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	r, err := Start(Config{Dir: t.TempDir(), SessionID: "s2", Now: c.now, Budget: 1})
	if err != nil {
		t.Fatal(err)
	}
	img := picture(320, 200, color.RGBA{200, 30, 30, 255})
	if !r.Offer(img, nil, c.add(100*time.Millisecond)) {
		t.Fatal("the first picture was declined")
	}
	idle(t, r)
	if n := marked(r); n != 0 {
		t.Fatalf("%d blocks marked after the first picture", n)
	}
	// Declined twice (too soon): both changes are kept.
	if r.Offer(img, []image.Rectangle{image.Rect(10, 10, 20, 20)}, c.add(50*time.Millisecond)) {
		t.Fatal("taken too soon")
	}
	if r.Offer(img, []image.Rectangle{image.Rect(300, 190, 400, 260)}, c.add(50*time.Millisecond)) {
		t.Fatal("taken too soon")
	}
	if n := marked(r); n != 4+4 {
		t.Fatalf("%d blocks marked, want 8 (4 for each change, the second clipped)", n)
	}
	// Taken with nothing new: the marked blocks go to the encoder.
	if !r.Offer(img, []image.Rectangle{}, c.add(200*time.Millisecond)) {
		t.Fatal("the due picture was declined")
	}
	idle(t, r)
	if n := marked(r); n != 0 {
		t.Fatalf("%d blocks still marked after the picture was taken", n)
	}
	r.mu.Lock()
	blocks := r.blocks
	r.mu.Unlock()
	if blocks != 8 {
		t.Errorf("%d blocks converted, want the 8 marked", blocks)
	}
	all := 20 * 13
	if r.Offer(picture(100, 100, color.RGBA{1, 2, 3, 255}), []image.Rectangle{image.Rect(0, 0, 1, 1)}, c.add(10*time.Millisecond)) {
		t.Fatal("taken too soon")
	}
	if n := marked(r); n != all {
		t.Fatalf("a picture of another size marked %d blocks, want all %d", n, all)
	}
	// Taken (fitted); then the first picture of the recording's own size
	// again is new all over, whatever the damage says.
	if !r.Offer(picture(100, 100, color.RGBA{1, 2, 3, 255}), nil, c.add(time.Second)) {
		t.Fatal("the picture of another size was declined")
	}
	idle(t, r)
	r.mu.Lock()
	r.mark(img, []image.Rectangle{})
	r.mu.Unlock()
	if !r.Offer(img, []image.Rectangle{}, c.add(time.Second)) {
		t.Fatal("the picture of the recording's size was declined")
	}
	idle(t, r)
	r.mu.Lock()
	fitted, blocks := r.fitted, r.blocks
	r.mu.Unlock()
	if fitted || blocks != all {
		t.Errorf("after a fitted picture, one of the recording's size: fitted %v, %d blocks converted; want all %d", fitted, blocks, all)
	}
	if _, err := r.Finish(); err != nil {
		t.Fatal(err)
	}
}

// TestRecorderKeepsToItsBudget: an overspent budget spaces the next
// pictures out.
func TestRecorderKeepsToItsBudget(t *testing.T) {
	needVP8(t)
	c := &clock{t: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	r, err := Start(Config{Dir: t.TempDir(), SessionID: "s3", Now: c.now, Budget: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Finish()
	img := picture(64, 48, color.RGBA{200, 30, 30, 255})
	if !r.Offer(img, nil, c.now()) {
		t.Fatal("the first picture was declined")
	}
	idle(t, r)
	r.mu.Lock()
	spent := r.spent
	r.credit = -12 * time.Millisecond // as if pictures had overspent by that
	r.paid = c.now()
	r.mu.Unlock()
	if spent <= 0 {
		t.Errorf("the picture's cost was not measured: %v", spent)
	}
	// 12 ms over at 1 % of a core: 1.2 s until the next picture.
	if r.Offer(img, nil, c.add(time.Second)) {
		t.Fatal("a picture 1 s after a costly one was taken")
	}
	if r.Due(c.add(100 * time.Millisecond)) {
		t.Fatal("due 1.1 s after a costly picture")
	}
	if !r.Due(c.add(100 * time.Millisecond)) {
		t.Fatal("not due 1.2 s after it")
	}
}
