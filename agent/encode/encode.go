// Package encode turns successive frames of one monitor into screen wire
// messages (shared/screen): dirty tiles found by comparing each frame with
// a copy of the previous one, vertical moves of content (scrolling) sent as
// copies of what the viewer already has, and the remaining changes sent as
// rectangles of neighbouring dirty tiles, each a solid colour, a lossless
// indexed picture (text-like: few colours) or a JPEG (photo-like).
package encode

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherdesk/tether/shared/screen"
)

// Defaults and limits of Config.
const (
	DefaultTileSize    = 64
	DefaultJPEGQuality = 70
	MinTileSize        = 16
	MaxTileSize        = 256
	// MaxPaletteColours is the most colours a tile may have to be sent as
	// a lossless indexed tile (screen.EncIndexed); more go as JPEG.
	// Anti-aliased text has a few dozen; a photo, thousands.
	MaxPaletteColours = 128
	// MaxRunColours is the most colours a rectangle of several text-like
	// tiles may have to go as one indexed tile.
	MaxRunColours = 256
	// DefaultMaxRunTiles: dirty tiles side by side in a row go as one
	// image of up to this many tiles. A browser decodes a few large images
	// much faster than many small ones.
	DefaultMaxRunTiles = 16
)

// Config tunes an Encoder. Zero values take the defaults.
type Config struct {
	// TileSize is the side of a square tile in pixels (default 64, clamped
	// to 16..256). Tiles at the right and bottom edges may be smaller.
	TileSize int
	// JPEGQuality is the quality of photo-like tiles, 1-100 (default 70).
	JPEGQuality int
	// Workers bounds the goroutines encoding tiles of one frame (default
	// GOMAXPROCS).
	Workers int
	// MaxRunTiles bounds how many dirty tiles side by side go as one
	// image (default 16; 1 sends every tile on its own).
	MaxRunTiles int
	// NoMoves turns off the detection of scrolled content.
	NoMoves bool
}

func (c *Config) setDefaults() {
	if c.TileSize <= 0 {
		c.TileSize = DefaultTileSize
	}
	c.TileSize = min(max(c.TileSize, MinTileSize), MaxTileSize)
	c.JPEGQuality = clampQuality(c.JPEGQuality)
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.MaxRunTiles <= 0 {
		c.MaxRunTiles = DefaultMaxRunTiles
	}
}

func clampQuality(q int) int {
	if q <= 0 {
		return DefaultJPEGQuality
	}
	return min(q, 100)
}

// ErrBadFrame is returned for frames the wire format cannot carry.
var ErrBadFrame = errors.New("encode: bad frame")

// Encoder turns successive frames of one monitor into screen wire messages:
// a size message when the dimensions change and before every full frame,
// copy messages for content that moved up or down (scrolling), one message
// per rectangle of changed tiles (indexed for text-like ones with few colours,
// JPEG for photo-like ones, solid for one colour), and a frame end.
// full=true sends every tile (a new viewer, a refresh request). Each
// message is at most screen.MaxMessage bytes. Encode returns no messages at
// all when nothing changed and full is false.
//
// The encoder keeps the picture the viewer has (lossy tiles aside): copies
// are applied to it exactly as the viewer applies them, and whatever still
// differs from the new frame afterwards is sent as tiles.
//
// An Encoder is not safe for concurrent use; it encodes the tiles of one
// frame in parallel itself. In the steady state it allocates only the
// messages it returns.
type Encoder struct {
	cfg     Config
	quality atomic.Int32 // JPEG quality; SetQuality may race with Encode
	half    atomic.Bool  // photo-like parts at half resolution (SetHalf)
	videoOK atomic.Bool  // a video region may be used (SetVideo)
	vid     video
	clock   func() time.Time // tests; nil: time.Now
	limit   int              // largest message, screen.MaxMessage (tests lower it)

	w, h  int
	prev  []byte // previous frame, RGBA, stride w*4
	seq   uint32
	valid bool // prev holds a frame

	cols, rows int
	dirty      []bool // per tile (row-major): differs from prev
	damaged    []bool // per tile (row-major): intersects the damage (EncodeDamaged)
	moves      []screen.Copy
	moveScan   mover
	hints      []hint // Hint's, for the next frame
	covered    []int  // tiles covered whole by a hint's copy
	jobs       []image.Rectangle
	results    [][][]byte
	errs       []error
	workers    []*scratch
}

// New returns an Encoder with cfg's defaults filled in.
func New(cfg Config) *Encoder {
	cfg.setDefaults()
	e := &Encoder{cfg: cfg, limit: screen.MaxMessage}
	e.quality.Store(int32(cfg.JPEGQuality))
	return e
}

// SetQuality changes the JPEG quality (1-100; 0 or less restores the
// default) for the following frames. Safe to call from any goroutine.
func (e *Encoder) SetQuality(q int) { e.quality.Store(int32(clampQuality(q))) }

// SetHalf sends photo-like parts as JPEG at half resolution (less to
// encode, send and decode: full-motion content under load) or not, from
// the next frame on. Text-like parts stay lossless. Safe to call from any
// goroutine.
func (e *Encoder) SetHalf(half bool) { e.half.Store(half) }

// Half reports whether SetHalf is on.
func (e *Encoder) Half() bool { return e.half.Load() }

// Quality is the JPEG quality in use.
func (e *Encoder) Quality() int { return int(e.quality.Load()) }

// Reset forgets the previous frame, so the next Encode sends a size message
// and every tile.
func (e *Encoder) Reset() { e.valid = false }

// Seq is the sequence number of the last frame that produced messages.
func (e *Encoder) Seq() uint32 { return e.seq }

// Encode returns the messages for img (any Rect; its pixels are read, not
// kept). See Encoder.
func (e *Encoder) Encode(img *image.RGBA, full bool) ([][]byte, error) {
	return e.encode(img, full, nil, false)
}

// EncodeDamaged is Encode for a frame of which only the damaged rectangles
// may differ from the previous frame given to this Encoder (by Encode or
// EncodeDamaged): the capture source said so (capture.DamageSource). Only
// the tiles that intersect damaged are compared with the previous frame;
// they are still compared byte for byte, so the messages are exactly
// Encode's as long as the damage covers every change. Rectangles are in
// frame coordinates (0,0 is img.Rect.Min) and may overlap or stick out of
// the frame. No damage and full false gives no messages. After a size
// change or an error, the whole frame is compared (or sent) whatever the
// damage.
func (e *Encoder) EncodeDamaged(img *image.RGBA, full bool, damaged []image.Rectangle) ([][]byte, error) {
	return e.encode(img, full, damaged, true)
}

func (e *Encoder) encode(img *image.RGBA, full bool, damaged []image.Rectangle, useDamage bool) ([][]byte, error) {
	if img == nil {
		return nil, fmt.Errorf("%w: nil image", ErrBadFrame)
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if w <= 0 || h <= 0 || w > 65535 || h > 65535 {
		return nil, fmt.Errorf("%w: %dx%d", ErrBadFrame, w, h)
	}
	if len(img.Pix) < img.PixOffset(img.Rect.Max.X-1, img.Rect.Max.Y-1)+4 {
		return nil, fmt.Errorf("%w: pixel buffer too short for %v", ErrBadFrame, img.Rect)
	}
	resized := !e.valid || w != e.w || h != e.h
	if resized {
		e.resize(w, h)
		full = true
	}
	now := e.now()
	videoChanged := e.updateVideo(now)
	// A full frame always starts with its size: a viewer that joins late
	// learns the dimensions from it (and the video region after it).
	withSize := full
	withVideo := videoChanged || (full && !e.vid.region.Empty())
	videoDamaged := false
	if useDamage && !full {
		e.markDamage(damaged)
		videoDamaged = e.videoDamage()
	} else {
		useDamage = false
	}
	dirty := e.markDirty(img, full, useDamage) + e.markResend()
	dirty = e.videoTiles(img, now, full, dirty, videoDamaged)
	e.moves = e.moves[:0]
	if !full && !e.cfg.NoMoves && dirty > 0 {
		// Tiles a moved window covers are not searched for scrolling;
		// they are marked clean meanwhile and compared again below.
		e.covered = e.addHints(img, e.covered[:0])
		for _, i := range e.covered {
			if e.dirty[i] {
				e.dirty[i] = false
				dirty--
			}
		}
		if dirty >= minMoveTiles {
			e.findMoves(img)
		}
		e.dropVideoMoves()
		if len(e.moves) > 0 {
			e.applyAndRecheck(img)
		}
		for _, i := range e.covered {
			e.dirty[i] = !e.tileEqual(img, i%e.cols, i/e.cols)
		}
		// The rechecks above compare with prev, which the viewer does
		// not have where it drew video.
		e.clearVideoTiles()
		e.markResend()
	}
	e.hints = e.hints[:0]
	e.jobs = e.commit(img, full, e.jobs[:0])
	clear(e.vid.resend)
	e.valid = true
	if len(e.jobs) == 0 && len(e.moves) == 0 && !withVideo {
		return nil, nil
	}

	e.seq++
	if err := e.encodeJobs(); err != nil {
		// The copy in prev already holds this frame; make sure the next
		// call resends everything rather than skipping lost tiles.
		e.valid = false
		return nil, err
	}
	// A frame with copies is a window dragged or content scrolled: its
	// photo-like edges are not video.
	if len(e.moves) == 0 {
		e.noteHeat(now)
	}
	n := 1 + len(e.moves)
	if withSize {
		n++
	}
	if withVideo {
		n++
	}
	for _, r := range e.results {
		n += len(r)
	}
	msgs := make([][]byte, 0, n)
	if withSize {
		msgs = append(msgs, screen.AppendSize(make([]byte, 0, 9), e.seq, uint16(w), uint16(h)))
	}
	if withVideo {
		r := e.vid.region
		msgs = append(msgs, screen.AppendVideo(make([]byte, 0, screen.VideoLen), e.seq, uint16(r.Min.X), uint16(r.Min.Y), uint16(r.Dx()), uint16(r.Dy())))
	}
	for _, m := range e.moves {
		m.Seq = e.seq
		msgs = append(msgs, screen.AppendCopy(make([]byte, 0, screen.CopyLen), m))
	}
	for i, r := range e.results {
		msgs = append(msgs, r...)
		e.results[i] = nil
	}
	msgs = append(msgs, screen.AppendFrameEnd(make([]byte, 0, 5), e.seq))
	return msgs, nil
}

func (e *Encoder) resize(w, h int) {
	e.w, e.h = w, h
	if cap(e.prev) >= w*h*4 {
		e.prev = e.prev[:w*h*4]
	} else {
		e.prev = make([]byte, w*h*4)
	}
	e.cols = (w + e.cfg.TileSize - 1) / e.cfg.TileSize
	e.rows = (h + e.cfg.TileSize - 1) / e.cfg.TileSize
	tiles := e.cols * e.rows
	if cap(e.dirty) >= tiles {
		e.dirty = e.dirty[:tiles]
		e.damaged = e.damaged[:tiles]
	} else {
		e.dirty = make([]bool, tiles)
		e.damaged = make([]bool, tiles)
	}
	e.vid.resize(tiles)
}

// markDamage sets e.damaged for the tiles that intersect rs.
func (e *Encoder) markDamage(rs []image.Rectangle) {
	clear(e.damaged)
	ts, frame := e.cfg.TileSize, image.Rect(0, 0, e.w, e.h)
	for _, r := range rs {
		r = r.Intersect(frame)
		if r.Empty() {
			continue
		}
		tx0, tx1 := r.Min.X/ts, (r.Max.X-1)/ts
		for ty := r.Min.Y / ts; ty <= (r.Max.Y-1)/ts; ty++ {
			row := e.damaged[ty*e.cols:][:e.cols]
			for tx := tx0; tx <= tx1; tx++ {
				row[tx] = true
			}
		}
	}
}

// markDirty sets e.dirty for the tiles of img that differ from prev (all
// of them when full) and returns how many do. With useDamage, only the
// tiles marked in e.damaged are compared; the others count as unchanged.
func (e *Encoder) markDirty(img *image.RGBA, full, useDamage bool) int {
	ts, w, h := e.cfg.TileSize, e.w, e.h
	stride := w * 4
	n := 0
	for ty := 0; ty < e.rows; ty++ {
		by := ty * ts
		bh := min(ts, h-by)
		row := e.dirty[ty*e.cols:][:e.cols]
		for i := range row {
			row[i] = full
		}
		switch {
		case full:
		case useDamage:
			for tx, d := range e.damaged[ty*e.cols:][:e.cols] {
				if d {
					row[tx] = !e.tileEqual(img, tx, ty)
				}
			}
		default:
			remaining := len(row)
			for y := by; y < by+bh && remaining > 0; y++ {
				src := img.Pix[img.PixOffset(img.Rect.Min.X, img.Rect.Min.Y+y):][:stride]
				dst := e.prev[y*stride:][:stride]
				if bytes.Equal(src, dst) {
					continue
				}
				for tx := range row {
					if row[tx] {
						continue
					}
					x0, x1 := tx*ts*4, min((tx+1)*ts, w)*4
					if !bytes.Equal(src[x0:x1], dst[x0:x1]) {
						row[tx] = true
						remaining--
					}
				}
			}
		}
		for _, d := range row {
			if d {
				n++
			}
		}
	}
	return n
}

// tileEqual reports whether tile tx,ty of img equals prev.
func (e *Encoder) tileEqual(img *image.RGBA, tx, ty int) bool {
	ts := e.cfg.TileSize
	x0, x1 := tx*ts*4, min((tx+1)*ts, e.w)*4
	for y := ty * ts; y < min((ty+1)*ts, e.h); y++ {
		src := img.Pix[img.PixOffset(img.Rect.Min.X, img.Rect.Min.Y+y):]
		if !bytes.Equal(src[x0:x1], e.prev[y*e.w*4:][x0:x1]) {
			return false
		}
	}
	return true
}

// commit copies the dirty tiles of img into prev and appends the
// rectangles to send: runs of up to MaxRunTiles dirty tiles side by side.
//
// Unless full, each rectangle shrinks to the pixels that changed in it: a
// typed character is sent as its glyph, not as the tiles around it. Runs
// with a tile to resend (the viewer drew video there) go whole.
func (e *Encoder) commit(img *image.RGBA, full bool, jobs []image.Rectangle) []image.Rectangle {
	ts, w, h := e.cfg.TileSize, e.w, e.h
	stride := w * 4
	for ty := 0; ty < e.rows; ty++ {
		by := ty * ts
		bh := min(ts, h-by)
		row := e.dirty[ty*e.cols:][:e.cols]
		for tx := 0; tx < len(row); {
			if !row[tx] {
				tx++
				continue
			}
			end := tx + 1
			for end < len(row) && row[end] && end-tx < e.cfg.MaxRunTiles {
				end++
			}
			r := image.Rect(tx*ts, by, min(end*ts, w), by+bh)
			whole := full || slices.Contains(e.vid.resend[ty*e.cols+tx:ty*e.cols+end], true)
			tx = end
			if !whole {
				if r = e.changed(img, r); r.Empty() {
					continue
				}
			}
			for y := r.Min.Y; y < r.Max.Y; y++ {
				src := img.Pix[img.PixOffset(img.Rect.Min.X+r.Min.X, img.Rect.Min.Y+y):][:r.Dx()*4]
				copy(e.prev[y*stride+r.Min.X*4:], src)
			}
			jobs = append(jobs, r)
		}
	}
	return jobs
}

// changed returns the bounds of the pixels of r that differ between img
// and prev (empty if none).
func (e *Encoder) changed(img *image.RGBA, r image.Rectangle) image.Rectangle {
	out := image.Rectangle{Min: r.Max, Max: r.Min}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		a := img.Pix[img.PixOffset(img.Rect.Min.X+r.Min.X, img.Rect.Min.Y+y):][:r.Dx()*4]
		b := e.prev[y*e.w*4+r.Min.X*4:][:r.Dx()*4]
		if bytes.Equal(a, b) {
			continue
		}
		first, last := diffSpan(a, b)
		out.Min.X = min(out.Min.X, r.Min.X+first)
		out.Max.X = max(out.Max.X, r.Min.X+last)
		out.Min.Y = min(out.Min.Y, y)
		out.Max.Y = y + 1
	}
	if out.Min.X >= out.Max.X {
		return image.Rectangle{}
	}
	return out
}

// diffSpan returns the first differing pixel of two unequal rows and one
// past the last.
func diffSpan(a, b []byte) (first, last int) {
	i := 0
	for i+8 <= len(a) && binary.LittleEndian.Uint64(a[i:]) == binary.LittleEndian.Uint64(b[i:]) {
		i += 8
	}
	for a[i] == b[i] {
		i++
	}
	j := len(a)
	for j-8 >= 0 && binary.LittleEndian.Uint64(a[j-8:]) == binary.LittleEndian.Uint64(b[j-8:]) {
		j -= 8
	}
	for a[j-1] == b[j-1] {
		j--
	}
	return i / 4, (j + 3) / 4
}

// encodeJobs encodes e.jobs into e.results (same order) on up to
// cfg.Workers goroutines.
func (e *Encoder) encodeJobs() error {
	n := len(e.jobs)
	if cap(e.results) >= n {
		e.results = e.results[:n]
		e.errs = e.errs[:n]
	} else {
		e.results = make([][][]byte, n)
		e.errs = make([]error, n)
	}
	workers := min(e.cfg.Workers, n)
	for len(e.workers) < workers {
		e.workers = append(e.workers, newScratch())
	}
	frame := image.RGBA{Pix: e.prev, Stride: e.w * 4, Rect: image.Rect(0, 0, e.w, e.h)}
	q, half := int(e.quality.Load()), e.half.Load()
	var next atomic.Int64
	run := func(s *scratch) {
		s.half = half
		for {
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			e.results[i], e.errs[i] = s.encodeRun(&frame, e.jobs[i], e.cfg.TileSize, e.seq, q, e.limit, nil)
		}
	}
	if workers == 1 {
		run(e.workers[0])
	} else {
		var wg sync.WaitGroup
		for _, s := range e.workers[:workers] {
			wg.Go(func() { run(s) })
		}
		wg.Wait()
	}
	for i, err := range e.errs {
		e.errs[i] = nil
		if err != nil {
			clear(e.results)
			return fmt.Errorf("encode: tile %v: %w", e.jobs[i], err)
		}
	}
	return nil
}
