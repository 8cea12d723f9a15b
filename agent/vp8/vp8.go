// Package vp8 encodes pictures of the screen as a VP8 video stream (and
// decodes one, for tests and checks) with libvpx, for the parts of the
// screen that move like video: a browser's clip, a 3D view, a dragged
// window full of pictures. The browser decodes the stream with its own
// decoder, far cheaper for both ends than a JPEG per frame.
//
// libvpx is opened at run time (Linux, with cgo); where it is missing,
// Available reports why and the agent keeps to its tile path.
package vp8

import (
	"errors"
	"fmt"
	"image"
)

// ErrUnavailable is returned where VP8 cannot be encoded: no libvpx, or a
// build without cgo, or another system.
var ErrUnavailable = errors.New("vp8: unavailable")

// Config tunes an Encoder. Zero values take the defaults.
type Config struct {
	// Bitrate is the target in kbit/s (default 2500).
	Bitrate int
	// Threads encodes on this many threads (default 1). libvpx's VP8
	// threads wait on each other by spinning: on a busy two-core endpoint
	// a second one burnt more than it saved (make bench-screen).
	Threads int
	// Speed is libvpx's real-time speed, 4 (better pictures) to 16
	// (fastest); default 12.
	Speed int
	// Half encodes pictures at half their width and height (each pixel
	// the mean of four): a quarter of the work for a large moving area,
	// which the viewer scales up.
	Half bool
}

func (c *Config) scale() int {
	if c.Half {
		return 2
	}
	return 1
}

// Defaults and bounds of Config.
const (
	DefaultBitrate = 2500
	MinBitrate     = 150
	MaxBitrate     = 20000
	DefaultThreads = 1
	DefaultSpeed   = 12
)

func (c *Config) setDefaults() {
	if c.Bitrate <= 0 {
		c.Bitrate = DefaultBitrate
	}
	c.Bitrate = ClampBitrate(c.Bitrate)
	if c.Threads <= 0 {
		c.Threads = DefaultThreads
	}
	if c.Speed == 0 {
		c.Speed = DefaultSpeed
	}
	c.Speed = min(max(c.Speed, 4), 16)
}

// ClampBitrate bounds kbps to MinBitrate..MaxBitrate.
func ClampBitrate(kbps int) int { return min(max(kbps, MinBitrate), MaxBitrate) }

// Frame is one encoded picture.
type Frame struct {
	Data []byte // a VP8 frame, as an RTP payloader takes it; owned by the caller
	Key  bool   // a key frame: decodable on its own
}

func checkSize(w, h int) error {
	if w <= 0 || h <= 0 || w > 16383 || h > 16383 {
		return fmt.Errorf("vp8: picture of %dx%d", w, h)
	}
	return nil
}

// sub returns the part r of img, or an error if r is not inside it.
func sub(img *image.RGBA, r image.Rectangle) (*image.RGBA, error) {
	if img == nil || r.Empty() || !r.In(img.Rect) {
		return nil, fmt.Errorf("vp8: %v is not inside the picture", r)
	}
	return img.SubImage(r).(*image.RGBA), nil
}
