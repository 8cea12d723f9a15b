package encode

import (
	"encoding/binary"
	"image"
	"time"

	"github.com/tetherdesk/tether/shared/screen"
)

// Video regions. Tiles that keep changing like video (photo-like content,
// sent as JPEG, frame after frame) are better sent as a video stream: the
// encoder finds the largest such area and, while video is allowed
// (SetVideo), stops sending its tiles and says so with a video message
// (screen.KindVideo); the session sends that rectangle on its video track.
// Once nothing changed in it for videoQuiet, or video is no longer allowed,
// its tiles are sent again in full, losslessly where they are text-like.
const (
	// videoBurst photo-like updates of a tile, each within videoGap of the
	// one before, make it a video tile. Typing and scrolling are not
	// photo-like; a picture that loads once is not repeated.
	videoBurst = 4
	videoGap   = 300 * time.Millisecond
	// videoQuiet without a change in the region ends it.
	videoQuiet = time.Second
	// MinVideoTiles is the least area (in tiles) worth a video stream: a
	// spinner or a blinking icon stays on the tile path.
	MinVideoTiles = 6
)

// heat is one tile's recent photo-like updates.
type heat struct {
	run  uint8     // updates in a row, each within videoGap of the last
	last time.Time // the last one
}

// video is the encoder's video state.
type video struct {
	region  image.Rectangle // tile-aligned, frame coordinates; empty: none
	changed time.Time       // the last change inside region
	moved   bool            // something inside region changed in this frame
	heat    []heat          // per tile
	resend  []bool          // per tile: send whole (the viewer drew video there)
	seen    []bool          // scratch: tiles visited by component
	stack   []int           // scratch
}

// SetVideo allows a video region (every viewer has a video track) or not,
// from the next frame on. Safe to call from any goroutine.
func (e *Encoder) SetVideo(on bool) { e.videoOK.Store(on) }

// Video returns the video region in frame coordinates (empty: none) as of
// the last Encode, and whether its content changed in that frame.
func (e *Encoder) Video() (r image.Rectangle, changed bool) { return e.vid.region, e.vid.moved }

// VideoDue reports whether the video region should end at the next frame
// (no change in it for videoQuiet, or video no longer allowed) even if
// nothing else changed: the caller encodes a frame then, so that a paused
// video turns into sharp tiles.
func (e *Encoder) VideoDue() bool {
	v := &e.vid
	return !v.region.Empty() && (!e.videoOK.Load() || e.now().Sub(v.changed) > videoQuiet)
}

func (e *Encoder) now() time.Time {
	if e.clock != nil {
		return e.clock()
	}
	return time.Now()
}

func (v *video) resize(tiles int) {
	v.region = image.Rectangle{}
	v.heat = make([]heat, tiles)
	v.resend = make([]bool, tiles)
	v.seen = make([]bool, tiles)
}

// eachTile calls f with the index of each tile r touches.
func (e *Encoder) eachTile(r image.Rectangle, f func(i int)) {
	ts := e.cfg.TileSize
	for ty := r.Min.Y / ts; ty*ts < r.Max.Y; ty++ {
		for tx := r.Min.X / ts; tx*ts < r.Max.X; tx++ {
			f(ty*e.cols + tx)
		}
	}
}

// updateVideo decides the region for this frame from the updates of the
// frames before. It reports whether the region changed (a video message
// goes out). When a region ends, its tiles are marked to be sent whole.
func (e *Encoder) updateVideo(now time.Time) bool {
	v := &e.vid
	ok := e.videoOK.Load()
	if !v.region.Empty() {
		if !ok || now.Sub(v.changed) > videoQuiet {
			e.eachTile(v.region, func(i int) { v.resend[i] = true; v.heat[i] = heat{} })
			v.region = image.Rectangle{}
			return true
		}
		// Video next to the region (a window playing it moved or grew)
		// joins it.
		if r := e.hottest(now); !r.Empty() && !r.In(v.region) && r.Overlaps(v.region.Inset(-e.cfg.TileSize)) {
			v.region = v.region.Union(r)
			return true
		}
		return false
	}
	if !ok {
		return false
	}
	if r := e.hottest(now); !r.Empty() {
		v.region, v.changed = r, now
		return true
	}
	return false
}

// hottest returns the bounds (tile-aligned, clipped to the frame) of the
// largest group of neighbouring video tiles, if it has at least
// MinVideoTiles; a gap of one tile still joins two of them (a video's
// dark band does not split it).
func (e *Encoder) hottest(now time.Time) image.Rectangle {
	v := &e.vid
	hot := func(i int) bool {
		h := v.heat[i]
		return h.run >= videoBurst && now.Sub(h.last) <= videoGap
	}
	clear(v.seen)
	var best image.Rectangle
	bestN := 0
	for i := range v.heat {
		if v.seen[i] || !hot(i) {
			continue
		}
		n := 0
		box := image.Rectangle{Min: image.Pt(e.cols, e.rows)}
		v.stack = append(v.stack[:0], i)
		v.seen[i] = true
		for len(v.stack) > 0 {
			j := v.stack[len(v.stack)-1]
			v.stack = v.stack[:len(v.stack)-1]
			n++
			tx, ty := j%e.cols, j/e.cols
			box.Min.X, box.Min.Y = min(box.Min.X, tx), min(box.Min.Y, ty)
			box.Max.X, box.Max.Y = max(box.Max.X, tx+1), max(box.Max.Y, ty+1)
			for dy := -2; dy <= 2; dy++ {
				for dx := -2; dx <= 2; dx++ {
					x, y := tx+dx, ty+dy
					if x < 0 || y < 0 || x >= e.cols || y >= e.rows {
						continue
					}
					if k := y*e.cols + x; !v.seen[k] && hot(k) {
						v.seen[k] = true
						v.stack = append(v.stack, k)
					}
				}
			}
		}
		if n > bestN {
			best, bestN = box, n
		}
	}
	if bestN < MinVideoTiles {
		return image.Rectangle{}
	}
	ts := e.cfg.TileSize
	return image.Rect(best.Min.X*ts, best.Min.Y*ts, best.Max.X*ts, best.Max.Y*ts).Intersect(image.Rect(0, 0, e.w, e.h))
}

// videoDamage takes the region's tiles out of the damage (EncodeDamaged):
// the damage alone says whether the video changed, and its tiles are
// neither compared nor sent. It reports whether any of them was damaged.
func (e *Encoder) videoDamage() bool {
	hit := false
	if !e.vid.region.Empty() {
		e.eachTile(e.vid.region, func(i int) {
			hit = hit || e.damaged[i]
			e.damaged[i] = false
		})
	}
	return hit
}

// videoTiles takes the region's tiles out of this frame's dirty set
// (unless full: a full frame sends everything) and notes whether the video
// changed: damaged (videoDamage said so) or a tile of it differs from the
// last frame. Those tiles are kept in prev, so that a still video is seen
// still. It returns how many dirty tiles are left.
func (e *Encoder) videoTiles(img *image.RGBA, now time.Time, full bool, dirty int, damaged bool) int {
	v := &e.vid
	v.moved = damaged
	if v.region.Empty() {
		return dirty
	}
	ts := e.cfg.TileSize
	e.eachTile(v.region, func(i int) {
		if !e.dirty[i] {
			return
		}
		v.moved = true
		if full {
			return
		}
		e.dirty[i] = false
		dirty--
		tx, ty := i%e.cols, i/e.cols
		x0, x1 := tx*ts, min((tx+1)*ts, e.w)
		for y := ty * ts; y < min((ty+1)*ts, e.h); y++ {
			copy(e.prev[y*e.w*4+x0*4:][:(x1-x0)*4], img.Pix[img.PixOffset(img.Rect.Min.X+x0, img.Rect.Min.Y+y):])
		}
	})
	if v.moved {
		v.changed = now
	}
	return dirty
}

// markResend marks dirty the tiles of an ended region (the viewer drew
// video there) and returns how many were not already.
func (e *Encoder) markResend() int {
	n := 0
	for i, r := range e.vid.resend {
		if r && !e.dirty[i] {
			e.dirty[i] = true
			n++
		}
	}
	return n
}

// clearVideoTiles takes the region's tiles out of the dirty set again.
func (e *Encoder) clearVideoTiles() {
	if !e.vid.region.Empty() {
		e.eachTile(e.vid.region, func(i int) { e.dirty[i] = false })
	}
}

// dropVideoMoves removes copies that read or write the region: the viewer
// has video there, not the pixels the encoder keeps.
func (e *Encoder) dropVideoMoves() {
	r := e.vid.region
	if r.Empty() {
		return
	}
	out := e.moves[:0]
	for _, m := range e.moves {
		src := image.Rect(int(m.SX), int(m.SY), int(m.SX)+int(m.W), int(m.SY)+int(m.H))
		dst := image.Rect(int(m.DX), int(m.DY), int(m.DX)+int(m.W), int(m.DY)+int(m.H))
		if !src.Overlaps(r) && !dst.Overlaps(r) {
			out = append(out, m)
		}
	}
	e.moves = out
}

// noteHeat counts the photo-like tiles of this frame's messages.
func (e *Encoder) noteHeat(now time.Time) {
	v := &e.vid
	ts := e.cfg.TileSize
	for _, msgs := range e.results {
		for _, m := range msgs {
			if len(m) < screen.TileHeaderLen || m[0] != screen.KindTile {
				continue
			}
			if enc := m[13]; enc != screen.EncJPEG && enc != screen.EncJPEGHalf {
				continue
			}
			x, y := int(binary.BigEndian.Uint16(m[5:])), int(binary.BigEndian.Uint16(m[7:]))
			w, h := int(binary.BigEndian.Uint16(m[9:])), int(binary.BigEndian.Uint16(m[11:]))
			// Tiles the JPEG covers mostly: a sliver of a neighbour does
			// not make it video.
			for ty := (y + ts/2) / ts; ty*ts+ts/2 <= y+h && ty < e.rows; ty++ {
				for tx := (x + ts/2) / ts; tx*ts+ts/2 <= x+w && tx < e.cols; tx++ {
					hp := &v.heat[ty*e.cols+tx]
					if now.Sub(hp.last) > videoGap {
						hp.run = 0
					}
					if hp.run < 255 {
						hp.run++
					}
					hp.last = now
				}
			}
		}
	}
}
