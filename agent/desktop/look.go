package desktop

import (
	"image"
	"time"
)

// ChatWindowTitle is the end user's chat window's title.
const ChatWindowTitle = "Tether chat"

// SendFileDialogTitle is the title of the file picker behind "Send file…".
const SendFileDialogTitle = "Tether: send a file"

// Guidance overlay look, the same on every platform.
const (
	// OverlayRGB is the colour of the technician's pointer ring and marks.
	OverlayRGB = 0xff8000
	markLife   = 5 * time.Second // a mark fades after this
	markPen    = 4               // pixels
	maxMarks   = 16
	ringOuter  = 11
	ringInner  = 7
)

// ringSpans is the pointer ring's rows as one-pixel-high rectangles in a
// 2*outer square: the pixels whose centres lie within outer of the
// middle and not within inner.
func ringSpans(outer, inner int) []image.Rectangle {
	var out []image.Rectangle
	in := func(x, y, r int) bool { return x*x+y*y <= r*r }
	for y := -outer; y < outer; y++ {
		start := -1
		for x := -outer; x <= outer; x++ {
			px, py := 2*x+1, 2*y+1 // pixel centre, doubled
			on := x < outer && in(px, py, 2*outer) && !in(px, py, 2*inner)
			switch {
			case on && start < 0:
				start = x
			case !on && start >= 0:
				out = append(out, image.Rect(start+outer, y+outer, x+outer, y+outer+1))
				start = -1
			}
		}
	}
	return out
}
