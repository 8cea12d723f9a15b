package session

import (
	"encoding/binary"
	"image"
	"log/slog"
	"math"
	"time"

	"github.com/tetherdesk/tether/agent/capture"
	"github.com/tetherdesk/tether/shared/protocol"
	"github.com/tetherdesk/tether/shared/screen"
)

// group is the viewers watching one monitor in one frame.
type group struct {
	viewers []*viewer
	full    bool
}

// streamLoop captures and encodes each monitor in use once per frame and
// sends the same messages to every viewer of it. The frame source is made
// only when a viewer is connected, so nothing is ever captured before the
// session was accepted and a viewer asked for it.
func (s *Session) streamLoop() {
	tick := time.NewTicker(s.cfg.FrameInterval)
	defer tick.Stop()
	var (
		src      FrameSource
		changed  <-chan struct{} // src's change notifications, if it has them
		encoders = map[int]FrameEncoder{}
		videos   = map[int]*videoStream{} // per monitor, while it has a video region
		frames   = map[int]uint64{}       // per monitor: frames sent so far
		govs     = map[int]*governor{}
		st       = streamStats{since: time.Now()}
		failures int
		last     time.Time    // when the last frame was captured
		active   = time.Now() // when a frame was sent or the pointer moved
		slow     bool         // the tick is at idleInterval
	)
	defer st.report(s.log, true)
	defer func() {
		for _, vs := range videos {
			vs.enc.Close()
		}
	}()
	defer func() {
		if src != nil {
			if err := src.Close(); err != nil {
				s.log.Debug("closing the frame source", "error", err)
			}
		}
	}()
	// The recording ends as the screen did, even if its last change came
	// too soon after the one before.
	defer func() {
		if r := s.rec.Load(); r != nil && src != nil && r.Pending() {
			if img, err := src.Capture(s.recordedMonitor()); err == nil {
				r.Last(img, time.Now())
			}
		}
	}()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
			st.report(s.log, false)
		case <-s.kick:
		case <-changed:
		}
		// Where the source announces changes, the tick is there for the
		// pointer (and changes it missed): slower once nothing has moved
		// for a while, so an idle session costs next to nothing.
		if changed != nil {
			if quiet := time.Since(active) > idleAfter; quiet != slow {
				slow = quiet
				if slow {
					tick.Reset(idleInterval)
				} else {
					tick.Reset(s.cfg.FrameInterval)
				}
			}
		}
		if !s.anyViewerOpen() {
			continue
		}
		// Pace: a burst of changes makes one frame per MinFrameGap, not
		// one per change; what changed meanwhile is in the next frame.
		// The first change after a pause goes at once: waiting for
		// company saved few frames while typing (16 against 14 a second)
		// and cost 10 ms a key (make bench-screen, 2026-12-04).
		if wait := time.Until(last.Add(s.cfg.MinFrameGap)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-s.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if src == nil {
			var err error
			if src, err = s.cfg.NewSource(); err != nil {
				src = nil
				failures++
				if failures == 1 || failures%100 == 0 {
					s.log.Error("cannot capture the screen", "error", err, "attempts", failures)
				}
				continue
			}
			if m, ok := src.(interface{ Method() capture.Method }); ok {
				s.log.Info("capturing the screen", "method", string(m.Method()))
				s.mu.Lock()
				s.captureMethod = string(m.Method())
				s.mu.Unlock()
			}
			if n, ok := src.(capture.ChangeNotifier); ok {
				changed = n.Changed()
			}
			if err := s.refreshMonitors(src); err != nil {
				s.log.Warn("listing monitors", "error", err)
			}
		}
		s.sendMonitors(src)
		groups, stalled := s.frameGroups(frames)
		now := time.Now()
		// A monitor nobody watches any more frees its video encoder; a new
		// viewer's full frame starts another.
		for mon, vs := range videos {
			if groups[mon] == nil && !stalled[mon] {
				vs.enc.Close()
				delete(videos, mon)
			}
		}
		for mon, g := range govs {
			if groups[mon] == nil {
				g.observe(now, false, stalled[mon])
			}
		}
		ds, hasDamage := src.(DamageSource)
		for mon, g := range groups {
			// Ask for damage right before capturing: an idle screen then
			// costs neither a capture nor an encode.
			var damaged []image.Rectangle
			anyChange := true
			if hasDamage {
				// A video region that went quiet ends with a frame of its
				// own, changes or not.
				// So does a recording that declined the last change.
				if damaged, anyChange = ds.Damaged(mon); !anyChange && !g.full && !videoDue(encoders[mon]) && !s.recordDue(mon, now) {
					if s.sendCursor(src, mon, g.viewers) {
						active = time.Now()
					}
					continue
				}
			}
			// Windows moved before the capture: the frame shows them moved.
			var moved []capture.Move
			if ms, ok := src.(capture.MoveSource); ok {
				moved = ms.Moved(mon)
			}
			last = time.Now()
			img, err := src.Capture(mon)
			captured := time.Now()
			if err != nil {
				failures++
				if failures == 1 || failures%100 == 0 {
					s.log.Warn("capturing the screen", "monitor", mon, "error", err, "failures", failures)
				}
				s.retryFull(g.viewers, g.full)
				continue
			}
			enc := encoders[mon]
			if enc == nil {
				enc = s.cfg.NewEncoder()
				encoders[mon] = enc
				govs[mon] = newGovernor(now)
			}
			q, _ := govs[mon].observe(now, true, stalled[mon])
			s.setQuality(enc, q)
			if ve, ok := enc.(VideoEncoder); ok {
				ve.SetVideo(s.videoAllowed(g))
			}
			if he, ok := enc.(interface {
				Hint(from image.Rectangle, to image.Point)
			}); ok {
				for _, m := range moved {
					he.Hint(m.From, m.To)
				}
			}
			var msgs [][]byte
			if de, ok := enc.(DamageEncoder); ok && hasDamage {
				msgs, err = de.EncodeDamaged(img, g.full, damaged)
			} else {
				msgs, err = enc.Encode(img, g.full)
			}
			if err != nil {
				s.log.Warn("encoding a frame", "monitor", mon, "error", err)
				s.retryFull(g.viewers, true)
				continue
			}
			if len(msgs) > 0 {
				active = time.Now()
				frames[mon]++
				st.add(msgs, captured.Sub(last), time.Since(captured), q.q)
			}
			for _, v := range g.viewers {
				if !v.sendFrame(msgs, mon, frames[mon]) {
					s.retryFull([]*viewer{v}, true)
				}
			}
			if videos[mon] = s.sendVideo(videos[mon], enc, img, g, time.Now()); videos[mon] != nil {
				active = time.Now()
			} else {
				delete(videos, mon)
			}
			// The recording after the viewers: it costs them no time. A
			// polled screen that did not change is not offered.
			if len(msgs) > 0 || videos[mon] != nil || s.recordDue(mon, now) {
				// It converts and codes again only what changed: the
				// damage, or all of it where the source tells none.
				recChanged := damaged
				if !hasDamage {
					recChanged = nil
				} else if !anyChange {
					recChanged = []image.Rectangle{}
				}
				s.recordFrame(mon, img, recChanged, captured)
			}
			s.sendCursor(src, mon, g.viewers)
		}
	}
}

// videoDue reports whether enc's video region should end now.
func videoDue(enc FrameEncoder) bool {
	ve, ok := enc.(VideoEncoder)
	return ok && ve.VideoDue()
}

func (s *Session) anyViewerOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.viewers {
		if v.screenOpen || v.controlOpen {
			return true
		}
	}
	return false
}

func (s *Session) refreshMonitors(src FrameSource) error {
	mons, err := src.Monitors()
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.monitors = mons
	for _, v := range s.viewers {
		v.needMons = true
	}
	s.mu.Unlock()
	return nil
}

// sendMonitors sends the monitor list to viewers who need it.
func (s *Session) sendMonitors(src FrameSource) {
	s.mu.Lock()
	var vs []*viewer
	for _, v := range s.viewers {
		if v.needMons && v.controlOpen {
			v.needMons = false
			vs = append(vs, v)
		}
	}
	s.mu.Unlock()
	if len(vs) == 0 {
		return
	}
	if err := s.refreshMonitors(src); err != nil {
		s.log.Warn("listing monitors", "error", err)
	}
	s.mu.Lock()
	mons, method := s.monitors, s.captureMethod
	prim := primary(mons)
	idx := make([]int, len(vs))
	for i, v := range vs {
		v.needMons = false
		if v.monitor < 0 || v.monitor >= len(mons) {
			v.monitor = prim
		}
		idx[i] = v.monitor
	}
	s.mu.Unlock()
	for i, v := range vs {
		v.sendControl(protocol.ControlMsg{T: protocol.ControlMonitors, Monitors: mons, Index: idx[i], Capture: method})
	}
}

func primary(mons []protocol.Monitor) int {
	for i, m := range mons {
		if m.Primary {
			return i
		}
	}
	return 0
}

// frameGroups groups the viewers ready for a frame by monitor. A viewer
// whose screen channel is backed up skips this frame, so that a slow viewer
// never holds up the others. frames counts the frames sent per monitor: a
// viewer that missed one (another viewer of its monitor took it) gets a
// full frame once it has drained; one that missed none just gets the
// changes, however long it waited.
//
// stalled marks the monitors with a viewer held back that way.
func (s *Session) frameGroups(frames map[int]uint64) (groups map[int]*group, stalled map[int]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prim := primary(s.monitors)
	groups, stalled = map[int]*group{}, map[int]bool{}
	for _, v := range s.viewers {
		if !v.screenOpen {
			continue
		}
		if v.screen.BufferedAmount() > s.cfg.MaxBuffered || (v.acking && len(v.inFlight) >= v.window(s.cfg.MaxInFlight)) {
			stalled[v.monitor] = true
			continue
		}
		if v.monitor < 0 || (s.monitors != nil && v.monitor >= len(s.monitors)) {
			v.monitor = prim
		}
		if v.sentMon != v.monitor || v.sentFrame != frames[v.monitor] {
			v.needFull = true
		}
		g := groups[v.monitor]
		if g == nil {
			g = &group{}
			groups[v.monitor] = g
		}
		g.viewers = append(g.viewers, v)
		if v.needFull {
			g.full = true
			v.needFull = false
		}
	}
	return groups, stalled
}

// setQuality gives enc the adaptive quality q, or the JPEG quality a
// viewer chose (at full resolution).
func (s *Session) setQuality(enc FrameEncoder, q imageQuality) {
	qe, ok := enc.(interface {
		SetQuality(int)
		Quality() int
		SetHalf(bool)
		Half() bool
	})
	if !ok {
		return
	}
	s.mu.Lock()
	if s.quality > 0 {
		q = imageQuality{q: s.quality}
	}
	s.mu.Unlock()
	if qe.Quality() != q.q || qe.Half() != q.half {
		qe.SetQuality(q.q)
		qe.SetHalf(q.half)
		s.log.Debug("image quality", "quality", q.q, "half_resolution", q.half)
	}
}

func (s *Session) retryFull(vs []*viewer, full bool) {
	if !full {
		return
	}
	s.mu.Lock()
	for _, v := range vs {
		v.needFull = true
	}
	s.mu.Unlock()
}

// sendFrame sends every message of frame number frame of monitor mon;
// false if the channel failed.
func (v *viewer) sendFrame(msgs [][]byte, mon int, frame uint64) bool {
	v.s.mu.Lock()
	v.sentMon, v.sentFrame = mon, frame
	v.s.mu.Unlock()
	for _, m := range bundle(msgs) {
		if err := v.screen.Send(m); err != nil {
			v.s.log.Debug("screen message not sent", "viewer_id", v.id, "error", err)
			return false
		}
	}
	if n := len(msgs); n > 0 {
		if end := msgs[n-1]; len(end) == 5 && end[0] == screen.KindFrameEnd {
			v.s.mu.Lock()
			v.inFlight = append(v.inFlight, binary.BigEndian.Uint32(end[1:]))
			if len(v.inFlight) > 64 { // a viewer that stopped acking
				v.inFlight = v.inFlight[len(v.inFlight)-64:]
			}
			v.s.mu.Unlock()
		}
	}
	return true
}

// sendCursor tells viewers where the pointer is, when the source knows.
// It reports whether the pointer moved for any of them.
func (s *Session) sendCursor(src FrameSource, mon int, vs []*viewer) (moved bool) {
	cs, ok := src.(CursorSource)
	if !ok {
		return false
	}
	x, y, on := cs.Cursor(mon)
	if !on {
		return false
	}
	for _, v := range vs {
		s.mu.Lock()
		changed := !v.cursorOK || v.cursorX != x || v.cursorY != y
		v.cursorX, v.cursorY, v.cursorOK = x, y, true
		s.mu.Unlock()
		if changed {
			v.sendControl(protocol.ControlMsg{T: protocol.ControlCursor, X: x, Y: y})
		}
		moved = moved || changed
	}
	return moved
}

// An idle session (no frame, no pointer move for idleAfter) looks for the
// pointer every idleInterval instead of every FrameInterval.
const (
	idleAfter    = 2 * time.Second
	idleInterval = 100 * time.Millisecond
)

// streamStats sums up the frames sent, for a log line every statsPeriod
// while the screen changes.
type streamStats struct {
	since               time.Time
	frames, msgs, bytes int
	copies, tiles       int
	capture, encode     time.Duration
	quality             int
}

const statsPeriod = 10 * time.Second

func (st *streamStats) add(msgs [][]byte, capture, encode time.Duration, quality int) {
	st.frames++
	st.msgs += len(msgs)
	for _, m := range msgs {
		st.bytes += len(m)
		switch m[0] {
		case screen.KindCopy:
			st.copies++
		case screen.KindTile:
			st.tiles++
		}
	}
	st.capture += capture
	st.encode += encode
	st.quality = quality
}

// report logs the figures and starts over, once statsPeriod has passed or
// when final (the stream ends).
func (st *streamStats) report(log *slog.Logger, final bool) {
	now := time.Now()
	if !final && now.Sub(st.since) < statsPeriod {
		return
	}
	if st.frames > 0 {
		sec := now.Sub(st.since).Seconds()
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(st.frames) }
		log.Info("screen frames sent",
			"seconds", round2(sec), "frames", st.frames, "fps", round2(float64(st.frames)/sec),
			"kib_per_s", round2(float64(st.bytes)/1024/sec), "copies", st.copies, "tiles", st.tiles,
			"capture_ms", round2(ms(st.capture)), "encode_ms", round2(ms(st.encode)), "quality", st.quality)
	}
	*st = streamStats{since: now}
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// calmInFlight is the frames a viewer that keeps up may have unacked: it
// acks lazily, every 6 frames or once a second, so typing costs no packet
// back per frame. Once it says it is busy, MaxInFlight holds.
const calmInFlight = 12

// window is how many frames v may have in flight, given the limit for a
// busy viewer (session mu held).
func (v *viewer) window(strict int) int {
	if v.busy {
		return strict
	}
	return max(strict, calmInFlight)
}

// bundleLimit: messages of a frame are bundled up to this size; larger
// ones go on their own (the channel splits them anyway).
const bundleLimit = 32 << 10

// bundle packs runs of small messages of one frame into bundle messages,
// so that a small frame (a typed character and its frame end) is one
// message: fewer packets each way.
func bundle(msgs [][]byte) [][]byte {
	if len(msgs) < 2 {
		return msgs
	}
	var out, run [][]byte
	size := 0
	flush := func() {
		switch len(run) {
		case 0:
		case 1:
			out = append(out, run[0])
		default:
			seq := binary.BigEndian.Uint32(run[0][1:5])
			b := make([]byte, 0, 5+size+4*len(run))
			out = append(out, screen.AppendBundle(b, seq, run))
		}
		run, size = run[:0:0], 0
	}
	for _, m := range msgs {
		if len(m) > bundleLimit {
			flush()
			out = append(out, m)
			continue
		}
		if size+len(m)+4 > bundleLimit {
			flush()
		}
		run = append(run, m)
		size += len(m) + 4
	}
	flush()
	return out
}
