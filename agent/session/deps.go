package session

import (
	"image"

	"github.com/tetherdesk/tether/shared/protocol"
)

// FrameSource grabs the screen; agent/capture.Source satisfies it. It is
// used from one goroutine only.
type FrameSource interface {
	Monitors() ([]protocol.Monitor, error)
	Capture(monitor int) (*image.RGBA, error)
	Close() error
}

// CursorSource is optionally implemented by a FrameSource that knows the
// pointer position (monitor pixels of the given monitor). ok is false when
// the pointer is on another monitor or unknown.
type CursorSource interface {
	Cursor(monitor int) (x, y int, ok bool)
}

// DamageSource is optionally implemented by a FrameSource that knows what
// changed since its last Capture of a monitor (X11 damage events). any is
// false when nothing did: the frame is neither captured nor encoded.
type DamageSource interface {
	Damaged(monitor int) (rects []image.Rectangle, any bool)
}

// DamageEncoder is optionally implemented by a FrameEncoder that compares
// only the tiles touching the damaged rectangles.
type DamageEncoder interface {
	EncodeDamaged(img *image.RGBA, full bool, damaged []image.Rectangle) ([][]byte, error)
}

// FrameEncoder turns successive frames of one monitor into screen wire
// messages; *agent/encode.Encoder satisfies it.
type FrameEncoder interface {
	Encode(img *image.RGBA, full bool) ([][]byte, error)
}

// Injector injects input; agent/input.Injector satisfies it.
type Injector interface {
	Apply(ev protocol.InputEvent, mon protocol.Monitor) error
	Close() error
}
