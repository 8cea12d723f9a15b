// Package record records a session for the audit log: the screen as a
// WebM (VP8) file at a few frames a second, and a timeline of what
// happened (chat, control hand-offs, mode changes, file transfers) as a
// JSON sidecar. The helper uploads both when the session ends.
//
// The live stream must never wait for the recording: Offer converts the
// picture into the encoder's own buffer and returns, and one goroutine
// encodes and writes. A picture offered while it is busy, or sooner than
// the frame gap, is declined; Due then says when the stream loop should
// offer the screen again, so the last change is always recorded.
package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tetherdesk/tether/agent/vp8"
	"github.com/tetherdesk/tether/agent/webm"
	"github.com/tetherdesk/tether/shared/protocol"
)

// Defaults.
const (
	// DefaultGap: at most 5 frames a second. An audit record needs to
	// show what was done, not every frame of it; this keeps the cost to
	// a few per cent of a core.
	DefaultGap = 200 * time.Millisecond
	// DefaultBudget: the recorder spends at most this share of a core
	// on average. A picture of a 1080p screen costs libvpx a few ms
	// however little changed (typing: about 3 pictures a second), and
	// tens of ms when all of it did (a video: one every few seconds).
	DefaultBudget = 0.01
	// burst is the most the recorder may spend ahead of its budget: a
	// key frame, or the first changes after a quiet while, go at once.
	burst = 100 * time.Millisecond
	// DefaultKeyEvery: a key frame at least this often, so a seek in the
	// player decodes at most 150 pictures (5 a second or fewer), a
	// moment for a browser. A key frame of a 1080p screen costs tens of
	// ms, a good part of the budget if it came more often.
	DefaultKeyEvery = 30 * time.Second
	// maxEvents bounds the timeline (a chat flood must not fill memory).
	maxEvents = 20000
	maxText   = 2000
)

// Config configures a Recorder.
type Config struct {
	// Dir holds the files until they are uploaded (created 0700).
	Dir       string
	SessionID string
	Gap       time.Duration
	KeyEvery  time.Duration
	// Budget is the share of a core the recorder may spend on average
	// converting and coding pictures (a token bucket of 100 ms). Default
	// DefaultBudget.
	Budget float64
	Logger *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Files are a finished recording's files.
type Files struct {
	Video    string // the WebM file
	Timeline protocol.RecordingTimeline
}

// Recorder records one session. Its methods are safe for concurrent use.
type Recorder struct {
	cfg   Config
	log   *slog.Logger
	start time.Time
	path  string // the WebM file while it is written (.part)
	f     *os.File

	mu      sync.Mutex
	enc     *vp8.Encoder
	w       *webm.Writer
	width   int
	height  int
	scratch *image.RGBA // a picture of another size, fitted to the recording's
	// changed marks the encoder's macroblocks that changed since the
	// picture loaded last (declined pictures' changes add up here): only
	// those are converted and coded again.
	changed []bool
	cols    int
	fitted  bool          // the picture loaded last was fitted from another size
	blocks  int           // macroblocks converted for the picture loaded last
	busy    bool          // the goroutine is encoding
	idle    *sync.Cond    // busy went false
	pending bool          // a picture was declined: offer one again
	last    time.Time     // when the last picture was taken
	credit  time.Duration // what the budget allows to spend now (may be negative)
	paid    time.Time     // when credit was last brought up to date
	cpu     time.Duration // the encoder's processor time when last read
	frames  int
	spent   time.Duration // on pictures, in all
	lastKey time.Time
	err     error // the first encoding or writing error: video stops, the timeline goes on
	events  []protocol.RecordingEvent
	dropped int // events over maxEvents
	closed  bool
	work    chan time.Time // a loaded picture's time
	done    chan struct{}
}

// Start begins a recording now: timeline offsets and frame times count
// from here.
func Start(cfg Config) (*Recorder, error) {
	if cfg.SessionID == "" || cfg.Dir == "" {
		return nil, errors.New("record: a session id and a directory are required")
	}
	if err := vp8.Available(); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if cfg.Gap <= 0 {
		cfg.Gap = DefaultGap
	}
	if cfg.KeyEvery <= 0 {
		cfg.KeyEvery = DefaultKeyEvery
	}
	if cfg.Budget <= 0 || cfg.Budget > 1 {
		cfg.Budget = DefaultBudget
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	r := &Recorder{cfg: cfg, log: cfg.Logger.With("component", "record"), start: cfg.Now(), credit: burst, paid: cfg.Now(),
		path: fileOf(cfg.Dir, cfg.SessionID, ".webm.part"),
		work: make(chan time.Time, 1), done: make(chan struct{})}
	r.idle = sync.NewCond(&r.mu)
	f, err := os.OpenFile(r.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	r.f = f
	go r.run()
	return r, nil
}

// fileOf is a session's file of kind ext in dir.
func fileOf(dir, sessionID, ext string) string { return filepath.Join(dir, safeName(sessionID)+ext) }

// safeName keeps a session id to characters a file name may hold.
func safeName(id string) string {
	b := []byte(id)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Offer gives the recorder the screen as captured at time at, with the
// parts of it that changed since the last picture offered (changed, in
// img's coordinates; nil: any of it may have). It returns at once: false
// when the picture was declined (busy, too soon, or the recording
// failed). img may be reused as soon as Offer returns.
func (r *Recorder) Offer(img *image.RGBA, changed []image.Rectangle, at time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.err != nil || img == nil || img.Rect.Empty() {
		return false
	}
	r.mark(img, changed)
	if r.busy || !r.ready(at) {
		r.pending = true
		return false
	}
	return r.take(img, at)
}

// Last offers the screen as the session ends, if a picture was declined
// since the last one taken: it waits for the picture being encoded and
// takes this one whatever the gap, so the recording ends as the screen
// did.
func (r *Recorder) Last(img *image.RGBA, at time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.busy {
		r.idle.Wait()
	}
	if !r.pending || r.closed || r.err != nil || img == nil || img.Rect.Empty() {
		return false
	}
	r.mark(img, nil) // a capture of its own: what changed is not known
	return r.take(img, at)
}

// Pending reports whether a picture was declined since the last one taken.
func (r *Recorder) Pending() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending
}

// take loads img for the goroutine; r.mu held, not busy.
func (r *Recorder) take(img *image.RGBA, at time.Time) bool {
	if r.enc == nil {
		if err := r.open(img.Rect.Dx(), img.Rect.Dy()); err != nil {
			r.fail(err)
			return false
		}
	}
	pic := r.fit(img)
	if fitted := pic != img; fitted || r.fitted {
		// Another layout than the picture before: all of it is new.
		r.mark(pic, nil)
		r.fitted = fitted
	}
	n, err := r.enc.LoadBlocks(pic, image.Rect(0, 0, r.width, r.height), r.changed)
	if err != nil {
		r.fail(err)
		return false
	}
	r.blocks = n
	clear(r.changed)
	r.busy, r.pending, r.last = true, false, at
	r.work <- at
	return true
}

// mark adds the changed parts of img to r.changed; r.mu held.
func (r *Recorder) mark(img *image.RGBA, changed []image.Rectangle) {
	if r.changed == nil {
		return // no encoder yet: its first picture is converted whole
	}
	if changed == nil || img.Rect.Dx() != r.width || img.Rect.Dy() != r.height {
		for i := range r.changed {
			r.changed[i] = true
		}
		return
	}
	for _, c := range changed {
		c = c.Sub(img.Rect.Min).Intersect(image.Rect(0, 0, r.width, r.height))
		if c.Empty() {
			continue
		}
		for by := c.Min.Y / 16; by <= (c.Max.Y-1)/16; by++ {
			row := r.changed[by*r.cols:][:r.cols]
			for bx := c.Min.X / 16; bx <= (c.Max.X-1)/16; bx++ {
				row[bx] = true
			}
		}
	}
}

// Due reports whether a picture was declined and the stream loop should
// offer the screen again now, changed or not.
func (r *Recorder) Due(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending && !r.busy && !r.closed && r.err == nil && r.ready(now)
}

// ready reports whether a picture may be taken at now: the gap has
// passed and the budget is not overspent; r.mu held.
func (r *Recorder) ready(now time.Time) bool {
	if r.last.IsZero() {
		return true
	}
	if d := now.Sub(r.paid); d > 0 {
		r.credit = min(burst, r.credit+time.Duration(float64(d)*r.cfg.Budget))
		r.paid = now
	}
	return now.Sub(r.last) >= r.cfg.Gap && r.credit >= 0
}

// open starts the encoder and the file for pictures of w x h; r.mu held.
func (r *Recorder) open(w, h int) error {
	// About 0.1 bit a pixel at 5 frames a second: text stays sharp,
	// and an hour of a 1080p desktop is a few hundred megabytes at most.
	kbps := vp8.ClampBitrate(w * h / 2000)
	enc, err := vp8.NewEncoder(w, h, vp8.Config{Bitrate: kbps, Speed: 16})
	if err != nil {
		return err
	}
	wr, err := webm.NewWriter(r.f, w, h)
	if err != nil {
		enc.Close()
		return err
	}
	cols, rows := enc.Blocks()
	r.enc, r.w, r.width, r.height = enc, wr, w, h
	r.changed, r.cols = make([]bool, cols*rows), cols
	return nil
}

// fit returns img as a picture of the recording's size: the same one
// when it has it, else drawn at the top left of a scratch picture (the
// monitor's mode changed mid-session).
func (r *Recorder) fit(img *image.RGBA) *image.RGBA {
	if img.Rect.Dx() == r.width && img.Rect.Dy() == r.height {
		return img
	}
	if r.scratch == nil {
		r.scratch = image.NewRGBA(image.Rect(0, 0, r.width, r.height))
	}
	clear(r.scratch.Pix)
	for y := 0; y < min(r.height, img.Rect.Dy()); y++ {
		n := min(r.width, img.Rect.Dx()) * 4
		so := img.PixOffset(img.Rect.Min.X, img.Rect.Min.Y+y)
		copy(r.scratch.Pix[y*r.scratch.Stride:], img.Pix[so:so+n])
	}
	return r.scratch
}

func (r *Recorder) fail(err error) {
	if r.err == nil {
		r.err = err
		r.log.Warn("the recording's video stopped; the timeline goes on", "error", err)
	}
}

// run encodes and writes each loaded picture.
func (r *Recorder) run() {
	defer close(r.done)
	for at := range r.work {
		r.mu.Lock()
		key := r.w.Frames() == 0 || at.Sub(r.lastKey) >= r.cfg.KeyEvery
		enc, w := r.enc, r.w
		r.mu.Unlock()
		// The encoder is only touched here and in Offer, which waits
		// for busy to clear.
		fr, err := enc.EncodeLoaded(at.Sub(r.start), key)
		if err == nil && len(fr.Data) > 0 {
			err = w.WriteFrame(at.Sub(r.start), fr.Key, fr.Data)
		}
		r.mu.Lock()
		// Processor time, not the wall clock: a busy endpoint must not
		// make the recording sparser than its budget says.
		cpu := enc.CPU()
		took := cpu - r.cpu
		r.cpu = cpu
		r.frames++
		r.spent += took
		r.credit -= took
		if err != nil {
			r.fail(err)
		} else if fr.Key {
			r.lastKey = at
		}
		r.busy = false
		r.idle.Broadcast()
		r.mu.Unlock()
	}
}

// Event adds a moment to the timeline, at the current time.
func (r *Recorder) Event(kind, actor, text string) {
	if len(text) > maxText {
		text = text[:maxText] + "…"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if len(r.events) >= maxEvents {
		r.dropped++
		return
	}
	r.events = append(r.events, protocol.RecordingEvent{AtMS: r.cfg.Now().Sub(r.start).Milliseconds(),
		Kind: kind, Actor: actor, Text: text})
}

// Finish ends the recording: it waits for the picture being encoded,
// closes the WebM file (its duration runs to now) and returns the files
// to upload. A recording without a single picture (a chat-only session)
// gets one dark frame, so that it still plays and carries its timeline.
// Discard removes them once uploaded.
func (r *Recorder) Finish() (Files, error) {
	end := r.cfg.Now()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return Files{}, errors.New("record: already finished")
	}
	r.closed = true
	close(r.work)
	r.mu.Unlock()
	<-r.done

	r.mu.Lock()
	defer r.mu.Unlock()
	defer func() {
		if r.enc != nil {
			r.enc.Close()
		}
	}()
	if r.dropped > 0 {
		r.events = append(r.events, protocol.RecordingEvent{AtMS: end.Sub(r.start).Milliseconds(),
			Kind: "note", Text: fmt.Sprintf("%d more events were not kept", r.dropped)})
	}
	r.log.Info("recording finished", "frames", r.frames, "coding_ms", r.spent.Milliseconds(),
		"events", len(r.events), "seconds", end.Sub(r.start).Seconds())
	if err := r.closeVideo(end); err != nil {
		r.f.Close()
		os.Remove(r.path)
		return Files{}, fmt.Errorf("record: %w", err)
	}
	video := fileOf(r.cfg.Dir, r.cfg.SessionID, ".webm")
	if err := os.Rename(r.path, video); err != nil {
		return Files{}, fmt.Errorf("record: %w", err)
	}
	tl := protocol.RecordingTimeline{Started: r.start.UTC(), DurationMS: end.Sub(r.start).Milliseconds(),
		Width: r.width, Height: r.height, Events: r.events}
	if tl.Events == nil {
		tl.Events = []protocol.RecordingEvent{}
	}
	b, err := json.Marshal(tl)
	if err != nil {
		return Files{}, fmt.Errorf("record: %w", err)
	}
	if err := os.WriteFile(fileOf(r.cfg.Dir, r.cfg.SessionID, ".json"), b, 0o600); err != nil {
		return Files{}, fmt.Errorf("record: %w", err)
	}
	return Files{Video: video, Timeline: tl}, nil
}

// closeVideo completes the WebM file (a dark frame if it has none) and
// syncs and closes it; r.mu held, the goroutine done.
func (r *Recorder) closeVideo(end time.Time) error {
	if r.w == nil || r.w.Frames() == 0 {
		if err := r.blank(); err != nil {
			return err
		}
	}
	if err := r.w.Close(max(end.Sub(r.start), time.Millisecond)); err != nil {
		return fmt.Errorf("closing the video: %w", err)
	}
	if err := r.f.Sync(); err != nil {
		return err
	}
	return r.f.Close()
}

// blank writes one dark frame at the start, for a recording with no
// picture; r.mu held, the goroutine done.
func (r *Recorder) blank() error {
	if r.w == nil {
		// A new file: whatever a failed encoder left in it goes.
		if err := r.f.Truncate(0); err != nil {
			return err
		}
		if _, err := r.f.Seek(0, 0); err != nil {
			return err
		}
		if r.enc != nil {
			r.enc.Close()
			r.enc = nil
		}
		if err := r.open(640, 360); err != nil {
			return err
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, r.width, r.height))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = 0x1f, 0x29, 0x37, 0xff
	}
	fr, err := r.enc.Encode(img, img.Rect, 0, true)
	if err != nil {
		return err
	}
	return r.w.WriteFrame(0, true, fr.Data)
}

// Discard removes a finished recording's files (after the upload).
func Discard(dir, sessionID string) {
	for _, ext := range []string{".webm", ".json", ".webm.part", ".pending"} {
		os.Remove(fileOf(dir, sessionID, ext))
	}
}
